"""The nftables backend: netc's own table, replaced whole in one `nft -f` transaction.

rules.nft declares `table inet netc`, deletes it and defines it again, in one
file, so a re-apply is atomic and no other table is touched; teardown deletes
the table. (It deletes the `ip netc` table an earlier netc made, in the same
transaction.) The table is `inet`: one table for both families. Per-container
data lives in sets and maps, never in rules, each address-keyed one twice
(IPv4's, and IPv6's with a 6 after its name, declared when a bridge has IPv6):

    published   address . proto . port             translated traffic to accept
    links       parent . child . proto . port      link permissions (both directions)
    guard-any / guard-addr   [host .] proto . port     publishes with an allow-list
    allow-any / allow-addr   [host .] proto . port . network   who may reach them
    dnat-any    proto . port : address . port      publishes on every local address
    dnat-addr   host . proto . port : address . port   publishes on one host address
    bridges     netc's bridges (isolation)
    forward-in / forward-out   per-bridge dispatch: interface -> jump (verdict maps)

so the number of rules grows with the number of bridges only; traffic within a bridge
with icc false is filtered in a `bridge` table too, so the backend needs no br_netfilter
(nft_bridge.py, and BR_NETFILTER below); containers,
links and publishes add elements. A bridge's rules that are alike in both
families (replies, isolation, icc...) are one rule; one that exists in one
family only says so (`meta nfproto ipv4`). Comments carry the spec line: on rules the
line and what it says, as in the iptables backend; on elements only FILE:LINE,
since the kernel stores every element's comment and loading 10,000 elements
costs in proportion to their bytes (bench/RESULTS.md). A set takes
`flags interval` only when one of its elements holds a port range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netaddr import IPNetwork

from .. import ir
from ..values import Family, PortRange
from . import nft_bridge
from .base import Rendered, RulesFile, Unsupported
from ..kernel import ESTABLISHED, HOOKS, LOOPBACK, NEIGHBOUR_DISCOVERY, NEW, TRANSLATED
from .rules import Element, Lookup, Match, Neg, Rule, Ruleset, Verdict
from .nft_text import _ranged, element_text, rule_text  # noqa: F401 (rule_text: the Backend's)

V4, V6 = Family.V4, Family.V6

NAME = "nftables"
FIREWALL = True
BR_NETFILTER = False   # sees traffic within a bridge in its bridge table: no net.bridge.* sysctl, no module
TABLE = "netc"
FAMILY = "inet"
OLD_FAMILY = "ip"    # netc's table before dual stack: rules.nft deletes it
# The administrator's own chain in netc's table: jumped to first from filter-forward, kept with
# its rules across every load (nft_load in the engine replaces netc's chains, sets and maps, not
# it), and kept by teardown (with the table) while it holds rules.
USER = "user-forward"
USER_NOTE = ir.Origin("", 0, "rules of the administrator (user-forward: netc never flushes it)")
# The sets keyed by addresses, IPv4's and IPv6's ("published" and "published6").
_BY_ADDRESS = {
    "published": "{a} . inet_proto . inet_service",
    "links": "{a} . {a} . inet_proto . inet_service",
    "dnat-any": "inet_proto . inet_service : {a} . inet_service",
    "dnat-addr": "{a} . inet_proto . inet_service : {a} . inet_service",
    "guard-any": "inet_proto . inet_service",
    "guard-addr": "{a} . inet_proto . inet_service",
    "allow-any": "inet_proto . inet_service . {a}",
    "allow-addr": "{a} . inet_proto . inet_service . {a}",
}
SET_TYPES = {
    "bridges": "ifname",
    **{n: t.format(a="ipv4_addr") for n, t in _BY_ADDRESS.items()},
    **{n + "6": t.format(a="ipv6_addr") for n, t in _BY_ADDRESS.items()},
    "forward-in": "ifname : verdict",
    "forward-out": "ifname : verdict",
    **nft_bridge.SETS,     # the bridge table's own (a set belongs to one table)
}


def set_name(name: str, family: Family) -> str:
    """A per-address set's name in FAMILY: published, published6."""
    return name if family is V4 else name + "6"
BASE = {  # chain: (hook, kind)
    "guard-prerouting": ("prerouting", "mangle"),
    "guard-output": ("output", "mangle"),
    "filter-forward": ("forward", "filter"),
    "nat-prerouting": ("prerouting", "nat"),
    "nat-output": ("output", "nat"),
    "nat-postrouting": ("postrouting", "nat"),
}


