"""Probe servers and clients for the end-to-end tests (run inside namespaces).

    probe.py serve NAME PROTO:PORT...     answer every TCP connection and UDP
                                          datagram with "NAME PEER-ADDRESS", in
                                          IPv4 and (where the kernel has it) IPv6
    probe.py ask PROTO:ADDRESS:PORT...    one line per target: the answer, or
                                          "no answer"; an IPv6 ADDRESS in brackets;
                                          PROTO:ADDRESS:PORT@SOURCE sends from SOURCE

Only the standard library, so it runs with any python3 inside `ip netns exec`.
"""

import socket
import sys
import threading

TIMEOUT = 1.0


def serve(name, specs):
    socks = []
    for spec in specs:
        proto, port = spec.split(":")
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        for family, anywhere in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                s = socket.socket(family, kind)
            except OSError:  # no IPv6 in this kernel
                continue
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv4 has its own socket
            s.bind((anywhere, int(port)))
            if proto == "tcp":
                s.listen(64)
            socks.append((proto, s))

    def tcp(s):
        while True:
            conn, peer = s.accept()
            try:
                conn.sendall(f"{name} {peer[0]}\n".encode())
            finally:
                conn.close()

    def udp(s):
        while True:
            data, peer = s.recvfrom(2048)
            s.sendto(f"{name} {peer[0]}\n".encode(), peer)

    threads = [threading.Thread(target=tcp if p == "tcp" else udp, args=(s,), daemon=True) for p, s in socks]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


def ask(target):
    target, _, source = target.partition("@")
    proto, rest = target.split(":", 1)
    address, port = rest.rsplit(":", 1)
    address = address.strip("[]")
    try:
        if proto == "tcp":
            with socket.create_connection((address, int(port)), timeout=TIMEOUT,
                                          source_address=(source, 0) if source else None) as s:
                s.settimeout(TIMEOUT)
                return s.recv(200).decode().strip() or "no answer"
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            if source:
                s.bind((source, 0))
            s.sendto(b"?", (address, int(port)))
            return s.recv(200).decode().strip() or "no answer"
    except OSError:
        return "no answer"


def main():
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    else:
        results = [None] * len(sys.argv[2:])

        def one(i, t):
            results[i] = ask(t)
        threads = [threading.Thread(target=one, args=(i, t)) for i, t in enumerate(sys.argv[2:])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for target, result in zip(sys.argv[2:], results):
            print(f"{target} {result}")


if __name__ == "__main__":
    main()
