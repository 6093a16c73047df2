"""Bridges: which bridges exist, their settings (own, else the daemon's), and their subnets.

Explicit bips are checked first (prefix, network and broadcast address, overlaps);
bridges without one take a subnet kept from the lock, else the first of Docker's
candidates that overlaps no host route, nameserver or other bridge. Then each
bridge gets the range its containers are handed addresses from (fixed-cidr).
"""

from __future__ import annotations

from netaddr import AddrFormatError, IPAddress, IPNetwork

from ..diagnostics import Note, quote
from ..kernel import LINK_LOCAL, unusable
from .state import DEFAULT_MTU, BridgeRecord, State

# Docker's bridge subnet candidates, in order (daemon/networkdriver/bridge/driver.go, 1.3).
CANDIDATES = tuple(IPNetwork(c) for c in (
    "172.17.42.1/16", "10.0.42.1/16", "10.1.42.1/16", "10.42.42.1/16", "172.16.42.1/24", "172.16.43.1/24",
    "172.16.44.1/24", "10.0.42.1/24", "10.0.43.1/24", "192.168.42.1/24", "192.168.43.1/24", "192.168.44.1/24"))


MIN_PREFIX = 8   # a bridge's network: at most a /8 (and at least a /30, for one container)


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    """Docker's test: either network contains the other's first address."""
    return a.network in b.cidr or b.network in a.cidr


def resolve(st: State) -> None:
    d = st.daemon
    default = st.default_bridge
    decls = {b.name.value: b for b in st.spec.bridges}
    names = [default] + [b.name.value for b in st.spec.bridges if b.name.value != default]
    for name in names:
        decl = decls.get(name)
        bip, fixed = (decl.bip, decl.fixed_cidr) if decl else (None, None)
        if name == default:
            for attr, label in (("bip", "bip"), ("fixed_cidr", "fixed-cidr")):
                mine, theirs = getattr(d, attr), getattr(decl, attr) if decl else None
                if mine and theirs:
                    st.r.error(theirs.span, f"{label} of the default bridge {quote(name)} is given twice",
                                 [Note(mine.span, "also given in daemon here")])
            bip = bip or d.bip
            fixed = fixed or d.fixed_cidr
        icc_at = (decl.icc if decl and decl.icc else None) or d.icc
        span = decl.span if decl else (d.bridge.span if d.bridge else None)
        br = BridgeRecord(name, decl, bip, fixed,
                     (decl.mtu.value if decl and decl.mtu else None) or (d.mtu.value if d.mtu else DEFAULT_MTU),
                     icc_at.value if icc_at else True, icc_at.span if icc_at else None,
                     bool(decl and decl.external and decl.external.value), span)
        st.bridges[name] = br
        if not br.icc and not st.firewall:
            st.r.error(icc_at.span, "icc false needs iptables: netc drops container to container traffic "
                                    "with firewall rules (Docker: \"ICC uses iptables to function\")",
                         [Note(d.iptables.span, "iptables is false here")])
        if br.external and br.bip is None:
            st.r.error(decl.external.span, f"external bridge {quote(name)} needs a bip: netc never reads the live "
                                  "machine, so the spec must say the bridge's address")
    for br in st.bridges.values():
        why = unusable(br.fixed.value) if br.fixed is not None else None
        if why:
            st.r.error(br.fixed.span, f"fixed-cidr {br.fixed.value.cidr} {why}; containers cannot use it")
            br.fixed = None  # reported: no second error about it
    _check_explicit_bips(st)
    _select_bips(st)
    for br in st.bridges.values():
        if br.network is not None:
            _range(st, br)


