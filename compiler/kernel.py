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

# Connection-tracking states: a reply (or a related flow) of a tracked
# connection, and a connection whose destination a publish translated
# (iptables: --ctstate DNAT; nftables: ct status dnat).
ESTABLISHED = frozenset({"RELATED", "ESTABLISHED"})
TRANSLATED = frozenset({"DNAT"})

# (hook, kind) -> priority of the base chain; the kernel runs a hook's chains
# in ascending priority (iptables' nat PREROUTING is -100, filter FORWARD 0,
# nat POSTROUTING 100).
HOOKS = {
    ("prerouting", "nat"): -100,
    ("output", "nat"): -100,
    ("forward", "filter"): 0,
    ("postrouting", "nat"): 100,
}