def _merge(elements: list[Element]) -> list[Element]:
    """Interval sets refuse overlapping elements: merge port ranges that share the other fields."""
    groups: dict[tuple, list[Element]] = {}
    for e in elements:
        groups.setdefault(e.key[:-1], []).append(e)
    out = []
    for prefix, items in groups.items():
        items.sort(key=lambda e: e.key[-1])
        merged: list[Element] = []
        for e in items:
            if merged and e.key[-1].lo <= merged[-1].key[-1].hi + 1:
                last = merged[-1]
                hi = max(last.key[-1].hi, e.key[-1].hi)
                merged[-1] = Element(prefix + (PortRange(last.key[-1].lo, hi),), None, last.origin)
            else:
                merged.append(e)
        out.extend(merged)
    return out


def _note(text: str) -> ir.Origin:
    return ir.Origin("", 0, text)


@dataclass
class _BridgeRules:
    """What the IR says of one bridge, per family; its chains are laid out from this in a fixed order."""
    reply: dict = field(default_factory=dict)       # family -> origin
    isolate: dict = field(default_factory=dict)
    protect: dict = field(default_factory=dict)
    neighbours: dict = field(default_factory=dict)
    icc: dict = field(default_factory=dict)         # family -> (accept, origin)
    outgoing: dict = field(default_factory=dict)


def _one(by_family: dict) -> tuple[Family | None, object]:
    """A rule alike in each family it has: one rule, limited to a family only when it has one."""
    family = None if len(by_family) == 2 else next(iter(by_family))
    return family, by_family.get(V4, by_family.get(V6))


