"""Probe servers and clients for the end-to-end tests (run inside namespaces).

    probe.py serve NAME PROTO:PORT...     answer every TCP connection and UDP
                                          datagram with "NAME PEER-ADDRESS"
    probe.py ask PROTO:ADDRESS:PORT...    one line per target: the answer, or
                                          "no answer"

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
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
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
    proto, address, port = target.rsplit(":", 2)
    try:
        if proto == "tcp":
            with socket.create_connection((address, int(port)), timeout=TIMEOUT) as s:
                s.settimeout(TIMEOUT)
                return s.recv(200).decode().strip() or "no answer"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
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
