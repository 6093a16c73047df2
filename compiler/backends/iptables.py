"""The iptables backend: the IR's rules as `iptables-restore --noflush` input
(rules.v4), and IPv6's as `ip6tables-restore --noflush` input (rules.v6).

netc's rules live in its own chains, which the transaction declares (and so
flushes) and refills: NETC-FORWARD in filter, NETC-DNAT and NETC-POSTROUTING
in nat, NETC-GUARD in mangle (publishes' allow-lists, before translation), the same chains in ip6tables' tables when any bridge has IPv6. The jumps from the built-in chains are not part of the transaction:
apply ensures each once (check, then insert), as kube-proxy does, so netc
never flushes a chain it does not own. Every rule carries a comment naming
the spec line it comes from, so `iptables -L` explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from netaddr import IPNetwork

from .. import ir
from ..quote import ipt_comment
from ..values import Family, PortRange, address_text
from .base import Rendered, RulesFile, Unsupported
from ..kernel import ESTABLISHED, HOOKS, LOOPBACK, LOOPBACK6, NEIGHBOUR_DISCOVERY, NEW, TRANSLATED
from .rules import Match, Neg, Rule, Ruleset, Verdict, net

NAME = "iptables"
ICMP6_TYPES = {"nd-neighbor-solicit": 135, "nd-neighbor-advert": 136}  # ip6tables-save writes the numbers
FIREWALL = True
BR_NETFILTER = True    # icc, links and replies within a bridge pass its FORWARD only through br_netfilter
FORWARD, DNAT, POSTROUTING, GUARD = "NETC-FORWARD", "NETC-DNAT", "NETC-POSTROUTING", "NETC-GUARD"
CHAINS = {"filter": (FORWARD,), "nat": (DNAT, POSTROUTING), "mangle": (GUARD,)}
# The administrator's own chain: jumped to first from NETC-FORWARD, created empty when missing,
# never declared in rules.v4 (declaring flushes), deleted by teardown only when empty.
USER = "NETC-USER"
USER_NOTE = ir.Origin("", 0, "rules of the administrator (NETC-USER: netc never flushes it)")


V4, V6 = Family.V4, Family.V6
LOOPBACK6_NET = IPNetwork("::1/128")


@dataclass(frozen=True, slots=True)
class Jump:
    """A jump from a built-in chain into netc's, ensured once by apply."""
    table: str
    chain: str
    rule: Rule


def jumps(family: Family = V4) -> tuple[Jump, ...]:
    """The jumps into netc's chains in one family's tables, in the order apply inserts them."""
    # Local destinations only; 127/8 never arrives from outside (the loopback
    # publishes are reached through OUTPUT). IPv6 leaves ::1 out of both: the
    # kernel cannot send IPv6 loopback traffic to a container, so a publish
    # must not take it from the host's own listeners.
    loop = Neg(LOOPBACK) if family is V4 else Neg(LOOPBACK6_NET)
    return (
        Jump("filter", "FORWARD", Rule("filter", "FORWARD", Match(), Verdict.JUMP, FORWARD, family=family)),
        Jump("nat", "PREROUTING", Rule("nat", "PREROUTING", Match(daddr=loop, dst_local=True),
                                       Verdict.JUMP, DNAT, family=family)),
        Jump("nat", "OUTPUT", Rule("nat", "OUTPUT", Match(daddr=None if family is V4 else loop, dst_local=True),
                                   Verdict.JUMP, DNAT, family=family)),
        Jump("nat", "POSTROUTING", Rule("nat", "POSTROUTING", Match(), Verdict.JUMP, POSTROUTING, family=family)),
        # Allow-lists: a new connection to a local address, before nat translates it.
        Jump("mangle", "PREROUTING", Rule("mangle", "PREROUTING", Match(dst_local=True, ctstate=NEW),
                                          Verdict.JUMP, GUARD, family=family)),
        Jump("mangle", "OUTPUT", Rule("mangle", "OUTPUT", Match(dst_local=True, ctstate=NEW),
                                      Verdict.JUMP, GUARD, family=family)),
    )