def ruleset(network: ir.Network) -> Ruleset:
    """netc's table: per-bridge chains reached through verdict maps, per-container data in sets.

    Each bridge's chains are laid out in one fixed order (replies, isolation,
    protection, publishes, links, neighbour discovery, icc), whatever order the
    IR lists its rules in; the IR's order only orders the elements of each set."""
    rs = Ruleset(NAME)
    families = (V4, V6) if any(r.family is V6 for r in network.rules) else (V4,)
    for name in SET_TYPES:
        if not name.endswith("6") or V6 in families:
            rs.sets[name] = []
    for chain, (hook, kind) in BASE.items():
        rs.chain(TABLE, chain, hook=hook, kind=kind, priority=HOOKS[(hook, kind)])
    rs.chain(TABLE, "publish")
    rs.chain(TABLE, "guard")
    rs.chain(TABLE, USER)

    def add(chain: str, match: Match, verdict: Verdict, origin=None, **kw) -> None:
        rs.add(Rule(TABLE, chain, match, verdict, origin=origin, **kw))

    # Dispatch: packets into a bridge, then packets out of one; local destinations to the publishes
    # (not loopback from outside, nor IPv6's, which the kernel cannot send to a container).
    add("filter-forward", Match(), Verdict.JUMP, USER_NOTE, target=USER)
    add("filter-forward", Match(), Verdict.VMAP, vmap=("oif", "forward-in"))
    add("filter-forward", Match(), Verdict.VMAP, vmap=("iif", "forward-out"))
    ports = ("proto", "dport")
    for fam in families:
        loop = Neg(LOOPBACK) if fam is V4 else Neg(IPNetwork("::1/128"))
        add("nat-prerouting", Match(daddr=loop, dst_local=True), Verdict.JUMP, target="publish")
        add("nat-output", Match(daddr=None if fam is V4 else loop, dst_local=True, family=fam), Verdict.JUMP,
            target="publish")
    # Allow-lists: a new connection to a local address whose publish has a list (@guard-*) and whose
    # source is in none of its networks (@allow-*) is dropped before translation.
    for chain in ("guard-prerouting", "guard-output"):
        add(chain, Match(dst_local=True, ctstate=NEW), Verdict.JUMP, target="guard")
    for fam in families:
        for kind, keys in (("any", ports), ("addr", ("daddr",) + ports)):
            guard, allow = set_name(f"guard-{kind}", fam), set_name(f"allow-{kind}", fam)
            add("guard", Match(family=fam, lookups=(Lookup(keys, guard), Lookup(keys + ("saddr",), allow, True))),
                Verdict.DROP, _note(f"allow-lists: the elements of @{guard} say which publish"))
    for fam in families:
        add("publish", Match(family=fam), Verdict.DNAT, dnat_map=(("daddr",) + ports, set_name("dnat-addr", fam)))
        add("publish", Match(family=fam), Verdict.DNAT, dnat_map=(ports, set_name("dnat-any", fam)))

    bridges = {b.name: _BridgeRules() for b in network.bridges}
    postrouting: dict[tuple, dict] = {}   # (kind, bridge or family) -> family -> (match, origin)
    hairpin: dict[tuple, ir.Origin] = {}  # (bridge, family) with a publish -> the first one's origin (its comment)
    subnet = {(b.name, fam): n for b in network.bridges for fam, n in ((V4, b.network), (V6, b.network6)) if n}
    bridge_of = lambda a: next(b for (b, _), n in subnet.items() if a in n)  # noqa: E731
    for rule in network.rules:
        o, fam = rule.origin, rule.family
        if isinstance(rule, ir.Reply):
            bridges[rule.bridge].reply[fam] = o
        elif isinstance(rule, ir.Isolate):  # one rule per bridge: every other bridge, through the set
            bridges[rule.to].isolate.setdefault(fam, o)
        elif isinstance(rule, ir.Protect):
            bridges[rule.bridge].protect[fam] = o
        elif isinstance(rule, ir.Neighbours):
            bridges[rule.bridge].neighbours[fam] = o
        elif isinstance(rule, ir.PublishAccept):
            rs.sets[set_name("published", fam)].append(Element((rule.address, rule.proto, rule.ports), None, o))
        elif isinstance(rule, ir.LinkAccept):
            rs.sets[set_name("links", fam)].append(Element((rule.parent, rule.child, rule.proto, rule.ports), None, o))
        elif isinstance(rule, ir.Icc):
            bridges[rule.bridge].icc[fam] = (rule.accept, o)
        elif isinstance(rule, ir.Outgoing):
            bridges[rule.bridge].outgoing[fam] = o
        elif isinstance(rule, ir.Dnat):
            for h, c in zip(rule.host_ports, rule.ports):
                one, to = PortRange(h, h), (rule.address, PortRange(c, c))
                if rule.host_ip is None:
                    rs.sets[set_name("dnat-any", fam)].append(Element((rule.proto, one), to, o))
                else:
                    rs.sets[set_name("dnat-addr", fam)].append(Element((rule.host_ip, rule.proto, one), to, o))
        elif isinstance(rule, ir.Guard):
            kind = "any" if rule.host_ip is None else "addr"
            at = () if rule.host_ip is None else (rule.host_ip,)
            rs.sets[set_name(f"guard-{kind}", fam)].append(Element(at + (rule.proto, rule.host_ports), None, o))
            rs.sets[set_name(f"allow-{kind}", fam)].extend(Element(at + (rule.proto, rule.host_ports, n), None, o)
                                                           for n in rule.allow)
        elif isinstance(rule, ir.MasqueradeLocal):
            postrouting.setdefault(("local", rule.bridge), {})[fam] = (Match(oif=rule.bridge, src_local=True), o)
        elif isinstance(rule, ir.Masquerade):
            postrouting.setdefault(("masq", rule.bridge, fam), {})[fam] = \
                (Match(saddr=rule.network, oif=Neg(rule.bridge)), o)
        elif isinstance(rule, ir.Hairpin):   # per bridge, not per publish (below)
            hairpin.setdefault((bridge_of(rule.address), fam), o)
        else:
            raise Unsupported(f"nftables: no lowering for {type(rule).__name__}")  # a new IR rule kind needs a lowering

    def each(chain: str, by_family: dict, match: Match, verdict: Verdict | None = None) -> None:
        if by_family:
            fam, o = _one(by_family)
            if isinstance(o, tuple):  # icc: (accept, origin)
                verdict, o = Verdict.ACCEPT if o[0] else Verdict.DROP, o[1]
            add(chain, Match(**{**_fields(match), "family": fam}), verdict, o)

    for b, r in bridges.items():
        if not r.reply:
            continue  # not a bridge of netc's firewall (a hand-built IR without its rules)
        origin = _one(r.reply)[1]
        rs.sets["bridges"].append(Element((b,), None, origin))
        rs.sets["forward-in"].append(Element((b,), f"fwd-in-{b}", origin))
        rs.sets["forward-out"].append(Element((b,), f"fwd-out-{b}", origin))
        chain = f"fwd-in-{b}"
        each(chain, r.reply, Match(ctstate=ESTABLISHED), Verdict.ACCEPT)
        each(chain, r.isolate, Match(iif=Neg(b), iif_set="bridges", ctstate=Neg(TRANSLATED)), Verdict.DROP)
        each(chain, r.protect, Match(iif=Neg(b), ctstate=Neg(TRANSLATED)), Verdict.DROP)
        for fam in r.reply:
            add(chain, Match(ctstate=TRANSLATED, family=fam,
                             lookups=(Lookup(("daddr", "proto", "dport"), set_name("published", fam)),)),
                Verdict.ACCEPT, _note(f"published ports: the elements of @{set_name('published', fam)} say which "
                                      "publish"))
        for fam in r.reply:
            links = set_name("links", fam)
            add(chain, Match(iif=b, family=fam, lookups=(Lookup(("saddr", "daddr", "proto", "dport"), links),)),
                Verdict.ACCEPT, _note(f"links: the elements of @{links} say which link"))
            add(chain, Match(iif=b, family=fam, lookups=(Lookup(("daddr", "saddr", "proto", "sport"), links),)),
                Verdict.ACCEPT, _note(f"links, replies: the elements of @{links} say which link"))
        each(chain, r.neighbours, Match(iif=b, icmp6=NEIGHBOUR_DISCOVERY), Verdict.ACCEPT)
        each(chain, r.icc, Match(iif=b))
    for b, r in bridges.items():
        each(f"fwd-out-{b}", r.outgoing, Match(oif=Neg(b)), Verdict.ACCEPT)
    for by_family in postrouting.values():
        fam, (match, o) = _one(by_family)
        add("nat-postrouting", Match(**{**_fields(match), "family": fam if match.saddr is None else None}),
            Verdict.MASQUERADE, o)
    # Hairpin: a container reaching a publish of a container of its own bridge (itself included). Without
    # br_netfilter the reply would be bridged straight back and never translated back by the host: so the
    # connection leaves the host from the bridge's address, as with Docker's userland proxy and Podman.
    for (b, fam), o in hairpin.items():
        add("nat-postrouting", Match(oif=b, saddr=subnet[(b, fam)], ctstate=TRANSLATED), Verdict.MASQUERADE, o)
    for name in ("published", "links"):
        for fam in families:
            rs.sets[set_name(name, fam)] = _merge(rs.sets[set_name(name, fam)])
    nft_bridge.add(rs, network, bridges, families, TABLE)
    return rs


