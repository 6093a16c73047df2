"""Point-to-point links: both ends bound to containers in two different namespaces,
addresses that no bridge or container holds, interface names free in each namespace.
"""

from __future__ import annotations

from netaddr import IPAddress

from .. import ir
from ..diagnostics import Note, Span, did_you_mean, quote
from ..kernel import unusable
from ..values import NetKind
from .interfaces import IFNAME_MAX
from .state import State


def resolve(st: State) -> list[ir.P2P]:
    out = []
    ifaces: dict[str, dict[str, Span | None]] = {}
    for decl in st.spec.p2ps:
        ends = {e.container.value: e for e in decl.ends}
        ok = True
        for who in (decl.a, decl.b):
            c = st.containers.get(who.value)
            if c is None:
                st.r.error(who.span, f"p2p to unknown container {quote(who.value)}"
                                     f"{did_you_mean(who.value, st.containers)}")
                ok = False
            elif c.mode is NetKind.HOST:
                st.r.error(who.span, f"p2p end {quote(who.value)} is net host: a p2p link joins two "
                                     "container namespaces")
                ok = False
        if not ok or len(ends) != 2:
            continue
        ea, eb = ends[decl.a.value], ends[decl.b.value]
        shared = st.netns_of(st.containers[decl.a.value])
        if shared == st.netns_of(st.containers[decl.b.value]):
            st.r.error(decl.b.span, f"both ends of p2p {decl.a.value} {decl.b.value} are in the namespace "
                                    f"{quote(shared)}: a p2p link joins two network stacks")
            continue
        if ea.address.value.ip == eb.address.value.ip:
            st.r.error(eb.address.span, f"both ends of p2p {decl.a.value} {decl.b.value} have the address "
                                        f"{eb.address.value.ip}", [Note(ea.address.span, "the other end")])
            continue
        if not all([_usable(st, end) for end in (ea, eb)]):  # both ends reported
            continue
        clash = False
        for end in (ea, eb):
            owner = _address_owner(st, end.address.value.ip)
            if owner is not None:
                st.r.error(end.address.span, f"p2p address {end.address.value.ip} is already {owner}")
                clash = True
        if clash:
            continue
        built = []
        for end, peer in ((ea, eb), (eb, ea)):
            c = st.containers[end.container.value]
            netns = st.netns_of(c)
            iface = end.iface.value if end.iface else f"p2p-{peer.container.value}"[:IFNAME_MAX]
            taken = ifaces.setdefault(netns, {"lo": None, "eth0": None})
            if iface in taken:
                where = taken[iface]
                span = end.iface.span if end.iface else end.span
                st.r.error(span, f"interface {quote(iface)} already exists in the namespace of "
                                 f"{quote(c.decl.name.value)}; name this end with 'iface NAME'",
                             [Note(where, "also used here")] if where else [])
                continue
            taken[iface] = end.iface.span if end.iface else end.span
            built.append(ir.P2PEnd(c.decl.name.value, netns, end.address.value, iface, peer.address.value.ip))
        if len(built) == 2:
            out.append(ir.P2P(built[0], built[1], st.origin(decl.span)))
    return out


def _usable(st: State, end) -> bool:
    """An end's address is one an interface can hold, in a network the kernel routes."""
    cidr = end.address.value
    net = cidr.cidr
    why = unusable(net)
    if why:
        st.r.error(end.address.span, (f"p2p address {cidr} {why}" if net.prefixlen == 32 else
                                      f"p2p address {cidr}: its network {net} {why}") + "; a link cannot use it")
        return False
    if net.prefixlen <= 30 and cidr.ip in (net.network, net.broadcast):
        what = "network" if cidr.ip == net.network else "broadcast"
        st.r.error(end.address.span, f"p2p address {cidr} is the {what} address of {net}; "
                                     f"use a host address, or a /31 or /32")
        return False
    return True


def _address_owner(st: State, address: IPAddress) -> str | None:
    """What holds an address on a bridge: "the gateway of bridge 'x'", "the address of container 'y'"."""
    for br in st.bridges.values():
        if br.network is None or address not in br.network:
            continue
        if address == br.address:
            return f"the gateway of bridge {quote(br.name)}"
        who = br.taken.get(int(address))
        if who is not None:
            return f"the address of container {quote(who)} on bridge {quote(br.name)}"
    return None
