"""The firewall checks: the spec's flows walked through every table netc does not own.

Every table at a hook sees a packet in turn: an accept in netc's chains ends
only netc's chain, and the first nat rule that translates a connection wins.
So each flow's packet is walked (ruleset.walk) through the base chains of
other owners at the hook it meets them: a drop there is `forward-drop`, a
translation of a published port `publish-dnat-conflict`, a rewritten source
the spec keeps `foreign-snat`. netc's own iptables tables (the flavour of
`iptables`, for the iptables backend) are judged only before netc's jumps,
which apply inserts first; the nftables backend's table `inet netc` (and the `ip netc` of an
earlier netc) never.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..backends import nftables
from ..kernel import HOOKS
from .compiled import Flow, Out, _ports_text
from .finding import Finding
from .ruleset import NO_IFACE, Chain, Outcome, Packet, Rule, Table, World, shell_join, walk
from .snapshot import Host

NETC_CHAINS = {"NETC-FORWARD", "NETC-DNAT", "NETC-POSTROUTING", "NETC-GUARD"}
# The nftables backend's table, and the one an earlier netc made (backends/nftables.py).
NETC_TABLES = {(nftables.FAMILY, nftables.TABLE), (nftables.OLD_FAMILY, nftables.TABLE), ("bridge", nftables.TABLE)}
NETC_NAT_PRIORITY = HOOKS[("prerouting", "nat")]   # where both backends translate


def _families(table: Table) -> set[str]:
    return {"ip": {"4"}, "ip6": {"6"}, "inet": {"4", "6"}, "bridge": {"4", "6"}}.get(table.family, set())


def _bridged(flow: Flow, hook: str, ports: dict[str, tuple[str, ...]]) -> Packet | None:
    """A flow as a `bridge` family table sees it: frames between ports of a bridge (forward),
    from a port up to the host (input), from the host down to a port (output). Its
    interfaces are ports, one of the bridge's containers' veths."""
    p = flow.views.get("forward")
    if p is None:
        return None
    into = p.iif if p.iif in flow.bridges else None
    out = p.oif if p.oif in flow.bridges else None
    if (hook == "forward" and into and out) or (hook == "input" and into and not out) or \
            (hook == "output" and out and not into):
        return replace(p, iif=ports.get(into, "") if into else NO_IFACE, oif=ports.get(out, "") if out else NO_IFACE)
    return None


def _role(table: Table, host: Host, out: Out | None) -> str:
    """netc: netc's own (skipped); own: the iptables flavour netc's iptables backend
    writes into (judged up to netc's jumps, which go first); foreign: everything else."""
    if (table.family, table.name) in NETC_TABLES and table.owner == "nft":
        return "netc"
    backend = out.backend if out is not None else "iptables"
    if backend == "iptables" and table.owner.startswith("iptables-") and \
            table.owner == f"iptables-{host.iptables or 'nft'}" and table.name in ("filter", "nat", "mangle"):
        return "own"
    return "foreign"


def _without_netc(chain: Chain) -> Chain:
    return Chain(chain.name, tuple(r for r in chain.rules if r.target not in NETC_CHAINS),
                 chain.hook, chain.kind, chain.priority, chain.policy)


def _netc_jump(chain: Chain) -> int | None:
    return next((k for k, r in enumerate(chain.rules) if r.target in NETC_CHAINS), None)


def _hooked(chain: Chain) -> str:
    bits = [f"hook {chain.hook}"]
    if chain.priority is not None:
        bits.append(f"priority {chain.priority}")
    if chain.policy:
        bits.append(f"policy {chain.policy}")
    return f"{chain.name} ({', '.join(bits)})"


def _where(table: Table, chain: Chain) -> str:
    made = f" (made by {table.tool})" if table.tool else ""
    return f"{table.label}{made}, chain {_hooked(chain)}"


def _where_rule(table: Table, bases: list[Chain], rule: Rule, inside: str) -> str:
    """A rule met in chain `inside`, reached from the base chains `bases`."""
    made = f" (made by {table.tool})" if table.tool else ""
    reached = " and ".join(_hooked(b) for b in bases)
    chain = f"chain {reached}" if [b.name for b in bases] == [inside] else f"chain {inside}, from {reached}"
    return f"{table.label}{made}, {chain}: {rule.text}"


def _world(host: Host, out: Out | None) -> World:
    own = {b.name for b in out.bridges} if out else set()
    uplinks = tuple(l.name for l in host.links if l.name != "lo" and l.name not in own and l.master is None
                    and l.addresses)
    return World(out.subnets if out else (), uplinks)


def _replace(table: Table, chain: Chain) -> Table:
    return Table(table.owner, table.family, table.name,
                 tuple(chain if c.name == chain.name else c for c in table.chains), table.tool)


def check_firewall(host: Host, out: Out | None, the_flows: list[Flow]) -> list[Finding]:
    world = _world(host, out)
    found: list[Finding] = []
    for table in host.tables:
        role = _role(table, host, out)
        fams = _families(table)
        if role == "netc" or not fams:
            continue
        dnat: dict[tuple[Rule, str], _Hits] = {}   # (rule, the chain it is in) -> who it takes
        snat: dict[tuple[Rule, str], _Hits] = {}
        if table.family == "bridge":
            found += _bridge_drops(table, the_flows, world, out, host.br_netfilter)
            continue
        for chain in table.chains:
            if not chain.hook or chain.hook not in ("prerouting", "forward", "postrouting", "output"):
                continue
            # Drops: judged where the packet would meet them; netc's own iptables tables
            # only before netc's jump, which apply inserts first.
            stop = None
            if role == "own":
                stop = _netc_jump(chain)
                if stop is None and table.name == "filter":
                    stop = 0
            drops: dict[str, list[Outcome]] = {}
            if chain.hook != "output" and (role == "foreign" or (stop or 0) > 0):
                for flow in the_flows:
                    p = flow.views.get(chain.hook)
                    if p is None or p.family not in fams:
                        continue
                    got = [o for o in walk(table, chain.name, p, world, stop) if o.verdict == "drop"]
                    if got:
                        drops[flow.label] = got
            if drops:
                found.append(_drop_finding(table, chain, drops, the_flows, out))
            if chain.kind == "nat" or table.owner == "nft":
                if role == "own":
                    # judged as if netc's jump were not there: whichever comes first, they fight
                    jump = _netc_jump(chain)
                    _nat_hits(_replace(table, _without_netc(chain)), chain, the_flows, world,
                              jump if jump is not None else -1, dnat, snat)
                else:
                    _nat_hits(table, chain, the_flows, world, None, dnat, snat)
        found += _nat_findings(table, dnat, snat)
    return found


def _bridge_drops(table: Table, the_flows: list[Flow], world: World, out: Out | None,
                  br_netfilter: bool) -> list[Finding]:
    ports: dict[str, tuple[str, ...]] = {}
    for c in out.containers if out else ():
        if c.bridge and c.port:
            ports[c.bridge] = ports.get(c.bridge, ()) + (c.port,)
    found = []
    for chain in table.chains:
        if chain.hook not in ("forward", "input", "output"):
            continue
        # br_netfilter hands a bridged frame to the IPv4 hooks at priority 0 of the bridge's
        # forward hook and goes on after the chains of priority 0: one made after it is never
        # run, one made before it is. Which, no tool shows: at most a maybe.
        unsure = br_netfilter and chain.hook == "forward" and chain.priority == 0
        drops: dict[str, list[Outcome]] = {}
        for flow in the_flows:
            p = _bridged(flow, chain.hook, ports)
            got = [replace(o, certain=o.certain and not unsure)
                   for o in (walk(table, chain.name, p, world) if p else ()) if o.verdict == "drop"]
            if got:
                drops[flow.label] = got
        if drops:
            found.append(_drop_finding(table, chain, drops, the_flows, None))
    return found


def _drop_finding(table: Table, chain: Chain, drops: dict[str, list[Outcome]], the_flows, out) -> Finding:
    certain = any(o.certain for got in drops.values() for o in got)
    rules: list[str] = []
    for got in drops.values():
        for o in got:
            text = f"{o.rule.text} (chain {o.chain})" if o.rule else f"the policy of chain {o.chain}: {o.verdict}"
            if text not in rules:
                rules.append(text)
    bridges = sorted({b for f in the_flows if f.label in drops for b in f.bridges})
    verb = "drops" if certain else "may drop"
    what = f"{verb} bridged packets of this network" if table.family == "bridge" else {
        "forward": f"{verb} forwarded packets of this network",
        "prerouting": f"{verb} packets of this network before routing",
        "postrouting": f"{verb} packets of this network after routing"}[chain.hook]
    other = f"{table.tool}'s rules" if table.tool else "another table"
    why = (f"every table's chains at a hook see a packet in turn, and an accept in netc's rules does not stop "
           f"{other} from dropping it; dropped by: {'; '.join(rules[:4])}"
           + (f" and {len(rules) - 4} more" if len(rules) > 4 else ""))
    return Finding("forward-drop", "error" if certain else "warning", f"{table.label} {what}",
                   _where(table, chain), why, tuple(drops), _drop_fix(table, chain, bridges, drops))


def _drop_fix(table: Table, chain: Chain, bridges: list[str], drops: dict[str, list[Outcome]]) -> tuple[str, ...]:
    fix: list[str] = []
    policy = any(o.rule is None for got in drops.values() for o in got)
    dropping = []
    for got in drops.values():
        for o in got:
            if o.rule is not None and o.rule.delete and o.rule.delete not in dropping:
                dropping.append(o.rule.delete)
    if table.tool == "ufw" and chain.hook == "forward" and bridges:
        fix.append("# let ufw route the bridges' traffic (it keeps these rules across reloads):")
        for b in bridges:
            fix += [f"ufw route allow in on {b}", f"ufw route allow out on {b}"]
        return tuple(fix)
    if table.tool == "firewalld" and bridges:
        fix.append("# put the bridges in firewalld's trusted zone:")
        fix += [f"firewall-cmd --permanent --zone=trusted --add-interface={b}" for b in bridges]
        fix.append("firewall-cmd --reload")
        return tuple(fix)
    if table.family == "bridge" and bridges:
        fix.append(f"# accept the frames of netc's veths (ve-*) first in {chain.name} (the rest stays as it is):")
        key = "oifname" if chain.hook == "output" else "iifname"
        fix.append(shell_join(["nft", "insert", "rule", table.family, table.name, chain.name, key, '"ve-*"',
                               "accept"]))
        fix.append("# or, when nothing else needs it:")
    elif chain.hook == "forward" and bridges:
        fix.append(f"# accept the bridges' traffic first in {chain.name} (the rest of the chain stays as it is):")
        for b in bridges:
            for way in ("in", "out"):
                if table.owner == "nft":
                    fix.append(shell_join(["nft", "insert", "rule", table.family, table.name, chain.name,
                                           f"{way[0]}ifname", f'"{b}"', "accept"]))
                else:
                    fix.append(shell_join([table.command, "-t", table.name, "-I", chain.name,
                                           "-i" if way == "in" else "-o", b, "-j", "ACCEPT"]))
        fix.append("# or, when nothing else needs it:")
    if policy:
        if table.owner == "nft":
            fix.append(shell_join(["nft", "chain", table.family, table.name, chain.name, "{ policy accept; }"]))
        else:
            fix.append(shell_join([table.command, "-t", table.name, "-P", chain.name, "ACCEPT"]))
    fix += [shell_join(d) for d in dropping[:8]]
    if len(dropping) > 8:
        fix.append(f"# ... and {len(dropping) - 8} more rule(s) that drop")
    return tuple(fix)


def _nat_order(chain: Chain, rule: Rule, where: str, netc_jump: int | None) -> str:
    """Whether `rule` (met in chain `where`, reached from base chain `chain`) translates
    before netc's rules, after them, or either."""
    if netc_jump is not None:   # the base chain that holds (or will hold) netc's jump
        if netc_jump < 0:
            return "after"      # apply inserts netc's jump first
        top = rule if where == chain.name else next((r for r in chain.rules if r.target == where), None)
        if top is None or top not in chain.rules:
            return "either"
        return "before" if chain.rules.index(top) < netc_jump else "after"
    if chain.priority is None or chain.priority == NETC_NAT_PRIORITY:
        return "either"
    return "before" if chain.priority < NETC_NAT_PRIORITY else "after"


@dataclass
class _Hits:
    """The flows one nat rule translates, and the base chains it is met from."""
    flows: list[tuple[Flow, bool]] = field(default_factory=list)
    bases: list[Chain] = field(default_factory=list)
    orders: set[str] = field(default_factory=set)


def _nat_hits(table: Table, chain: Chain, the_flows: list[Flow], world: World, netc_jump: int | None,
              dnat: dict, snat: dict) -> None:
    for flow in the_flows:
        p = flow.views.get(chain.hook)
        if p is None or p.family not in _families(table):
            continue
        for o in walk(table, chain.name, p, world):
            if o.rule is None:
                continue
            if o.verdict == "dnat" and flow.publish is not None and chain.hook in ("prerouting", "output"):
                hits = dnat.setdefault((o.rule, o.chain), _Hits())
                hits.orders.add(_nat_order(chain, o.rule, o.chain, netc_jump))
            elif o.verdict == "snat" and flow.keeps_source and chain.hook == "postrouting" and o.certain:
                # (only a certain one: a maybe would flag every host that masquerades its own subnets)
                hits = snat.setdefault((o.rule, o.chain), _Hits())
            else:
                continue
            hits.flows.append((flow, o.certain))
            if chain not in hits.bases:
                hits.bases.append(chain)


def _nat_findings(table: Table, dnat: dict, snat: dict) -> list[Finding]:
    found: list[Finding] = []
    for (rule, inside), hits in dnat.items():
        certain = any(c for _, c in hits.flows)
        labels = tuple(dict.fromkeys(f.label for f, _ in hits.flows))
        ports = ", ".join(dict.fromkeys(f"{f.publish.proto}/{_ports_text(f.publish.host_ports)}"
                                        for f, _ in hits.flows if f.publish))
        to = f" to {rule.target}" if rule.target else ""
        fix = [shell_join(rule.delete)] if rule.delete else []
        fix.append("# or publish another host port in the spec line named above, and compile again")
        order = next(o for o in ("before", "either", "after") if o in hits.orders)
        why = "the first nat rule that translates a connection decides where it goes; " + {
            "before": f"this one runs before netc's, so the publish goes{to or ' elsewhere'} instead of to "
                      "the container",
            "after": "this one runs after netc's, so it no longer sees connections to the published port",
            "either": "this one and netc's run at the same priority, in the order their tables were made, so "
                      f"either the publish goes{to or ' elsewhere'} instead of to the container, or this rule "
                      "no longer sees its connections"}[order]
        found.append(Finding(
            "publish-dnat-conflict", "error" if certain else "warning",
            f"{table.label} sends connections to a port this network publishes ({ports}){to}",
            _where_rule(table, hits.bases, rule, inside), why, labels, tuple(fix)))
    for (rule, inside), hits in snat.items():
        labels = tuple(dict.fromkeys(f.label for f, _ in hits.flows))
        fix = [shell_join(rule.delete)] if rule.delete else []
        found.append(Finding(
            "foreign-snat", "warning", f"{table.label} rewrites the source address of flows the spec keeps",
            _where_rule(table, hits.bases, rule, inside),
            "the spec keeps the client's address on these flows (publishes and traffic between containers "
            "show the real peer, ip-masq false leaves egress untranslated); this rule replaces it",
            labels, tuple(fix)))
    return found
