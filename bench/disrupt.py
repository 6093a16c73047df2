"""Does a re-apply disturb traffic it does not change? (the standard library only, so it runs
with any python3 inside a namespace)

    disrupt.py serve HOLD NEW           HOLD: echo every line back; NEW: answer "ok" and close
    disrupt.py watch ADDRESS HOLD NEW   until stdin closes: one connection to HOLD kept open,
                                        a line sent every 20 ms and its echo awaited (1 s);
                                        a new connection to NEW every 10 ms, its "ok" awaited
                                        (1 s). Then prints one JSON object: counts, failures,
                                        the slowest answers.
"""

import json
import socket
import sys
import threading
import time

TIMEOUT = 1.0


def serve(hold, new):
    def echo(conn):
        with conn:
            f = conn.makefile("rwb", buffering=0)
            for line in f:
                f.write(line)

    def holder():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", hold))
        s.listen(16)
        while True:
            conn, _ = s.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def answerer():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", new))
        s.listen(4096)
        while True:
            conn, _ = s.accept()
            try:
                conn.sendall(b"ok\n")
            finally:
                conn.close()

    for fn in (holder, answerer):
        threading.Thread(target=fn, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def watch(address, hold, new):
    stop = threading.Event()
    out = {"held_lines": 0, "held_failures": 0, "held_slowest": 0.0, "new_connections": 0, "new_failures": 0,
           "new_slowest": 0.0, "failures": []}

    def held():
        try:
            s = socket.create_connection((address, hold), timeout=TIMEOUT)
        except OSError as exc:
            out["held_failures"] += 1
            out["failures"].append(f"held connect: {exc}")
            return
        s.settimeout(TIMEOUT)
        f = s.makefile("rwb", buffering=0)
        n = 0
        while not stop.is_set():
            n += 1
            start = time.perf_counter()
            try:
                f.write(b"%d\n" % n)
                if f.readline() != b"%d\n" % n:
                    raise OSError("wrong or no echo")
                out["held_lines"] += 1
                out["held_slowest"] = max(out["held_slowest"], time.perf_counter() - start)
            except OSError as exc:
                out["held_failures"] += 1
                out["failures"].append(f"held line {n}: {exc}")
                return
            time.sleep(0.02)

    def fresh():
        while not stop.is_set():
            start = time.perf_counter()
            try:
                with socket.create_connection((address, new), timeout=TIMEOUT) as s:
                    s.settimeout(TIMEOUT)
                    if s.recv(8) != b"ok\n":
                        raise OSError("no answer")
                out["new_connections"] += 1
                out["new_slowest"] = max(out["new_slowest"], time.perf_counter() - start)
            except OSError as exc:
                out["new_failures"] += 1
                if len(out["failures"]) < 20:
                    out["failures"].append(f"new connection at {time.time():.3f}: {exc}")
            time.sleep(max(0.0, 0.01 - (time.perf_counter() - start)))

    threads = [threading.Thread(target=held), threading.Thread(target=fresh)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()     # until the caller closes stdin
    stop.set()
    for t in threads:
        t.join()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        watch(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
