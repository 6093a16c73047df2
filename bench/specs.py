"""The specs the benchmark compiles, beyond bench/gen.py's.

    scale(n)      gen.generate(n): n containers on the default bridge (10.0.0.1/8),
                  about half publishing a port and half linking to an earlier one
    firewall(n)   n containers with exactly one publish and one link each:
                  n publishes and n links (the firewall apply measurement)
    probe(n)      gen.generate(n) and then a server and a client that links to it,
                  declared last, so that in the iptables backend their rules come
                  after every other container's (the connection-rate measurement)
    churn(n, k)   a container that stays (publishing HOLD_PORT and NEW_PORT) and n
                  others, x{k}..x{k+n-1}, every second linked to it: two of these
                  with different k are a change of spec that adds and removes
                  containers around one that does not change (the disruption measurement)

Deterministic, like gen.py. Only private container addresses (10.0.0.0/8) and
documentation addresses outside (192.0.2.0/24, 198.51.100.0/24).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

FIRST_HOST_PORT = 1024
SERVER, CLIENT = "zz-server", "zz-client"
SERVER_PORT = 5001
KEEP, HOLD_PORT, NEW_PORT = "zz-keep", 9001, 9002


def scale(n: int) -> str:
    return gen.generate(n)


def firewall(n: int, ipv6: bool = False) -> str:
    """n containers; container i publishes host port 1024+i to its port 80 and links to container i-1
    (with ipv6: a dual-stack bridge, so each publish and link is in both families)."""
    if n > 65535 - FIRST_HOST_PORT:
        raise ValueError("too many containers for one host port each")
    out = [
        f"# netc benchmark spec: {n} containers, {n} publishes, {n} links (bench/specs.py firewall)",
        "host {",
        "    nameserver 192.0.2.53",
        "    route 198.51.100.0/24",
        "}",
        "daemon {",
        f"    bip {gen.BIP}",
        "    dns 192.0.2.53",
    ] + (["    ipv6 true", f"    fixed-cidr-v6 {gen.FIXED_CIDR_V6}"] if ipv6 else []) + [
        "}",
    ]
    for i in range(n):
        link = f"f{(i - 1) % n:05d}" if n > 1 else None
        out.append(f"container f{i:05d} {{\n"
                   f"    expose 80/tcp\n"
                   f"    publish {FIRST_HOST_PORT + i}:80\n"
                   + (f"    link {link}:peer\n" if link else "")
                   + "}")
    return "\n".join(out) + "\n"


def probe(n: int, ipv6: bool = False) -> str:
    return gen.generate(n, ipv6=ipv6) + (
        f"# the two containers the connection rate is measured between\n"
        f"container {SERVER} {{\n    expose {SERVER_PORT}/tcp\n}}\n"
        f"container {CLIENT} {{\n    link {SERVER}:server\n}}\n")


def churn(n: int, first: int) -> str:
    out = [f"# netc benchmark spec: {KEEP} and {n} containers from x{first:05d} (bench/specs.py churn)",
           "host {", "    nameserver 192.0.2.53", "    route 198.51.100.0/24", "}",
           "daemon {", f"    bip {gen.BIP}", "    dns 192.0.2.53", "}",
           f"container {KEEP} {{\n    publish {HOLD_PORT}:{HOLD_PORT}\n    publish {NEW_PORT}:{NEW_PORT}\n}}"]
    for i in range(first, first + n):
        out.append(f"container x{i:05d} {{\n    expose 80/tcp\n" + (f"    link {KEEP}:keep\n" if i % 2 else "") + "}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    if kind == "churn":
        sys.stdout.write(churn(n, int(sys.argv[3]) if len(sys.argv) > 3 else 0))
    else:
        sys.stdout.write({"scale": scale, "firewall": firewall, "probe": probe}[kind](n))
