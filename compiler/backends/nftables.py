"""The nftables backend: netc's own table, replaced whole in one `nft -f` transaction.

rules.nft declares `table ip netc`, deletes it and defines it again, in one
file, so a re-apply is atomic and no other table is touched; teardown deletes
the table. Per-container data lives in sets and maps, never in rules:

    published   address . proto . port             translated traffic to accept
    links       parent . child . proto . port      link permissions (both directions)
    hairpin     address . address . proto . port   a container reaching its own publish
    dnat-any    proto . port : address . port      publishes on every local address
    dnat-addr   host . proto . port : address . port   publishes on one host address
    bridges     netc's bridges (isolation)
    forward-in / forward-out   per-bridge dispatch: interface -> jump (verdict maps)

so the number of rules grows with the number of bridges only; containers,
links and publishes add elements. Comments carry the spec line: on rules the
line and what it says, as in the iptables backend; on elements only FILE:LINE,
since the kernel stores every element's comment and loading 10,000 elements
costs in proportion to their bytes (bench/RESULTS.md). A set takes
`flags interval` only when one of its elements holds a port range.
"""

from __future__ import annotations

from dataclasses import dataclass

from netaddr import IPNetwork

from .. import ir
from ..quote import nft_string
from ..values import PortRange, Proto
from .base import Rendered, RulesFile, Unsupported
from ..kernel import ESTABLISHED, HOOKS, LOOPBACK, TRANSLATED
from .rules import Element, Lookup, Match, Neg, Rule, Ruleset, Verdict