def _fields(match: Match) -> dict:
    return {f: getattr(match, f) for f in Match.__dataclass_fields__}


def render(network: ir.Network) -> Rendered:
    """The backend's part of the output tree: rules.nft (netc's inet table, and its bridge table)."""
    rs = ruleset(network)
    sets: dict[bool, list] = {False: [], True: []}    # in the bridge table?
    for n in rs.sets:
        sets[n in nft_bridge.SETS].append({"name": n, "type": SET_TYPES[n], "kind": "map" if ":" in SET_TYPES[n] else "set",
                                       "interval": n.startswith("allow-") or _ranged(rs.sets[n]),
                                       "elements": [element_text(n, e) for e in rs.sets[n]]})
    chains: dict[bool, list] = {False: [], True: []}
    for chain in rs.chains.values():
        base = None
        if chain.hook:
            kind = chain.kind if chain.kind in ("filter", "nat") else "filter"   # mangle (-150), mark, bridge
            base = f"type {kind} hook {chain.hook} priority {chain.priority}; policy accept;"
        chains[chain.table == nft_bridge.TABLE].append({"name": chain.name, "base": base,
                                                    "rules": [rule_text(r) for r in chain.rules]})
    return Rendered({"rules.nft": RulesFile("rules.nft.j2", {"table": TABLE, "family": FAMILY, "old": OLD_FAMILY,
                                                             "user": USER, "sets": sets[False], "chains": chains[False],
                                                             "bridge_sets": sets[True],
                                                             "bridge_chains": chains[True]})}, rs.rule_count)


def runtime() -> dict:
    """What the firewall object's commands name (templates/objects.j2): netc's table, its family,
    and the family of the table an earlier netc made."""
    return {"nft_table": TABLE, "nft_family": FAMILY, "nft_old_family": OLD_FAMILY, "nft_user": USER}
