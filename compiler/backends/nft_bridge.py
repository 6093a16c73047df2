"""The nftables backend without br_netfilter: `table bridge netc`, and what it needs of `inet netc`.

Traffic between two containers of one bridge is bridged, not routed: the IP hooks see
it only through br_netfilter with net.bridge.bridge-nf-call-iptables=1, which turns on
IP filtering for every bridge of the host. The nftables backend needs neither: the
bridge family's forward hook sees those frames directly. Each port (a container's host
veth) of a bridge with icc false dispatches to the bridge's chain (@ports), which

  - accepts frames carrying kernel.TRANSLATED_MARK: where br_netfilter is on anyway
    (another tool's), a connection a publish translated to a container of the very
    bridge it came from goes on as a bridged frame; the IP hooks judged it (with
    connection tracking, which the bridge family of this kernel does not have), and
    `inet netc` marked it in prerouting, after nat, for this rule;
  - accepts its links (@bridged-links: the inet table's elements, in both directions,
    stateless as Docker's) and IPv6 neighbour discovery;
  - drops the rest of IPv4 and IPv6 (ARP passes).

This kernel refuses `meta ibrname` and `ct` in the bridge family: ports are matched by
name. A bridge with icc true has no chain (the bridge forwards everything), and a
network without an icc false bridge has no bridge table at all (rules.nft deletes one
an earlier tree made).

The other half of going without br_netfilter is in nftables.py: a container reaching a
publish of a container on its own bridge is masqueraded, or the reply, bridged straight
back, would never pass the host's connection tracking to be translated back.
"""

from __future__ import annotations

from .. import ir
from ..kernel import HOOKS, NEIGHBOUR_DISCOVERY, TRANSLATED
from ..values import Family, NetKind
from .rules import Element, Lookup, Match, Rule, Ruleset, Verdict

TABLE = "netc-bridge"        # the Ruleset's name of `table bridge netc`
LINKS = "bridged-links"
SETS = {
    "ports": "ifname : verdict",
    LINKS: "ipv4_addr . ipv4_addr . inet_proto . inet_service",
    LINKS + "6": "ipv6_addr . ipv6_addr . inet_proto . inet_service",
}
MARK_CHAIN = "mark-translated"


def _name(name: str, family: Family) -> str:
    return name if family is Family.V4 else name + "6"


def _note(text: str) -> ir.Origin:
    return ir.Origin("", 0, text)


def add(rs: Ruleset, network: ir.Network, bridges: dict, families, inet_table: str) -> None:
    """The bridge table's chains and sets for every bridge with icc false, and the rule of
    `inet netc` that marks translated traffic for them. `bridges`: name -> the nftables
    backend's per-bridge rules (icc: family -> (accept, origin); neighbours: family -> origin)."""
    closed = {b: r for b, r in bridges.items() if r.icc and not all(accept for accept, _ in r.icc.values())}
    if not closed:
        return
    rs.chain(inet_table, MARK_CHAIN, hook="prerouting", kind="mark", priority=HOOKS[("prerouting", "mark")])
    rs.add(Rule(inet_table, MARK_CHAIN, Match(iif_set="bridges", ctstate=TRANSLATED), Verdict.MARK,
                origin=_note("translated on a bridge of netc: the bridge table lets it through where "
                             "br_netfilter bridges it")))
    rs.chain(TABLE, "forward", hook="forward", kind="bridge", priority=HOOKS[("forward", "bridge")])
    rs.sets["ports"] = [Element((c.host_veth,), f"br-{c.bridge}", c.origin) for c in network.containers
                        if c.mode is NetKind.BRIDGE and c.bridge in closed and c.host_veth and not c.shares]
    for fam in families:
        rs.sets[_name(LINKS, fam)] = list(rs.sets[_name("links", fam)])
    rs.add(Rule(TABLE, "forward", Match(), Verdict.VMAP, vmap=("iif", "ports")))
    for b, r in closed.items():
        chain = f"br-{b}"
        rs.chain(TABLE, chain)
        rs.add(Rule(TABLE, chain, Match(marked=True), Verdict.ACCEPT,
                    origin=_note("translated by a publish, judged by the IP hooks (br_netfilter)")))
        drop = [f for f, (accept, _) in r.icc.items() if not accept]
        for fam in drop:
            links = _name(LINKS, fam)
            rs.add(Rule(TABLE, chain, Match(family=fam, lookups=(Lookup(("saddr", "daddr", "proto", "dport"), links),)),
                        Verdict.ACCEPT, origin=_note(f"links: the elements of @{links} say which link")))
            rs.add(Rule(TABLE, chain, Match(family=fam, lookups=(Lookup(("daddr", "saddr", "proto", "sport"), links),)),
                        Verdict.ACCEPT, origin=_note(f"links, replies: the elements of @{links} say which link")))
        if r.neighbours:
            rs.add(Rule(TABLE, chain, Match(icmp6=NEIGHBOUR_DISCOVERY), Verdict.ACCEPT,
                        origin=next(iter(r.neighbours.values()))))
        rs.add(Rule(TABLE, chain, Match(l3=True, family=None if len(drop) == 2 else drop[0]), Verdict.DROP,
                    origin=r.icc[drop[0]][1]))
