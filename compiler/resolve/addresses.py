"""Addresses and MACs of containers on bridges: pinned first, then kept from the lock
when still free and in range, then the lowest free address in source order; MACs
are 02:42 + the IPv4 bytes unless pinned, unique per bridge.
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
