"""The iptables backend: the IR's rules as `iptables-restore --noflush` input.

netc's rules live in its own chains, which the transaction declares (and so
flushes) and refills: NETC-FORWARD in filter, NETC-DNAT and NETC-POSTROUTING
in nat. The jumps from the built-in chains are not part of the transaction:
apply ensures each once (check, then insert), as kube-proxy does, so netc
never flushes a chain it does not own. Every rule carries a comment naming
the spec line it comes from, so `iptables -L` explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from ..quote import ipt_comment
from ..values import PortRange
from .base import Rendered, RulesFile, Unsupported
from ..kernel import ESTABLISHED, HOOKS, LOOPBACK, TRANSLATED
from .rules import Match, Neg, Rule, Ruleset, Verdict, net

NAME = "iptables"
FIREWALL = True
FORWARD, DNAT, POSTROUTING = "NETC-FORWARD", "NETC-DNAT", "NETC-POSTROUTING"
CHAINS = {"filter": (FORWARD,), "nat": (DNAT, POSTROUTING)}


@dataclass(frozen=True, slots=True)
class Jump:
    """A jump from a built-in chain into netc's, ensured once by apply."""
    table: str
    chain: str
    rule: Rule


def jumps() -> tuple[Jump, ...]:
    """The jumps into netc's chains, in the order apply inserts them."""
    return (
        Jump("filter", "FORWARD", Rule("filter", "FORWARD", Match(), Verdict.JUMP, FORWARD)),
        # Local destinations only; 127/8 never arrives from outside (the
        # loopback publishes are reached through OUTPUT).
        Jump("nat", "PREROUTING", Rule("nat", "PREROUTING", Match(daddr=Neg(LOOPBACK), dst_local=True),
                                       Verdict.JUMP, DNAT)),
        Jump("nat", "OUTPUT", Rule("nat", "OUTPUT", Match(dst_local=True), Verdict.JUMP, DNAT)),
        Jump("nat", "POSTROUTING", Rule("nat", "POSTROUTING", Match(), Verdict.JUMP, POSTROUTING)),
    )


def lower(rule: ir.Rule) -> list[Rule]:
    """One IR rule -> the iptables rules that implement it."""
    o, kind = rule.origin, type(rule).__name__
    f = lambda match, verdict, **kw: Rule("filter", FORWARD, match, verdict, origin=o, **kw)
    nat = lambda chain, match, verdict, **kw: Rule("nat", chain, match, verdict, origin=o, **kw)
    if isinstance(rule, ir.Reply):
        return [f(Match(oif=rule.bridge, ctstate=ESTABLISHED), Verdict.ACCEPT)]
    if isinstance(rule, ir.Isolate):
        return [f(Match(iif=rule.frm, oif=rule.to, ctstate=Neg(TRANSLATED)), Verdict.DROP)]
    if isinstance(rule, ir.Protect):
        return [f(Match(iif=Neg(rule.bridge), oif=rule.bridge, ctstate=Neg(TRANSLATED)), Verdict.DROP)]
    if isinstance(rule, ir.PublishAccept):
        return [f(Match(oif=rule.bridge, daddr=net(rule.address), proto=rule.proto, dport=rule.ports,
                        ctstate=TRANSLATED), Verdict.ACCEPT)]
    if isinstance(rule, ir.LinkAccept):
        return [
            f(Match(iif=rule.bridge, oif=rule.bridge, saddr=net(rule.parent), daddr=net(rule.child),
                    proto=rule.proto, dport=rule.ports), Verdict.ACCEPT),
            f(Match(iif=rule.bridge, oif=rule.bridge, saddr=net(rule.child), daddr=net(rule.parent),
                    proto=rule.proto, sport=rule.ports), Verdict.ACCEPT),
        ]
    if isinstance(rule, ir.Icc):
        return [f(Match(iif=rule.bridge, oif=rule.bridge), Verdict.ACCEPT if rule.accept else Verdict.DROP)]
    if isinstance(rule, ir.Outgoing):
        return [f(Match(iif=rule.bridge, oif=Neg(rule.bridge)), Verdict.ACCEPT)]
    if isinstance(rule, ir.Dnat):
        daddr = net(rule.host_ip) if rule.host_ip is not None else None
        if rule.host_ports == rule.ports:  # the same ports: one rule, the port is kept
            to = rule.ports if len(rule.ports) == 1 else None
            return [nat(DNAT, Match(daddr=daddr, proto=rule.proto, dport=rule.host_ports), Verdict.DNAT,
                        to_addr=rule.address, to_ports=to)]
        # Shifted ranges (8000-8002:80-82): one rule per port, as Docker does.
        return [nat(DNAT, Match(daddr=daddr, proto=rule.proto, dport=PortRange(h, h)), Verdict.DNAT,
                    to_addr=rule.address, to_ports=PortRange(c, c))
                for h, c in zip(rule.host_ports, rule.ports)]
    if isinstance(rule, ir.MasqueradeLocal):
        return [nat(POSTROUTING, Match(oif=rule.bridge, src_local=True), Verdict.MASQUERADE)]
    if isinstance(rule, ir.Masquerade):
        return [nat(POSTROUTING, Match(saddr=rule.network, oif=Neg(rule.bridge)), Verdict.MASQUERADE)]
    if isinstance(rule, ir.Hairpin):
        return [nat(POSTROUTING, Match(saddr=net(rule.address), daddr=net(rule.address), proto=rule.proto,
                                       dport=rule.ports), Verdict.MASQUERADE)]
    raise Unsupported(f"iptables: no lowering for {kind}")  # a new IR rule kind needs a lowering


