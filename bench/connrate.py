"""Connection rate between two namespaces: a server that accepts and closes, a
client that connects as fast as it can (the standard library only, so it runs
with any python3 inside `ip netns exec`).

    connrate.py serve PORT [6]             accept and close every connection (6: on
                                           IPv6's [::], else on IPv4's 0.0.0.0)
    connrate.py client ADDRESS PORT SECS   connect (in ADDRESS's family), wait for the server's FIN,
                                           reset (no TIME_WAIT), again, for SECS
                                           seconds; prints "RATE CONNECTIONS ERRORS"

Every connection is a new conntrack entry, so its first packet walks the
firewall's forward and nat chains: the figure shows what the installed rules
cost per connection.
"""

import socket
import struct
import sys
import time


def serve(port, six=False):
    s = socket.socket(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if six else "0.0.0.0", port))
    s.listen(4096)
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        conn.close()


def client(address, port, seconds):
    linger = struct.pack("ii", 1, 0)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    done = errors = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.settimeout(2.0)
        try:
            s.connect((address, port))
            s.recv(1)
            done += 1
        except OSError:
            errors += 1
            if errors > 100:
                break
        finally:
            s.close()
    elapsed = time.perf_counter() - start
    print(f"{done / elapsed:.1f} {done} {errors}")


def main():
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3:] == ["6"])
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))


if __name__ == "__main__":
    main()