NAME = "nftables"
FIREWALL = True
TABLE = "netc"
SET_TYPES = {
    "bridges": "ifname",
    "published": "ipv4_addr . inet_proto . inet_service",
    "links": "ipv4_addr . ipv4_addr . inet_proto . inet_service",
    "hairpin": "ipv4_addr . ipv4_addr . inet_proto . inet_service",
    "dnat-any": "inet_proto . inet_service : ipv4_addr . inet_service",
    "dnat-addr": "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
    "forward-in": "ifname : verdict",
    "forward-out": "ifname : verdict",
}
BASE = {  # chain: (hook, kind)
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
    """What the IR says of one bridge; its chains are laid out from this in a fixed order."""
    reply: ir.Origin | None = None
    isolate: ir.Origin | None = None
    protect: ir.Origin | None = None
    icc: tuple[bool, ir.Origin] | None = None
    outgoing: ir.Origin | None = None


def ruleset(network: ir.Network) -> Ruleset:
    """netc's table: per-bridge chains reached through verdict maps, per-container data in sets.

    Each bridge's chains are laid out in one fixed order (replies, isolation,
    protection, publishes, links, icc), whatever order the IR lists its rules
    in; the IR's order only orders the elements of each set."""
    rs = Ruleset(NAME)
    for name in SET_TYPES:
        rs.sets[name] = []
    for chain, (hook, kind) in BASE.items():
        rs.chain(TABLE, chain, hook=hook, kind=kind, priority=HOOKS[(hook, kind)])
    rs.chain(TABLE, "publish")

    def add(chain: str, match: Match, verdict: Verdict, origin=None, **kw) -> None:
        rs.add(Rule(TABLE, chain, match, verdict, origin=origin, **kw))

    # Dispatch: packets into a bridge, then packets out of one.
    add("filter-forward", Match(), Verdict.VMAP, vmap=("oif", "forward-in"))
    add("filter-forward", Match(), Verdict.VMAP, vmap=("iif", "forward-out"))
    add("nat-prerouting", Match(daddr=Neg(LOOPBACK), dst_local=True), Verdict.JUMP, target="publish")
    add("nat-output", Match(dst_local=True), Verdict.JUMP, target="publish")
    ports = ("proto", "dport")
    add("publish", Match(lookups=()), Verdict.DNAT, dnat_map=(("daddr",) + ports, "dnat-addr"))
    add("publish", Match(lookups=()), Verdict.DNAT, dnat_map=(ports, "dnat-any"))

    bridges = {b.name: _BridgeRules() for b in network.bridges}
    published, links, hairpin, postrouting = [], [], [], []
    for rule in network.rules:
        o = rule.origin
        if isinstance(rule, ir.Reply):
            bridges[rule.bridge].reply = o
        elif isinstance(rule, ir.Isolate):  # one rule per bridge: every other bridge, through the set
            bridges[rule.to].isolate = bridges[rule.to].isolate or o
        elif isinstance(rule, ir.Protect):
            bridges[rule.bridge].protect = o
        elif isinstance(rule, ir.PublishAccept):
            published.append(Element((rule.address, rule.proto, rule.ports), None, o))
        elif isinstance(rule, ir.LinkAccept):
            links.append(Element((rule.parent, rule.child, rule.proto, rule.ports), None, o))
        elif isinstance(rule, ir.Icc):
            bridges[rule.bridge].icc = (rule.accept, o)
        elif isinstance(rule, ir.Outgoing):
            bridges[rule.bridge].outgoing = o
        elif isinstance(rule, ir.Dnat):
            for h, c in zip(rule.host_ports, rule.ports):
                one, to = PortRange(h, h), (rule.address, PortRange(c, c))
                if rule.host_ip is None:
                    rs.sets["dnat-any"].append(Element((rule.proto, one), to, o))
                else:
                    rs.sets["dnat-addr"].append(Element((rule.host_ip, rule.proto, one), to, o))
        elif isinstance(rule, ir.MasqueradeLocal):
            postrouting.append((Match(oif=rule.bridge, src_local=True), o))
        elif isinstance(rule, ir.Masquerade):
            postrouting.append((Match(saddr=rule.network, oif=Neg(rule.bridge)), o))
        elif isinstance(rule, ir.Hairpin):
            hairpin.append(Element((rule.address, rule.address, rule.proto, rule.ports), None, o))
        else:
            raise Unsupported(f"nftables: no lowering for {type(rule).__name__}")  # a new IR rule kind needs a lowering

    for b, r in bridges.items():
        if r.reply is None:
            continue  # not a bridge of netc's firewall (a hand-built IR without its rules)
        rs.sets["bridges"].append(Element((b,), None, r.reply))
        rs.sets["forward-in"].append(Element((b,), f"fwd-in-{b}", r.reply))
        rs.sets["forward-out"].append(Element((b,), f"fwd-out-{b}", r.reply))
        chain = f"fwd-in-{b}"
        add(chain, Match(ctstate=ESTABLISHED), Verdict.ACCEPT, r.reply)
        if r.isolate:
            add(chain, Match(iif=Neg(b), iif_set="bridges", ctstate=Neg(TRANSLATED)), Verdict.DROP, r.isolate)
        if r.protect:
            add(chain, Match(iif=Neg(b), ctstate=Neg(TRANSLATED)), Verdict.DROP, r.protect)
        add(chain, Match(ctstate=TRANSLATED, lookups=(Lookup(("daddr", "proto", "dport"), "published"),)),
            Verdict.ACCEPT, _note("published ports: the elements of @published say which publish"))
        add(chain, Match(iif=b, lookups=(Lookup(("saddr", "daddr", "proto", "dport"), "links"),)),
            Verdict.ACCEPT, _note("links: the elements of @links say which link"))
        add(chain, Match(iif=b, lookups=(Lookup(("daddr", "saddr", "proto", "sport"), "links"),)),
            Verdict.ACCEPT, _note("links, replies: the elements of @links say which link"))
        if r.icc:
            add(chain, Match(iif=b), Verdict.ACCEPT if r.icc[0] else Verdict.DROP, r.icc[1])
    for b, r in bridges.items():
        if r.outgoing:
            add(f"fwd-out-{b}", Match(oif=Neg(b)), Verdict.ACCEPT, r.outgoing)
    for match, o in postrouting:
        add("nat-postrouting", match, Verdict.MASQUERADE, o)
    if hairpin:
        add("nat-postrouting", Match(lookups=(Lookup(("saddr", "daddr", "proto", "dport"), "hairpin"),)),
            Verdict.MASQUERADE, _note("hairpin: the elements of @hairpin say which publish"))
    rs.sets["published"] = _merge(published)
    rs.sets["links"] = _merge(links)
    rs.sets["hairpin"] = _merge(hairpin)
    return rs


# ------------------------------------------------------------------ text

FIELD = {"saddr": "ip saddr", "daddr": "ip daddr", "proto": "meta l4proto", "sport": "th sport", "dport": "th dport"}


def _ports(p: PortRange) -> str:
    return str(p.lo) if p.lo == p.hi else f"{p.lo}-{p.hi}"


def _value(v) -> str:
    if isinstance(v, PortRange):
        return _ports(v)
    if isinstance(v, Proto):
        return v.value
    if isinstance(v, IPNetwork):
        return str(v.ip) if v.prefixlen == 32 else f"{v.network}/{v.prefixlen}"
    return str(v)


def _comment(origin) -> str:
    return f" comment {nft_string(str(origin))}" if origin else ""


def _cmp(word: str, value, quote: bool = False) -> list[str]:
    if value is None:
        return []
    neg = isinstance(value, Neg)
    v = _value(value.value if neg else value)
    if quote:
        v = f'"{v}"'
    return [word] + (["!="] if neg else []) + [v]


def rule_text(r: Rule) -> str:
    m = r.match
    out: list[str] = []
    out += _cmp("iifname", m.iif, True)
    if m.iif_set:
        out += ["iifname", f"@{m.iif_set}"]
    out += _cmp("oifname", m.oif, True)
    if m.oif_set:
        out += ["oifname", f"@{m.oif_set}"]
    out += _cmp("ip saddr", m.saddr)
    out += _cmp("ip daddr", m.daddr)
    if m.proto is not None:
        out += ["meta l4proto", m.proto.value]
    if m.sport is not None:
        out += ["th sport", _ports(m.sport)]
    if m.dport is not None:
        out += ["th dport", _ports(m.dport)]
    if m.src_local:
        out += ["fib saddr type local"]
    if m.dst_local:
        out += ["fib daddr type local"]
    if m.ctstate is not None:
        neg = isinstance(m.ctstate, Neg)
        states = m.ctstate.value if neg else m.ctstate
        if states == TRANSLATED:
            # ct status is a bitmask: `ct status dnat` tests the flag, but
            # `ct status != dnat` would compare the whole mask.
            out += ["ct status & dnat == 0"] if neg else ["ct status dnat"]
        else:
            out += ["ct state", "!=" if neg else "", ",".join(s.lower() for s in sorted(states))]
    for lookup in m.lookups:
        if any(f in ("sport", "dport") for f in lookup.fields):
            out += ["meta l4proto { tcp, udp }"]
        out += [" . ".join(FIELD[f] for f in lookup.fields), f"@{lookup.set}"]
    if r.verdict is Verdict.VMAP:
        out += [f"{r.vmap[0]}name vmap @{r.vmap[1]}"]
    elif r.verdict is Verdict.JUMP:
        out += ["jump", r.target]
    elif r.verdict is Verdict.DNAT:
        fields, mapname = r.dnat_map
        out += ["meta l4proto { tcp, udp }", "dnat ip to", " . ".join(FIELD[f] for f in fields), "map", f"@{mapname}"]
    else:
        out += [r.verdict.value.lower()]
    return " ".join(w for w in out if w) + _comment(r.origin)


def _element_comment(origin) -> str:
    if not origin:
        return ""
    return _comment(f"{origin.file}:{origin.line}" if origin.line else origin.text)


def element_text(name: str, e: Element) -> str:
    key = " . ".join(f'"{k}"' if name in ("bridges", "forward-in", "forward-out") else _value(k) for k in e.key)
    if e.value is None:
        return key + _element_comment(e.origin)
    if isinstance(e.value, str):
        return f"{key} : jump {e.value}"
    return f"{key}{_element_comment(e.origin)} : {_value(e.value[0])} . {_value(e.value[1])}"


def _ranged(elements: list[Element]) -> bool:
    """Whether a set needs `flags interval`: one of its keys is a port range."""
    return any(isinstance(k, PortRange) and k.lo != k.hi for e in elements for k in e.key)


def render(network: ir.Network) -> Rendered:
    """The backend's part of the output tree: rules.nft."""
    rs = ruleset(network)
    sets = [{"name": n, "type": SET_TYPES[n], "kind": "map" if ":" in SET_TYPES[n] else "set",
             "interval": _ranged(rs.sets[n]), "elements": [element_text(n, e) for e in rs.sets[n]]} for n in SET_TYPES]
    chains = []
    for chain in rs.chains.values():
        base = None
        if chain.hook:
            base = f"type {chain.kind} hook {chain.hook} priority {chain.priority}; policy accept;"
        chains.append({"name": chain.name, "base": base, "rules": [rule_text(r) for r in chain.rules]})
    return Rendered({"rules.nft": RulesFile("rules.nft.j2", {"table": TABLE, "sets": sets, "chains": chains})},
                    rs.rule_count)


def runtime() -> dict:
    """What the firewall object's commands name (templates/objects.j2): netc's table."""
    return {"nft_table": TABLE}
