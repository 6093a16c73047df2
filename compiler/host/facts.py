"""`netc facts`: a `host` block read from the live machine, for the user to keep.

Read-only: /etc/resolv.conf (nameserver, search, options) and the routes
(`ip -4 route` and `ip -6 route`, every destination but the default; of IPv6,
neither link-local nor multicast ones, which every interface has). `compile` never reads the
machine; a spec that wants these facts includes what `facts` printed.
"""

from __future__ import annotations

import re
import subprocess

from netaddr import IPAddress, IPNetwork

SAFE = re.compile(r"[A-Za-z0-9_.:/-]+\Z")
LINK_LOCAL6, MULTICAST6 = IPNetwork("fe80::/10"), IPNetwork("ff00::/8")


def resolv_facts(text: str) -> tuple[list[str], list[str], list[str]]:
    nameservers, search, options = [], [], []
    for line in text.splitlines():
        words = line.split("#")[0].split(";")[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            try:
                nameservers.append(str(IPAddress(words[1].split("%")[0])))
            except Exception:
                continue
        elif words[0] in ("search", "domain"):
            search = [w for w in words[1:] if SAFE.match(w)]   # the last one wins, as in resolv.conf(5)
        elif words[0] == "options":
            options += [w for w in words[1:] if SAFE.match(w)]
    return nameservers, search, options


def route_facts(text: str) -> list[str]:
    routes = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ("default", "unreachable", "blackhole", "prohibit", "local", "broadcast"):
            continue
        try:
            net = IPNetwork(words[0])
        except Exception:
            continue
        if net.version == 6 and (net.cidr in LINK_LOCAL6 or net.cidr in MULTICAST6):
            continue
        if str(net.cidr) not in routes:
            routes.append(str(net.cidr))
    return routes


def host_block(resolv: str, routes: str) -> str:
    nameservers, search, options = resolv_facts(resolv)
    lines = ["# netc facts: what this machine's resolv.conf and routes say", "host {"]
    lines += [f"    nameserver {n}" for n in nameservers]
    if search:
        lines.append("    search " + " ".join(search))
    if options:
        lines.append("    options " + " ".join(options))
    lines += [f"    route {r}" for r in route_facts(routes)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def read_machine() -> str:
    try:
        resolv = open("/etc/resolv.conf", encoding="utf-8", errors="replace").read()
    except OSError:
        resolv = ""
    routes = ""
    for family in ("-4", "-6"):
        try:
            routes += subprocess.run(["ip", family, "route", "show"], capture_output=True, text=True,
                                     timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            pass
    return host_block(resolv, routes)