def _check_explicit_bips(st: State) -> None:
    seen: list[BridgeRecord] = []
    for br in st.bridges.values():
        if br.bip is None:
            continue
        bip = br.bip.value
        net = bip.cidr
        if bip.prefixlen > 30:
            st.r.error(br.bip.span, f"bip {bip} leaves no address for containers; use a prefix of /30 or shorter")
            continue
        if bip.prefixlen < MIN_PREFIX:
            st.r.error(br.bip.span, f"bip {bip} has a prefix shorter than /{MIN_PREFIX} (its network {net} would "
                                    f"take in {net.size:,} addresses); use a prefix from /{MIN_PREFIX} to /30")
            continue
        why = unusable(net)
        if why:
            st.r.error(br.bip.span, f"bip {bip} {why}; a bridge cannot use it")
            continue
        if net.network in LINK_LOCAL:
            st.r.warning(br.bip.span, f"bip {bip} is link-local ({LINK_LOCAL}): routers do not forward it "
                                      "(RFC 3927), and a bridge there takes the host's route to 169.254.169.254, "
                                      "the metadata service of cloud hosts")
        if bip.ip == net.network:
            st.r.error(br.bip.span, f"bip {bip} is the network address of {net}; use a host address, "
                                    f"like {IPAddress(int(net.network) + 1)}/{bip.prefixlen}")
            continue
        if bip.ip == net.broadcast:
            st.r.error(br.bip.span, f"bip {bip} is the broadcast address of {net}")
            continue
        clash = next((o for o in seen if overlaps(o.network, net)), None)
        if clash:
            st.r.error(br.bip.span, f"bip {bip} of bridge {quote(br.name)} overlaps bridge "
                                    f"{quote(clash.name)} ({clash.network})", [Note(clash.bip.span, "that bip is here")])
            continue
        br.network, br.address = net, bip.ip
        seen.append(br)


def _in_use(st: State, net: IPNetwork, bridge: str) -> str | None:
    for route in st.host.routes:
        if overlaps(route.value.cidr, net):
            return f"host route {route.value.cidr}"
    for ns in st.host.nameservers:
        if ns.value.version == 4 and ns.value in net:
            return f"host nameserver {ns.value}"
    for other in st.bridges.values():
        if other.name != bridge and other.network is not None and overlaps(other.network, net):
            return f"bridge {other.name}"
    return None


def _select_bips(st: State) -> None:
    for br in st.bridges.values():
        if br.bip is not None or br.external:
            continue
        locked = st.old_lock.bridges.get(br.name)
        choice = None
        if locked:
            try:
                net = IPNetwork(locked)
                # Only a candidate: a damaged lock must not pick a network or broadcast
                # address, a /0 or a /30 that the spec no longer fits in.
                if str(net) in map(str, CANDIDATES) and _in_use(st, net, br.name) is None:
                    choice = net
            except (AddrFormatError, ValueError, TypeError):  # a damaged lock: allocate afresh
                choice = None
        if choice is None:
            choice = next((c for c in CANDIDATES if _in_use(st, c, br.name) is None), None)
        if choice is None:
            st.r.error(br.span or st.daemon.span or st.host.span,
                       f"could not find a free IP address range for bridge {quote(br.name)}: every "
                       "candidate subnet overlaps a host route, nameserver or bridge; set bip")
            continue
        br.network, br.address = choice.cidr, choice.ip
        st.lock.bridges[br.name] = str(choice)


def _range(st: State, br: BridgeRecord) -> None:
    net = br.network
    first, last = int(net.network) + 2, int(net.broadcast) - 1
    if br.fixed is not None:
        fixed = br.fixed.value.cidr
        if not (fixed.network in net and fixed.broadcast in net):
            st.r.error(br.fixed.span, f"fixed-cidr {fixed} is outside bip {br.address}/{net.prefixlen} "
                                      f"of bridge {quote(br.name)}")
        else:
            first = max(int(fixed.network) + 1, int(net.network) + 1)
            last = min(int(fixed.broadcast) - 1, int(net.broadcast) - 1)
    br.first, br.last, br.cursor = first, last, first
    br.taken[int(br.address)] = "the gateway"
