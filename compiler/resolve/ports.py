"""Published ports: explicit host ports checked for clashes (0.0.0.0 overlaps every
IPv4 address, :: every IPv6 one), drawn ones kept from the lock when still free,
else the lowest free port of port-range per (host IP, protocol) in source order;
publish-all covers the exposed ports without an explicit publish.

A publish without a host address (and the daemon's `ip` at 0.0.0.0) binds both
families when the container's bridge has IPv6: two mappings, 0.0.0.0 and ::,
with the same host port (a drawn one is free in both). Each mapping has one
family, so whatever is added per publish later (allow-lists) is per family too.
"""

from __future__ import annotations

from netaddr import IPAddress

from .. import ir
from ..diagnostics import Note, Span, quote
from ..values import PROTO_ORDER, NetKind, PortRange, Proto
from .state import ANY, ANY6, ContainerRecord, State


def _any(ip: IPAddress) -> bool:
    return ip == ANY or ip == ANY6


def _show(ip: IPAddress, port=None) -> str:
    """An address (and port) as Docker prints a binding: 0.0.0.0:80, [::]:80."""
    text = f"[{ip}]" if ip.version == 6 else str(ip)
    return text if port is None else f"{text}:{port}"


def allocate(st: State) -> None:
    used: dict[tuple[Proto, int], list[tuple[IPAddress, Span, str]]] = {}

    def clash(ip: IPAddress, proto: Proto, port: int):
        """A binding of the same family that overlaps IP (0.0.0.0 every IPv4 address, :: every IPv6 one)."""
        for other_ip, span, who in used.get((proto, port), ()):
            if other_ip.version == ip.version and (other_ip == ip or _any(other_ip) or _any(ip)):
                return other_ip, span, who
        return None

    def take(ip: IPAddress, proto: Proto, port: int, span: Span, who: str) -> None:
        used.setdefault((proto, port), []).append((ip, span, who))

    # drawn ones: (container, host addresses (one per family), proto, port, span, lock key, origin)
    requests: list[tuple[ContainerRecord, tuple[IPAddress, ...], Proto, int, Span, str, str, dict]] = []
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
            origin = st.origin(p.span, f"container {d.name.value}")
            ips = _host_ips(st, c, p.host_ip, p.span)
            if ips is None:
                continue
            ip = p.host_ip if p.host_ip is not None else st.default_ip  # 0.0.0.0 is falsy
            if p.host_ports is not None:
                where = p.host_span or p.span
                ok = True
                for hp in p.host_ports:
                    for one in ips:
                        prior = clash(one, p.proto, hp)
                        if prior:
                            st.r.error(where, f"Bind for {_show(one, hp)}/{p.proto} failed: port is already "
                                              f"allocated (by container {quote(prior[2])} on {_show(prior[0])})",
                                       [Note(prior[1], "first published here")])
                            ok = False
                            break
                        take(one, p.proto, hp, where, d.name.value)
                    if not ok:
                        break
                else:
                    allow = allow_for(st, p.allow, ip)
                    c.mappings.extend(ir.Mapping(one, p.proto, p.host_ports, p.container_ports, False, origin,
                                                 allow[one.version]) for one in ips)
                explicit.update((p.proto, cp) for cp in p.container_ports)
            else:
                for cp in p.container_ports:
                    key = _port_key(p.proto, ip, cp, counts)
                    requests.append((c, ips, p.proto, cp, p.span, key, origin, allow_for(st, p.allow, ip)))
                    explicit.add((p.proto, cp))
        if d.publish_all and d.publish_all.value:
            origin = st.origin(d.publish_all.span, f"container {d.name.value}")
            ips = _host_ips(st, c, None, d.publish_all.span)
            rest = sorted((port, PROTO_ORDER[proto], proto) for proto, port in c.exposed
                          if (proto, port) not in explicit)
            for port, _, proto in rest if ips else ():
                key = _port_key(proto, st.default_ip, port, counts)
                requests.append((c, ips, proto, port, d.publish_all.span, key, origin, allow_for(st, None, st.default_ip)))
    # Drawn ports kept from the lock, then the lowest free ones in source order;
    # a publish in both families gets the same port in each, as Docker gives it.
    granted: dict[int, int] = {}
    for i, (c, ips, proto, cport, span, key, origin, _) in enumerate(requests):
        locked = st.old_lock.ports.get(c.decl.name.value, {}).get(key)
        if isinstance(locked, int) and st.ports.lo <= locked <= st.ports.hi and \
                not any(clash(ip, proto, locked) for ip in ips):
            for ip in ips:
                take(ip, proto, locked, span, c.decl.name.value)
            granted[i] = locked
    cursors: dict[tuple[tuple[IPAddress, ...], Proto], int] = {}
    exhausted: set[tuple[tuple[IPAddress, ...], Proto]] = set()
    for i, (c, ips, proto, cport, span, key, origin, allow) in enumerate(requests):
        if i not in granted:
            port = cursors.get((ips, proto), st.ports.lo)
            while port <= st.ports.hi and any(clash(ip, proto, port) for ip in ips):
                port += 1
            cursors[(ips, proto)] = port
            if port > st.ports.hi:
                if (ips, proto) not in exhausted:
                    st.r.error(span, f"all ports are allocated: port-range {st.ports} has no free "
                                     f"{proto} port left on {' and '.join(_show(ip) for ip in ips)}",
                                 [Note(st.daemon.port_range.span, "port-range is set here")]
                               if st.daemon.port_range else [])
                    exhausted.add((ips, proto))
                continue
            for ip in ips:
                take(ip, proto, port, span, c.decl.name.value)
            granted[i] = port
        st.lock.ports.setdefault(c.decl.name.value, {})[key] = granted[i]
        c.mappings.extend(ir.Mapping(ip, proto, PortRange(granted[i], granted[i]), PortRange(cport, cport), True,
                                     origin, allow[ip.version]) for ip in ips)


