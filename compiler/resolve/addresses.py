"""Addresses and MACs of containers on bridges: pinned first, then kept from the lock
when still free and in range, then the lowest free address in source order; MACs
are 02:42 + the IPv4 bytes unless pinned, unique per bridge.

On a bridge with IPv6 the same order gives each container its IPv6 address:
`ip6` pins, then the lock, then Docker's rule: with a prefix of /80 or shorter
the prefix plus the container's MAC in the last 48 bits (02:42:ac:11:00:02 ->
PREFIX::242:ac11:2), with a longer prefix (or when that address is taken) the
lowest free address from network+2.
"""

from __future__ import annotations

from netaddr import EUI, AddrFormatError, IPAddress, mac_unix_expanded

from ..diagnostics import Note, quote
from ..frontend import model as m
from ..kernel import unusable
from ..values import NetKind
from .state import ContainerRecord, State


def allocate(st: State) -> None:
    unusable_ip: set[str] = set()
    for c in st.containers.values():
        why = unusable(c.decl.ip.value) if c.decl.ip is not None else None
        if why:  # whatever its bridge: no bridge can hold it
            st.r.error(c.decl.ip.span, f"ip {c.decl.ip.value} {why}; a container cannot use it")
            unusable_ip.add(c.name)
    on_bridge = [c for c in st.containers.values() if c.mode is NetKind.BRIDGE
                 and st.bridges[c.bridge].network is not None]
    pinned_at: dict[int, m.ContainerDecl] = {}
    for c in on_bridge:
        ip = c.decl.ip
        if ip is None or c.name in unusable_ip:
            continue
        br = st.bridges[c.bridge]
        a, net = ip.value, br.network
        if a not in net:
            st.r.error(ip.span, f"ip {a} is outside the subnet {net} of bridge {quote(br.name)}")
        elif br.fixed is not None and a not in br.fixed.value.cidr:
            st.r.error(ip.span, f"ip {a} is outside fixed-cidr {br.fixed.value.cidr} of bridge {quote(br.name)}",
                         [Note(br.fixed.span, "fixed-cidr is set here")])
        elif a == net.network or a == net.broadcast:
            what = "network" if a == net.network else "broadcast"
            st.r.error(ip.span, f"ip {a} is the {what} address of {net}")
        elif a == br.address:
            st.r.error(ip.span, f"ip {a} is the gateway of bridge {quote(br.name)}")
        elif int(a) in pinned_at:
            first = pinned_at[int(a)]
            st.r.error(ip.span, f"ip {a} is already taken by container {quote(first.name.value)}",
                         [Note(first.ip.span, "taken here")])
        else:
            pinned_at[int(a)] = c.decl
            br.taken[int(a)] = c.decl.name.value
            c.address = a
    # Kept from the lock, when still free and in range.
    for c in on_bridge:
        if c.address is not None or c.decl.ip is not None:
            continue
        locked = st.old_lock.addresses.get(c.decl.name.value)
        br = st.bridges[c.bridge]
        try:
            value = int(IPAddress(locked)) if locked else None
        except (AddrFormatError, ValueError, TypeError):  # a damaged lock: allocate afresh
            value = None
        if value is not None and br.first <= value <= br.last and value not in br.taken:
            br.taken[value] = c.decl.name.value
            c.address = IPAddress(value)
    full: set[str] = set()
    for c in on_bridge:
        if c.address is not None or c.decl.ip is not None:
            continue
        br = st.bridges[c.bridge]
        while br.cursor <= br.last and br.cursor in br.taken:
            br.cursor += 1
        if br.cursor > br.last:
            if br.name not in full:
                st.r.error(c.decl.name.span, f"no free address for container {quote(c.decl.name.value)}: "
                                             f"the subnet of bridge {quote(br.name)} ({br.network}) is full "
                                             f"(Docker: \"no available ip addresses on network\")")
                full.add(br.name)
            continue
        br.taken[br.cursor] = c.decl.name.value
        c.address = IPAddress(br.cursor)
    macs: dict[int, ContainerRecord] = {}
    for c in on_bridge:
        if c.address is None:
            continue
        if c.decl.ip is None:
            st.lock.addresses[c.decl.name.value] = str(c.address)
        if c.decl.mac is not None:
            c.mac = c.decl.mac.value
        else:
            c.mac = EUI(0x0242 << 32 | int(c.address), dialect=mac_unix_expanded)  # 02:42 + the IPv4 bytes
        key = (int(c.mac), c.bridge)
        prior = macs.get(key)
        if prior is not None:
            span = (c.decl.mac or prior.decl.mac or c.decl.name).span
            st.r.error(span, f"mac {c.mac} is used by containers {quote(prior.decl.name.value)} and "
                             f"{quote(c.decl.name.value)} on bridge {quote(c.bridge)}")
        macs[key] = c


