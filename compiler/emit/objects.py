"""The object table (`objects` in the output tree): everything apply creates, one line each.

apply.sh reconciles the host against this table and the previous apply's
record of it; every field is a validated token without white space.
"""

from __future__ import annotations

from .. import ir
from ..values import NetKind
from .templates import short_hash


def object_head(network: ir.Network) -> list[str]:
    """The object table's bridges, sysctls, containers and p2p links."""
    lines = []
    bridges = {b.name: b for b in network.bridges}
    for b in network.bridges:
        lines.append(f"bridge {b.name} {b.cidr} {b.mtu} {'external' if b.external else 'create'} "
                     f"{1 if network.firewall else 0}")
    for s in network.sysctls:
        if ".conf." in s.key and s.key.endswith(".route_localnet"):
            continue  # part of its bridge's object
        lines.append(f"sysctl {s.key.replace('.', '/')} {s.value}")
    container_sig: dict[str, str] = {}
    for c in network.containers:
        if c.mode not in (NetKind.BRIDGE, NetKind.NONE):
            continue
        path = "-" if c.netns_path is None else ("=" if c.netns == ir.listed_netns(c.netns_path) else c.netns_path)
        if c.mode is NetKind.BRIDGE:
            b = bridges[c.bridge]
            sig = f"{b.cidr},{b.mtu},{'external' if b.external else 'create'}"
            fields = [c.host_veth, c.bridge, sig, f"{c.address}/{c.prefixlen}", str(c.gateway), str(c.mac), str(c.mtu)]
        else:
            fields = ["-"] * 7
        line = " ".join(["container", c.name, c.netns, path, c.mode.value, *fields])
        container_sig[c.netns] = short_hash(line)
        lines.append(line)
    for p in network.p2ps:
        sig = short_hash(container_sig.get(p.a.netns, ""), container_sig.get(p.b.netns, ""))
        lines.append(f"p2p {p.a.netns}:{p.a.iface} {p.a.netns} {p.a.iface} {p.a.address} {p.a.peer} "
                     f"{p.b.netns} {p.b.iface} {p.b.address} {p.b.peer} {sig}")
    return lines


def files_lines(network: ir.Network, digests: dict[str, str]) -> list[str]:
    return [f"files {c.netns} {c.name} {digests[c.name]}"
            for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)]


def firewall_line(backend: str, rules_text: str) -> str:
    return f"firewall {backend} {short_hash(rules_text)}"