# The built-in chains netc jumps from, and the hook each runs on.
BUILTIN = {("filter", "FORWARD"): ("forward", "filter"), ("nat", "PREROUTING"): ("prerouting", "nat"),
           ("nat", "OUTPUT"): ("output", "nat"), ("nat", "POSTROUTING"): ("postrouting", "nat")}


def build(network: ir.Network) -> list[Rule]:
    return [r for rule in network.rules for r in lower(rule)]


def ruleset(network: ir.Network) -> Ruleset:
    """What the kernel holds after apply: the built-in chains with netc's jumps, and netc's chains."""
    rs = Ruleset(NAME)
    for (table, chain), (hook, kind) in BUILTIN.items():
        rs.chain(table, chain, hook=hook, kind=kind, priority=HOOKS[(hook, kind)])
    for table, chains in CHAINS.items():
        for chain in chains:
            rs.chain(table, chain)
    for j in jumps():
        rs.add(j.rule)
    for r in build(network):
        rs.add(r)
    return rs


# ------------------------------------------------------------------ text

_CIDRS: dict[tuple[int, int], str] = {}


def _cidr(n) -> str:
    """A network as iptables-save writes it; each container's address is in several rules."""
    key = (n.value, n.prefixlen)
    text = _CIDRS.get(key)
    if text is None:
        text = _CIDRS[key] = f"{n.network}/{n.prefixlen}"
    return text


def _ports(p) -> str:
    return str(p.lo) if p.lo == p.hi else f"{p.lo}:{p.hi}"


def args(rule: Rule, comment: str | None = None) -> list[str]:
    """The rule in iptables-save's canonical option order, as argv words."""
    m = rule.match
    out: list[str] = []
    for v, flag, fmt in ((m.saddr, "-s", _cidr), (m.daddr, "-d", _cidr), (m.iif, "-i", str), (m.oif, "-o", str)):
        if v is not None:
            out += ["!", flag, fmt(v.value)] if type(v) is Neg else [flag, fmt(v)]
    if m.proto is not None:
        out += ["-p", m.proto.value, "-m", m.proto.value]
        if m.sport is not None:
            out += ["--sport", _ports(m.sport)]
        if m.dport is not None:
            out += ["--dport", _ports(m.dport)]
    if m.src_local or m.dst_local:
        out += ["-m", "addrtype"]
        out += ["--src-type", "LOCAL"] if m.src_local else []
        out += ["--dst-type", "LOCAL"] if m.dst_local else []
    if m.ctstate is not None:
        states = m.ctstate.value if isinstance(m.ctstate, Neg) else m.ctstate
        out += ["-m", "conntrack"] + (["!"] if isinstance(m.ctstate, Neg) else []) + \
            ["--ctstate", ",".join(sorted(states, key=["RELATED", "ESTABLISHED", "DNAT"].index))]
    if comment:
        out += ["-m", "comment", "--comment", comment]
    if rule.verdict is Verdict.JUMP:
        out += ["-j", rule.target]
    elif rule.verdict is Verdict.DNAT:
        to = str(rule.to_addr)
        if rule.to_ports is not None:
            to += f":{_ports(rule.to_ports).replace(':', '-')}"
        out += ["-j", "DNAT", "--to-destination", to]
    else:
        out += ["-j", rule.verdict.value]
    return out


def line(rule: Rule) -> str:
    # Only the comment can hold a space or a quote: names, addresses and
    # ports are checked long before.
    comment = ipt_comment(str(rule.origin)) if rule.origin else None
    return " ".join(["-A", rule.chain] + args(rule, comment))


def rule_text(rule: Rule) -> str:
    """One rule as `iptables -S` would show it (the jumps' table included)."""
    text = line(rule)
    return text if rule.chain.startswith("NETC-") else f"-t {rule.table} {text}"


def render(network: ir.Network) -> Rendered:
    """The backend's part of the output tree: rules.v4."""
    rules = build(network)
    tables = []
    for table, chains in CHAINS.items():
        tables.append({"name": table, "chains": list(chains),
                       "rules": [line(r) for r in rules if r.table == table]})
    return Rendered({"rules.v4": RulesFile("rules.v4.j2", {"tables": tables})}, len(rules))


def runtime() -> dict:
    """What the firewall object's commands name (templates/objects.j2): the jumps into netc's
    chains (ensured and removed one by one) and the chains (flushed and deleted)."""
    return {"ipt_jumps": [{"table": j.table, "chain": j.chain, "args": args(j.rule, "netc")} for j in jumps()],
            "ipt_chains": [{"table": t, "chain": c} for t, cs in CHAINS.items() for c in cs]}
