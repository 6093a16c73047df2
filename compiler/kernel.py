"""Facts of the kernel that resolve, every backend and explain rely on: one place for each.

Netfilter hooks and the priorities of the chains netc hooks in (the ones
iptables' built-in chains have, man iptables-extensions / nft(8) "PRIORITY"),
the loopback network a packet from outside never carries, and the connection
tracking states netc matches.
"""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

LOOPBACK = IPNetwork("127.0.0.0/8")
LOOPBACK6 = IPAddress("::1")

# The ICMPv6 messages by which IPv6 finds a neighbour's link address (RFC 4861
# neighbour solicitation and advertisement; nft's names).
NEIGHBOUR_DISCOVERY = ("nd-neighbor-solicit", "nd-neighbor-advert")

# Connection-tracking states: a reply (or a related flow) of a tracked
# connection, and a connection whose destination a publish translated
# (iptables: --ctstate DNAT; nftables: ct status dnat).
ESTABLISHED = frozenset({"RELATED", "ESTABLISHED"})
NEW = frozenset({"NEW"})
TRANSLATED = frozenset({"DNAT"})

# (hook, kind) -> priority of the base chain; the kernel runs a hook's chains
# in ascending priority (iptables' nat PREROUTING is -100, filter FORWARD 0,
# nat POSTROUTING 100).
# The allow-lists of publishes are checked at mangle's priority (-150): after connection
# tracking (-200) knows a new connection, before nat (-100) translates it.
HOOKS = {
    ("prerouting", "mangle"): -150,
    ("output", "mangle"): -150,
    ("prerouting", "nat"): -100,
    ("output", "nat"): -100,
    ("prerouting", "mark"): -90,   # after nat (-100) translated a connection: nftables marks it (below)
    ("forward", "filter"): 0,
    ("forward", "bridge"): 0,      # the bridge family's forward hook: frames between two ports of one bridge
    ("postrouting", "nat"): 100,
}

# The bit of the packet mark the nftables backend sets on translated traffic that
# enters from one of its bridges (prerouting, after nat): where br_netfilter (another
# tool's) runs the IP hooks on bridged frames, a connection translated there to a
# container of the same bridge goes on as a bridged frame, which the bridge family's
# forward hook (no connection tracking there) recognizes by this bit and leaves to the
# IP hooks that judged it. Only this bit is set (the rest of the mark is kept); nothing
# else reads it. docs/semantics.md, "No br_netfilter with the nftables backend".
TRANSLATED_MARK = 0x01000000

# Addresses no bridge, container or p2p end can use: the kernel never routes them
# as a unicast destination (RFC 1122 3.2.1.3 and RFC 5735: "this network", loopback,
# multicast, the reserved class E with the limited broadcast 255.255.255.255).
UNUSABLE = (
    (IPNetwork("0.0.0.0/8"), "'this network': never a destination"),
    (LOOPBACK, "loopback: never leaves a namespace"),
    (IPNetwork("224.0.0.0/4"), "multicast: no interface takes it as its address"),
    (IPNetwork("240.0.0.0/4"), "reserved: never routed"),
)
BROADCAST = IPNetwork("255.255.255.255/32")
# Link-local (RFC 3927): usable on one link, but routers do not forward it.
LINK_LOCAL = IPNetwork("169.254.0.0/16")


def unusable(net: IPNetwork | IPAddress) -> str | None:
    """Why an address, or a network, cannot carry containers' traffic ("is in 127.0.0.0/8
    (loopback: ...)"); None when it can. A network that takes in any part of an
    unusable range is unusable."""
    cidr = net.cidr if isinstance(net, IPNetwork) else IPNetwork(f"{net}/32")
    if cidr == BROADCAST:
        return "is the broadcast address 255.255.255.255"
    for reserved, what in UNUSABLE:
        if cidr.network in reserved or reserved.network in cidr:
            verb = "is in" if cidr.prefixlen >= reserved.prefixlen else "takes in"
            return f"{verb} {reserved.cidr} ({what})"
    return None
