"""Rule derivation: the resolved network -> the firewall rules it needs, in evaluation order.

A pure function of the IR (no spec, no resolver state), so it can be tested on a
hand-built network. The order within each hook is the order the backends install
and explain evaluates: per bridge, replies, isolation from the other bridges,
direct-routing protection, publish accepts, link accepts, then icc; then what
leaves each bridge; then DNAT per publish; then masquerading and hairpin.
"""

from __future__ import annotations

from .. import ir
from ..values import NetKind
from .state import ANY


def derive(network: ir.Network) -> tuple[ir.Rule, ...]:
    if not network.firewall:
        return ()
    bridges = network.bridges
    exposed = {c.name: c.exposed for c in network.containers}
    by_bridge: dict[str, list[ir.Container]] = {b.name: [] for b in bridges}
    for c in network.containers:
        if c.mode is NetKind.BRIDGE and c.bridge in by_bridge:
            by_bridge[c.bridge].append(c)
    rules: list[ir.Rule] = []
    for b in bridges:
        o = b.origin
        rules.append(ir.Reply(b.name, o))
        rules.extend(ir.Isolate(other.name, b.name, o) for other in bridges if other.name != b.name)
        rules.append(ir.Protect(b.name, o))
        seen = set()
        for c in by_bridge[b.name]:
            for mp in c.mappings:
                key = (c.address, mp.proto, mp.container_ports)
                if key not in seen:
                    seen.add(key)
                    rules.append(ir.PublishAccept(b.name, c.address, mp.proto, mp.container_ports, mp.origin))
        for c in by_bridge[b.name]:
            for link in c.links:
                for proto, ports in exposed[link.target]:
                    rules.append(ir.LinkAccept(b.name, c.address, link.address, proto, ports, link.origin))
        rules.append(ir.Icc(b.name, b.icc, b.icc_origin or o))
    rules.extend(ir.Outgoing(b.name, b.origin) for b in bridges)
    for b in bridges:
        for c in by_bridge[b.name]:
            for mp in c.mappings:
                rules.append(ir.Dnat(b.name, None if mp.host_ip == ANY else mp.host_ip, mp.proto,
                                     mp.host_ports, c.address, mp.container_ports, mp.origin))
    for b in bridges:
        rules.append(ir.MasqueradeLocal(b.name, b.origin))
    if network.ip_masq:
        rules.extend(ir.Masquerade(b.name, b.network, network.ip_masq_origin or b.origin) for b in bridges)
    seen = set()
    for b in bridges:
        for c in by_bridge[b.name]:
            for mp in c.mappings:
                key = (c.address, mp.proto, mp.container_ports)
                if key not in seen:
                    seen.add(key)
                    rules.append(ir.Hairpin(c.address, mp.proto, mp.container_ports, mp.origin))
    return tuple(rules)