MAC_RULE_PREFIX = 80   # the longest prefix that leaves 48 bits for the MAC


def allocate6(st: State) -> None:
    """IPv6 addresses: pinned, locked, then by Docker's MAC rule or lowest free (after allocate)."""
    pinned_at: dict[int, m.ContainerDecl] = {}
    for c in st.containers.values():
        ip6 = c.decl.ip6
        if ip6 is None or c.mode is not NetKind.BRIDGE or c.broken:
            continue  # other modes: reported by the mode checks
        br = st.bridges[c.bridge]
        a = ip6.value
        if not br.ipv6:
            if br.ipv6_span is None:  # ipv6 true on a bridge whose IPv6 failed is reported already
                st.r.error(ip6.span, f"ip6 {a}: bridge {quote(br.name)} has no IPv6 (set ipv6 true and "
                                     "fixed-cidr-v6 on it)")
            continue
        net = br.network6
        if a not in net:
            st.r.error(ip6.span, f"ip6 {a} is outside the subnet {net} of bridge {quote(br.name)}",
                       [Note(br.fixed6.span, "fixed-cidr-v6 is set here")])
        elif a == net.network:
            st.r.error(ip6.span, f"ip6 {a} is the network address of {net} (the subnet-router anycast address)")
        elif a == br.address6:
            st.r.error(ip6.span, f"ip6 {a} is the IPv6 gateway of bridge {quote(br.name)}")
        elif int(a) in pinned_at:
            first = pinned_at[int(a)]
            st.r.error(ip6.span, f"ip6 {a} is already taken by container {quote(first.name.value)}",
                       [Note(first.ip6.span, "taken here")])
        else:
            pinned_at[int(a)] = c.decl
            br.taken6[int(a)] = c.decl.name.value
            c.address6 = a
    on_v6 = [c for c in st.containers.values() if c.mode is NetKind.BRIDGE and c.address is not None
             and st.bridges[c.bridge].ipv6 and c.decl.ip6 is None]
    for c in on_v6:  # kept from the lock, when still free and in the subnet
        br = st.bridges[c.bridge]
        locked = st.old_lock.addresses6.get(c.name)
        try:
            value = IPAddress(locked, 6) if locked else None
        except (AddrFormatError, ValueError, TypeError):  # a damaged lock: allocate afresh
            value = None
        if value is not None and value in br.network6 and value != br.network6.network \
                and int(value) not in br.taken6:
            br.taken6[int(value)] = c.name
            c.address6 = value
    cursors: dict[str, int] = {}
    for c in on_v6:
        br = st.bridges[c.bridge]
        if c.address6 is None:
            net = br.network6
            choice = None
            if net.prefixlen <= MAC_RULE_PREFIX and c.mac is not None:
                derived = int(net.network) | (int(c.mac) & (1 << 48) - 1)
                if derived not in br.taken6:
                    choice = derived
            if choice is None:  # the lowest free from network+2 (a /64 is never full in practice)
                cursor = cursors.get(br.name, int(net.network) + 2)
                while cursor <= net.last and cursor in br.taken6:
                    cursor += 1
                cursors[br.name] = cursor
                if cursor > net.last:
                    st.r.error(c.decl.name.span, f"no free IPv6 address for container {quote(c.name)}: the "
                                                 f"subnet {net} of bridge {quote(br.name)} is full")
                    continue
                choice = cursor
            br.taken6[choice] = c.name
            c.address6 = IPAddress(choice, 6)
        st.lock.addresses6[c.name] = str(c.address6)