def lower(rule: ir.Rule) -> list[Rule]:
    """One IR rule -> the iptables (or ip6tables) rules that implement it."""
    o, kind, fam = rule.origin, type(rule).__name__, rule.family
    f = lambda match, verdict, **kw: Rule("filter", FORWARD, match, verdict, origin=o, family=fam, **kw)
    nat = lambda chain, match, verdict, **kw: Rule("nat", chain, match, verdict, origin=o, family=fam, **kw)
    if isinstance(rule, ir.Reply):
        return [f(Match(oif=rule.bridge, ctstate=ESTABLISHED), Verdict.ACCEPT)]
    if isinstance(rule, ir.Isolate):
        return [f(Match(iif=rule.frm, oif=rule.to, ctstate=Neg(TRANSLATED)), Verdict.DROP)]
    if isinstance(rule, ir.Protect):
        return [f(Match(iif=Neg(rule.bridge), oif=rule.bridge, ctstate=Neg(TRANSLATED)), Verdict.DROP)]
    if isinstance(rule, ir.Neighbours):
        return [f(Match(iif=rule.bridge, oif=rule.bridge, icmp6=(t,)), Verdict.ACCEPT) for t in NEIGHBOUR_DISCOVERY]
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
    if isinstance(rule, ir.Guard):
        # The allowed networks return to the built-in chain; anyone else is dropped.
        daddr = net(rule.host_ip) if rule.host_ip is not None else None
        g = lambda match, verdict: Rule("mangle", GUARD, match, verdict, origin=o, family=fam)  # noqa: E731
        return [g(Match(saddr=n, daddr=daddr, proto=rule.proto, dport=rule.host_ports), Verdict.RETURN)
                for n in rule.allow] + [g(Match(daddr=daddr, proto=rule.proto, dport=rule.host_ports), Verdict.DROP)]
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
           ("nat", "OUTPUT"): ("output", "nat"), ("nat", "POSTROUTING"): ("postrouting", "nat"),
           ("mangle", "PREROUTING"): ("prerouting", "mangle"), ("mangle", "OUTPUT"): ("output", "mangle")}


def build(network: ir.Network) -> list[Rule]:
    """netc's rules, each family's NETC-FORWARD first jumping to the administrator's NETC-USER."""
    user = [Rule("filter", FORWARD, Match(), Verdict.JUMP, USER, origin=USER_NOTE, family=fam)
            for fam in families(network)]
    return user + [r for rule in network.rules for r in lower(rule)]


def families(network: ir.Network) -> tuple[Family, ...]:
    """IPv4's tables always; ip6tables' when a rule is IPv6's."""
    return (V4, V6) if any(r.family is V6 for r in network.rules) else (V4,)


def ruleset(network: ir.Network) -> Ruleset:
    """What the kernel holds after apply: the built-in chains with netc's jumps, and netc's chains,
    in iptables' tables and, with IPv6, in ip6tables'."""
    rs = Ruleset(NAME)
    for fam in families(network):
        for (table, chain), (hook, kind) in BUILTIN.items():
            rs.chain(table, chain, fam, hook=hook, kind=kind, priority=HOOKS[(hook, kind)])
        for table, chains in CHAINS.items():
            for chain in chains:
                rs.chain(table, chain, fam)
        rs.chain("filter", USER, fam)
        for j in jumps(fam):
            rs.add(j.rule)
    for r in build(network):
        rs.add(r)
    return rs


# ------------------------------------------------------------------ text

_CIDRS: dict[tuple[int, int], str] = {}


def _cidr(n) -> str:
    """A network as iptables-save writes it; each container's address is in several rules."""
    key = (n.value, n.prefixlen, n.version)
    text = _CIDRS.get(key)
    if text is None:
        text = _CIDRS[key] = f"{address_text(n.network)}/{n.prefixlen}"
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
    if m.icmp6:
        (icmp,) = m.icmp6  # ip6tables matches one type a rule
        out += ["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", str(ICMP6_TYPES[icmp])]
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
            ["--ctstate", ",".join(sorted(states, key=["NEW", "RELATED", "ESTABLISHED", "DNAT"].index))]
    if comment:
        out += ["-m", "comment", "--comment", comment]
    if rule.verdict is Verdict.JUMP:
        out += ["-j", rule.target]
    elif rule.verdict is Verdict.DNAT:
        to = address_text(rule.to_addr)
        if rule.to_ports is not None:
            to = f"[{to}]" if rule.to_addr.version == 6 else to
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
    """One rule as `iptables -S` (or `ip6tables -S`) would show it (the jumps' table included)."""
    text = line(rule)
    text = text if rule.chain.startswith("NETC-") and rule.table == "filter" else f"-t {rule.table} {text}"
    return f"ip6tables {text}" if rule.family is V6 else text


FILES = {V4: ("rules.v4", "iptables-restore"), V6: ("rules.v6", "ip6tables-restore")}


def render(network: ir.Network) -> Rendered:
    """The backend's part of the output tree: rules.v4, and rules.v6 when a bridge has IPv6."""
    rules = build(network)
    files = {}
    for fam in families(network):
        tables = []
        for table, chains in CHAINS.items():
            tables.append({"name": table, "chains": list(chains),
                           "rules": [line(r) for r in rules if r.table == table and r.family is fam]})
        name, tool = FILES[fam]
        files[name] = RulesFile("iptables.j2", {"tables": tables, "tool": tool})
    return Rendered(files, len(rules))


def runtime() -> dict:
    """What the firewall object's commands name (templates/objects.j2): the jumps into netc's
    chains (ensured and removed one by one) and the chains (flushed and deleted), in iptables'
    tables and in ip6tables'."""
    return {"ipt_user": USER,
            "ipt_jumps": [{"table": j.table, "chain": j.chain, "args": args(j.rule, "netc")} for j in jumps(V4)],
            "ip6t_jumps": [{"table": j.table, "chain": j.chain, "args": args(j.rule, "netc")} for j in jumps(V6)],
            "ipt_chains": [{"table": t, "chain": c} for t, cs in CHAINS.items() for c in cs]}
