"""Rule derivation: the resolved network -> the firewall rules it needs, in evaluation order.

A pure function of the IR (no spec, no resolver state), so it can be tested on a
hand-built network. The order within each hook is the order the backends install
and explain evaluates: per bridge, replies, isolation from the other bridges,
direct-routing protection, publish accepts, link accepts, then icc; then what
leaves each bridge; then per publish its allow-list (ir.Guard, which backends place
before translation) and its DNAT; then masquerading and hairpin.

A bridge with IPv6 (and ip6tables true) has its rules twice, IPv4's then
IPv6's, each carrying its family; IPv6 adds neighbour discovery between the
bridge's containers (ir.Neighbours) before icc. A publish's mappings each have
one family, and give rules in that family only.
"""

from __future__ import annotations

from .. import ir
from ..values import Family, NetKind
from .state import ANY, ANY6

V4, V6 = Family.V4, Family.V6


def derive(network: ir.Network) -> tuple[ir.Rule, ...]:
    if not network.firewall:
        return ()
    bridges = network.bridges
    exposed = {c.name: c.exposed for c in network.containers}
    by_bridge: dict[str, list[ir.Container]] = {b.name: [] for b in bridges}
    for c in network.containers:
        if c.mode is NetKind.BRIDGE and c.bridge in by_bridge:
            by_bridge[c.bridge].append(c)
    families = {b.name: b.families if network.firewall6 else (V4,) for b in bridges}
    rules: list[ir.Rule] = []
    for b in bridges:
        o = b.origin
        for fam in families[b.name]:
            rules.append(ir.Reply(b.name, fam, o))
            rules.extend(ir.Isolate(other.name, b.name, fam, o) for other in bridges if other.name != b.name)
            rules.append(ir.Protect(b.name, fam, o))
            seen = set()
            for c in by_bridge[b.name]:
                address = c.address_of(fam)
                for mp in c.mappings:
                    key = (mp.proto, mp.container_ports)
                    if mp.family is fam and key not in seen:
                        seen.add(key)
                        rules.append(ir.PublishAccept(b.name, address, mp.proto, mp.container_ports, fam, mp.origin))
                seen.clear()
            for c in by_bridge[b.name]:
                parent = c.address_of(fam)
                for link in c.links:
                    child = link.address if fam is V4 else link.address6
                    if parent is None or child is None:
                        continue
                    for proto, ports in exposed[link.target]:
                        rules.append(ir.LinkAccept(b.name, parent, child, proto, ports, fam, link.origin))
            if fam is V6:
                rules.append(ir.Neighbours(b.name, fam, o))
            rules.append(ir.Icc(b.name, b.icc, fam, b.icc_origin or o))
    rules.extend(ir.Outgoing(b.name, fam, b.origin) for b in bridges for fam in families[b.name])
    for b in bridges:
        for c in by_bridge[b.name]:
            for mp in c.mappings:
                fam = mp.family
                if fam in families[b.name]:
                    host_ip = None if mp.host_ip in (ANY, ANY6) else mp.host_ip
                    if mp.allow is not None:
                        rules.append(ir.Guard(host_ip, mp.proto, mp.host_ports, mp.allow, fam, mp.origin))
                    rules.append(ir.Dnat(b.name, host_ip, mp.proto, mp.host_ports, c.address_of(fam),
                                         mp.container_ports, fam, mp.origin))
    rules.extend(ir.MasqueradeLocal(b.name, fam, b.origin) for b in bridges for fam in families[b.name])
    if network.ip_masq:
        rules.extend(ir.Masquerade(b.name, b.network if fam is V4 else b.network6, fam,
                                   network.ip_masq_origin or b.origin) for b in bridges for fam in families[b.name])
    for b in bridges:
        for c in by_bridge[b.name]:
            seen = set()
            for mp in c.mappings:
                fam = mp.family
                key = (fam, mp.proto, mp.container_ports)
                if fam in families[b.name] and key not in seen:
                    seen.add(key)
                    rules.append(ir.Hairpin(c.address_of(fam), mp.proto, mp.container_ports, fam, mp.origin))
    return tuple(rules)