def _host_ips(st: State, c: ContainerRecord, given: IPAddress | None, span: Span) -> tuple[IPAddress, ...] | None:
    """The host addresses a publish binds, one per family: as given; or the daemon's `ip`, which at
    0.0.0.0 means both families where the container's bridge has IPv6. None: reported."""
    br = st.bridges[c.bridge]
    v6 = br.ipv6
    if given is None and st.default_ip == ANY:
        return (ANY, ANY6) if v6 and st.firewall6 else (ANY,)
    ip = given if given is not None else st.default_ip
    if ip.version == 4:
        return (ip,)
    notes = [] if given is not None else [Note(st.daemon.ip.span, "the daemon's ip is set here")]
    if not v6:
        if br.ipv6_span is None:  # ipv6 true on a bridge whose IPv6 failed is reported already
            st.r.error(span, f"publish on {_show(ip)}: container {quote(c.name)} is on bridge {quote(br.name)}, "
                             "which has no IPv6, and the kernel cannot translate IPv6 to an IPv4 container "
                             "(netc has no userland proxy)", notes)
        return None
    if not st.firewall6 and st.firewall:
        st.r.warning(span, f"publish on {_show(ip)} has no effect with ip6tables false: nothing translates "
                           "IPv6 to the container", [Note(st.daemon.ip6tables.span, "ip6tables is false here")])
    return (ip,)


def allow_for(st: State, given, host_ip: IPAddress | None = None) -> dict[int, tuple | None]:
    """The allow-list of a publish per family (4, 6): its `from`, else the daemon's
    publish-from (not for a publish on a loopback address: only the host reaches it anyway).
    None: everyone (no list, or a list of /0 networks only, or /0 in the family); a tuple:
    the family's networks (empty: nobody of that family may connect)."""
    if given is None and st.daemon.publish_from is not None and not (host_ip is not None and host_ip.is_loopback()):
        given = st.daemon.publish_from.value
    if given is None:
        return {4: None, 6: None}
    nets = [a.value for a in given]
    if all(n.prefixlen == 0 for n in nets):
        return {4: None, 6: None}
    out: dict[int, tuple | None] = {}
    for version in (4, 6):
        mine = tuple(n for n in nets if n.version == version)
        out[version] = None if any(n.prefixlen == 0 for n in mine) else mine
    return out


def _port_key(proto: Proto, ip: IPAddress, cport: int, counts: dict[str, int]) -> str:
    base = f"{proto}:{_show(ip)}:{cport}"
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
