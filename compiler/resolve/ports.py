"""Published ports: explicit host ports checked for clashes (0.0.0.0 overlaps every
address), drawn ones kept from the lock when still free, else the lowest free port
of port-range per (host IP, protocol) in source order; publish-all covers the
exposed ports without an explicit publish.
"""

from __future__ import annotations

from netaddr import IPAddress

from .. import ir
from ..diagnostics import Note, Span, quote
from ..values import PROTO_ORDER, NetKind, PortRange, Proto
from .state import ANY, ContainerRecord, State


def allocate(st: State) -> None:
    used: dict[tuple[Proto, int], list[tuple[IPAddress, Span, str]]] = {}

    def clash(ip: IPAddress, proto: Proto, port: int):
        for other_ip, span, who in used.get((proto, port), ()):
            if other_ip == ip or other_ip == ANY or ip == ANY:
                return other_ip, span, who
        return None

    def take(ip: IPAddress, proto: Proto, port: int, span: Span, who: str) -> None:
        used.setdefault((proto, port), []).append((ip, span, who))

    requests: list[tuple[ContainerRecord, IPAddress, Proto, int, Span, str, str]] = []  # drawn ones
    for c in st.containers.values():
        d = c.decl
        for e in d.expose:
            c.exposed.update((e.proto, p) for p in e.ports)
        for p in d.publish:
            c.exposed.update((p.proto, port) for port in p.container_ports)
        if c.mode is not NetKind.BRIDGE:
            if c.mode in (NetKind.HOST, NetKind.NONE):
                pass  # warned in _check_mode
            continue
        if not st.firewall and (d.publish or d.publish_all):
            span = d.publish[0].span if d.publish else d.publish_all.span
            st.r.warning(span, "publish has no effect with iptables false: netc has no userland proxy, "
                               "so nothing forwards the host port")
        explicit: set[tuple[Proto, int]] = set()
        counts: dict[str, int] = {}
        for p in d.publish:
            ip = p.host_ip if p.host_ip is not None else st.default_ip  # 0.0.0.0 is falsy
            origin = st.origin(p.span, f"container {d.name.value}")
            if p.host_ports is not None:
                where = p.host_span or p.span
                for hp in p.host_ports:
                    prior = clash(ip, p.proto, hp)
                    if prior:
                        st.r.error(where, f"Bind for {ip}:{hp}/{p.proto} failed: port is already allocated"
                                          f" (by container {quote(prior[2])} on {prior[0]})",
                                     [Note(prior[1], "first published here")])
                        break
                    take(ip, p.proto, hp, where, d.name.value)
                else:
                    c.mappings.append(ir.Mapping(ip, p.proto, p.host_ports, p.container_ports, False, origin))
                explicit.update((p.proto, cp) for cp in p.container_ports)
            else:
                for cp in p.container_ports:
                    key = _port_key(p.proto, ip, cp, counts)
                    requests.append((c, ip, p.proto, cp, p.span, key, origin))
                    explicit.add((p.proto, cp))
        if d.publish_all and d.publish_all.value:
            origin = st.origin(d.publish_all.span, f"container {d.name.value}")
            rest = sorted((port, PROTO_ORDER[proto], proto) for proto, port in c.exposed
                          if (proto, port) not in explicit)
            for port, _, proto in rest:
                key = _port_key(proto, st.default_ip, port, counts)
                requests.append((c, st.default_ip, proto, port, d.publish_all.span, key, origin))
    # Drawn ports kept from the lock, then the lowest free ones in source order.
    granted: dict[int, int] = {}
    for i, (c, ip, proto, cport, span, key, origin) in enumerate(requests):
        locked = st.old_lock.ports.get(c.decl.name.value, {}).get(key)
        if isinstance(locked, int) and st.ports.lo <= locked <= st.ports.hi and not clash(ip, proto, locked):
            take(ip, proto, locked, span, c.decl.name.value)
            granted[i] = locked
    cursors: dict[tuple[IPAddress, Proto], int] = {}
    exhausted: set[tuple[IPAddress, Proto]] = set()
    for i, (c, ip, proto, cport, span, key, origin) in enumerate(requests):
        if i not in granted:
            port = cursors.get((ip, proto), st.ports.lo)
            while port <= st.ports.hi and clash(ip, proto, port):
                port += 1
            cursors[(ip, proto)] = port
            if port > st.ports.hi:
                if (ip, proto) not in exhausted:
                    st.r.error(span, f"all ports are allocated: port-range {st.ports} has no free "
                                     f"{proto} port left on {ip}",
                                 [Note(st.daemon.port_range.span, "port-range is set here")]
                               if st.daemon.port_range else [])
                    exhausted.add((ip, proto))
                continue
            take(ip, proto, port, span, c.decl.name.value)
            granted[i] = port
        st.lock.ports.setdefault(c.decl.name.value, {})[key] = granted[i]
        c.mappings.append(ir.Mapping(ip, proto, PortRange(granted[i], granted[i]),
                                     PortRange(cport, cport), True, origin))


def _port_key(proto: Proto, ip: IPAddress, cport: int, counts: dict[str, int]) -> str:
    base = f"{proto}:{ip}:{cport}"
    counts[base] = counts.get(base, 0) + 1
    return base if counts[base] == 1 else f"{base}#{counts[base]}"


def compress(ports: set[tuple[Proto, int]]) -> list[tuple[Proto, PortRange]]:
    """(proto, port) pairs -> sorted (proto, range) runs: tcp first, then udp, ascending."""
    out: list[tuple[Proto, PortRange]] = []
    for proto, port in sorted(ports, key=lambda pp: (PROTO_ORDER[pp[0]], pp[1])):
        if out and out[-1][0] is proto and out[-1][1].hi == port - 1:
            out[-1] = (proto, PortRange(out[-1][1].lo, port))
        else:
            out.append((proto, PortRange(port, port)))
    return out
