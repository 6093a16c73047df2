"""`netc doctor`: what else on this host will break the compiled network, or fight with it.

Input: a `Host` (snapshot.py: what the live machine holds, read and never
changed) and, optionally, an output tree of `netc compile` (its netc.json:
bridges, subnets, containers, publishes, rules and sysctls, each with the
spec line it comes from). Output: `Finding`s, data first: a stable id
(docs/doctor.md lists them), a severity, what, where, why with the flows of
the spec that break (by spec line), and the fix as shell lines.

The checks are pure functions of (Host, Out); the firewall ones walk the
packets of the spec (each publish, egress, container to container, and their
replies) through every table netc does not own (rulesets.py), hook by hook.
Without OUT only the generic checks run, for the default backend
(iptables): other tables' forward drops, rp_filter, br_netfilter, firewalld
and ufw.

Entry points: `findings(out_dir)` (read the host, check; what `apply` and
`plan` call), `check(host, out)` (pure), `render(findings)`, `to_json(...)`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork

from . import snapshot
from .rulesets import NO_IFACE, Addr, Chain, Outcome, Packet, Rule, Table, World, shell_join, walk
from .snapshot import Host

NETC_CHAINS = {"NETC-FORWARD", "NETC-DNAT", "NETC-POSTROUTING"}
NETC_TABLE = ("ip", "netc")   # the nftables backend's table (backends/nftables.py)
SEVERITIES = ("error", "warning")


class DoctorError(Exception):
    """A problem with the command, not with the host: OUT missing, not a netc tree."""


@dataclass(frozen=True)
class Finding:
    id: str                       # stable, kebab-case: docs/doctor.md
    severity: str                 # error: breaks the network or apply; warning: may break, or fights
    what: str
    where: str
    why: str
    breaks: tuple[str, ...] = ()  # the flows of the spec that break, each with its spec line
    fix: tuple[str, ...] = ()     # shell lines; a line starting with '#' is a note

    @property
    def lines(self) -> tuple[str, ...]:
        """The spec lines (FILE:LINE) of the flows that break."""
        out: list[str] = []
        for b in self.breaks:
            m = re.search(r"\(([^\s()]+:\d+)\b", b)
            if m and m.group(1) not in out:
                out.append(m.group(1))
        return tuple(out)

    def to_json(self) -> dict:
        return {"id": self.id, "severity": self.severity, "what": self.what, "where": self.where,
                "why": self.why, "breaks": list(self.breaks), "lines": list(self.lines), "fix": list(self.fix)}


# ------------------------------------------------------------------ OUT: what the spec compiled to

@dataclass(frozen=True)
class Bridge:
    name: str
    networks: tuple[IPNetwork, ...]
    addresses: tuple[IPAddress, ...]
    external: bool
    icc: bool
    origin: str


@dataclass(frozen=True)
class Container:
    name: str
    bridge: str | None
    addresses: tuple[IPAddress, ...]
    origin: str


@dataclass(frozen=True)
class Publish:
    container: str
    bridge: str
    address: IPAddress
    proto: str
    host_ip: IPAddress | None      # None: every address of the host
    host_ports: tuple[int, int]
    container_ports: tuple[int, int]
    origin: str

    @property
    def text(self) -> str:
        hp = _ports_text(self.host_ports)
        ip = f"{self.host_ip}:" if self.host_ip is not None else ""
        return f"publish {ip}{hp}/{self.proto} -> {self.container}:{_ports_text(self.container_ports)}"


@dataclass(frozen=True)
class Out:
    path: str
    spec: str
    backend: str | None            # None: the spec installs no firewall (iptables false)
    bridges: tuple[Bridge, ...] = ()
    containers: tuple[Container, ...] = ()
    publishes: tuple[Publish, ...] = ()
    sysctls: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (value, origin)
    rules: tuple[dict, ...] = ()

    def bridge(self, name: str) -> Bridge | None:
        return next((b for b in self.bridges if b.name == name), None)

    def rule_origin(self, kind: str, bridge: str, default: str) -> str:
        return next((r.get("origin", default) for r in self.rules
                     if r.get("kind") == kind and r.get("bridge") == bridge), default)

    @property
    def subnets(self) -> tuple[IPNetwork, ...]:
        return tuple(n for b in self.bridges for n in b.networks)


def _ports_text(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def _port_range(text) -> tuple[int, int]:
    lo, _, hi = str(text).partition("-")
    return int(lo), int(hi or lo)


def _addresses(d: dict, prefix: str) -> tuple:
    """Every value of keys starting with `prefix` (address, address6, addresses ...) that
    parses as an address or network: netc.json will grow IPv6 fields beside the IPv4 ones."""
    out = []
    for key in sorted(d):
        if not key.startswith(prefix):
            continue
        values = d[key] if isinstance(d[key], list) else [d[key]]
        for v in values:
            if not isinstance(v, str):
                continue
            try:
                out.append(IPNetwork(v) if prefix == "network" else IPAddress(v.split("/")[0]))
            except Exception:
                continue
    return tuple(out)


def read_out(path: str) -> Out:
    """OUT/netc.json -> Out; DoctorError when OUT is no output tree of netc compile."""
    if not os.path.isdir(path):
        raise DoctorError(f"{path} is not a folder: give the folder `netc compile -o` wrote")
    file = os.path.join(path, "netc.json")
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DoctorError(f"{path} is not an output tree of netc compile (it has no netc.json)") from None
    except (OSError, ValueError) as exc:
        raise DoctorError(f"{file}: cannot be read: {exc}") from None
    if not isinstance(data, dict) or "netc" not in data or not isinstance(data.get("bridges"), list):
        raise DoctorError(f"{file} is not the netc.json that netc compile writes")
    try:
        bridges = tuple(Bridge(b["name"], _addresses(b, "network"), _addresses(b, "address"),
                               bool(b.get("external")), bool(b.get("icc", True)), b.get("origin", ""))
                        for b in data["bridges"])
        containers, publishes = [], []
        for c in data.get("containers", []):
            addrs = _addresses(c, "address") if c.get("mode") == "bridge" else ()
            containers.append(Container(c["name"], c.get("bridge"), addrs, c.get("origin", "")))
            for m in c.get("mappings", []) if addrs else []:
                host_ip = m.get("host_ip")
                ip = None if host_ip in (None, "", "0.0.0.0", "::") else IPAddress(host_ip)
                for a in addrs:
                    if ip is not None and ip.version != a.version:
                        continue
                    publishes.append(Publish(c["name"], c["bridge"], a, m["proto"], ip, _port_range(m["host_ports"]),
                                             _port_range(m["container_ports"]), m.get("origin", "")))
        sysctls = {s["key"]: (str(s["value"]), s.get("origin", "")) for s in data.get("sysctls", [])}
        return Out(path, data.get("spec", ""), data.get("backend"), bridges, tuple(containers), tuple(publishes),
                   sysctls, tuple(r for r in data.get("rules", []) if isinstance(r, dict)))
    except (KeyError, TypeError, ValueError) as exc:
        raise DoctorError(f"{file} is not the netc.json that netc compile writes ({type(exc).__name__}: {exc})") \
            from None


# ------------------------------------------------------------------ the flows of the spec

@dataclass(frozen=True)
class Flow:
    """A kind of traffic the spec promises, as each hook sees its first packet."""
    what: str
    origin: str
    views: dict[str, Packet]           # hook -> the packet there
    bridges: tuple[str, ...] = ()      # the bridges it enters or leaves
    publish: Publish | None = None
    keeps_source: bool = False         # the spec keeps its source address (a foreign SNAT changes it)

    @property
    def label(self) -> str:
        return f"{self.what} ({self.origin})" if self.origin else self.what


def _net(*nets) -> Addr:
    return Addr("net", tuple(IPNetwork(str(n)) for n in nets))


OUTSIDE = Addr("outside")


def flows(out: Out, host: Host) -> list[Flow]:
    out_flows: list[Flow] = []
    masq = {r.get("bridge") for r in out.rules if r.get("kind") == "Masquerade"}
    for b in out.bridges:
        for n in b.networks:
            fam = str(n.version)
            mine = _net(n)
            base = dict(family=fam, proto="tcp", dport=None, dnat=False, dst_local=False)
            egress = out.rule_origin("Outgoing", b.name, b.origin)
            new = Packet(saddr=mine, daddr=OUTSIDE, iif=b.name, oif=None, ctstate="new", **base)
            reply = Packet(saddr=OUTSIDE, daddr=mine, iif=None, oif=b.name, ctstate="established", **base)
            out_flows.append(Flow(f"egress from bridge {b.name} ({n}) to outside", egress,
                                  {"prerouting": _pre(new), "forward": new, "postrouting": new}, (b.name,),
                                  keeps_source=b.name not in masq))
            out_flows.append(Flow(f"replies to egress from bridge {b.name}", egress,
                                  {"prerouting": _pre(reply), "forward": reply, "postrouting": reply}, (b.name,)))
            icc = next((r for r in out.rules if r.get("kind") == "Icc" and r.get("bridge") == b.name), None)
            if icc is None or icc.get("accept", True):
                p = Packet(saddr=mine, daddr=mine, iif=b.name, oif=b.name, ctstate="new", **base)
                out_flows.append(Flow(f"container to container on bridge {b.name}",
                                      icc.get("origin", b.origin) if icc else b.origin,
                                      {"prerouting": _pre(p), "forward": p, "postrouting": p}, (b.name,),
                                      keeps_source=True))
    for r in out.rules:
        if r.get("kind") != "LinkAccept":
            continue
        try:
            src, dst = IPNetwork(r["parent"]), IPNetwork(r["child"])
            p = Packet(family=str(src.version), proto=r.get("proto", "tcp"), dport=_port_range(r["ports"]),
                       saddr=_net(src), daddr=_net(dst), iif=r["bridge"], oif=r["bridge"], ctstate="new",
                       dnat=False, dst_local=False)
        except (KeyError, ValueError, TypeError):
            continue
        out_flows.append(Flow(f"link {r['parent']} -> {r['child']} {r.get('proto', 'tcp')}/{r['ports']}",
                              r.get("origin", ""), {"prerouting": _pre(p), "forward": p, "postrouting": p},
                              (r["bridge"],), keeps_source=True))
    mine = {v: tuple(IPNetwork(str(a)) for a in snapshot.local_addresses(host, v)) for v in (4, 6)}
    for pub in out.publishes:
        fam = str(pub.address.version)
        v = pub.address.version
        local = Addr("net", (IPNetwork(str(pub.host_ip)),)) if pub.host_ip is not None else \
            Addr("local", tuple(n for n in mine[v] if not n.ip.is_loopback()))
        everywhere = Addr("net", (IPNetwork(str(pub.host_ip)),)) if pub.host_ip is not None else \
            Addr("local", mine[v])
        pre = Packet(family=fam, proto=pub.proto, dport=pub.host_ports, saddr=OUTSIDE, daddr=local, iif=None,
                     oif="", ctstate="new", dnat=False, dst_local=True)
        output = Packet(family=fam, proto=pub.proto, dport=pub.host_ports, saddr=everywhere, daddr=everywhere,
                        iif=NO_IFACE, oif="", ctstate="new", dnat=False, dst_local=True, src_local=True)
        fwd = Packet(family=fam, proto=pub.proto, dport=pub.container_ports, saddr=OUTSIDE, daddr=_net(pub.address),
                     iif=None, oif=pub.bridge, ctstate="new", dnat=True, dst_local=False)
        back = Packet(family=fam, proto=pub.proto, dport=None, saddr=_net(pub.address), daddr=OUTSIDE,
                      iif=pub.bridge, oif=None, ctstate="established", dnat=True, dst_local=False)
        if pub.host_ip is None or not pub.host_ip.is_loopback():
            out_flows.append(Flow(f"{pub.text} from outside", pub.origin,
                                  {"prerouting": pre, "forward": fwd, "postrouting": fwd},
                                  (pub.bridge,), pub, keeps_source=True))
            out_flows.append(Flow(f"replies of {pub.text}", pub.origin,
                                  {"prerouting": _pre(back), "forward": back, "postrouting": back}, (pub.bridge,)))
        out_flows.append(Flow(f"{pub.text} from this host", pub.origin, {"output": output}, (pub.bridge,), pub))
    return out_flows


def _pre(p: Packet) -> Packet:
    """The packet at prerouting: no output interface yet."""
    return Packet(p.family, p.proto, p.dport, p.saddr, p.daddr, p.iif, "", p.ctstate, p.dnat, p.dst_local,
                  p.src_local)


def generic_flows() -> list[Flow]:
    """Without OUT: forwarded traffic of any bridge (every field unknown)."""
    p = Packet(family="4", proto="tcp", dport=None, saddr=Addr("net"), daddr=Addr("net"), iif="", oif="",
               ctstate="new", dnat=False, dst_local=False)
    return [Flow("forwarded connections (of any container network)", "",
                 {"prerouting": p, "forward": p, "postrouting": p})]


# ------------------------------------------------------------------ the firewall checks

def _families(table: Table) -> set[str]:
    return {"ip": {"4"}, "ip6": {"6"}, "inet": {"4", "6"}}.get(table.family, set())


def _role(table: Table, host: Host, out: Out | None) -> str:
    """netc: netc's own (skipped); own: the iptables flavour netc's iptables backend
    writes into (judged up to netc's jumps, which go first); foreign: everything else."""
    if (table.family, table.name) == NETC_TABLE and table.owner == "nft":
        return "netc"
    backend = out.backend if out is not None else "iptables"
    if backend == "iptables" and table.owner.startswith("iptables-") and \
            table.owner == f"iptables-{host.iptables or 'nft'}" and table.name in ("filter", "nat"):
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
                    and any(a.version == 4 for a in l.addresses))
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
    what = {"forward": f"{verb} forwarded packets of this network",
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
    if chain.hook == "forward" and bridges:
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


NETC_NAT_PRIORITY = -100   # both backends translate at the nat priority (backends/nftables.py BASE)


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


# ------------------------------------------------------------------ listeners, subnets, addresses

def check_listeners(host: Host, out: Out) -> list[Finding]:
    found = []
    for pub in out.publishes:
        for l in host.listeners:
            if l.proto != pub.proto or not pub.host_ports[0] <= l.port <= pub.host_ports[1]:
                continue
            wildcard = l.address in ("*", "0.0.0.0", "::")
            try:
                addr = None if wildcard else IPAddress(l.address)
            except Exception:
                continue
            if addr is not None and addr.version == 6 and addr.is_ipv4_mapped():
                addr = addr.ipv4()
            if (addr is not None and addr.version != pub.address.version) or \
                    (l.address == "0.0.0.0" and pub.address.version == 6):
                continue  # ("::" and "*" take both families)
            if not (pub.host_ip is None or wildcard or addr == pub.host_ip):
                continue
            who = l.process or "a process"
            found.append(Finding(
                "publish-port-in-use", "error",
                f"{who} listens on {l.proto} port {l.port}, which this network publishes",
                f"{l.proto} {l.address}:{l.port} ({who})",
                "netc's DNAT takes every connection to a published port before any socket sees it, so the "
                f"listener no longer gets its traffic; Docker would refuse this publish (port already allocated)",
                (f"{pub.text} ({pub.origin})",),
                (f"# stop {who}, or move it to another port, or publish another host port in the spec line named "
                 "above and compile again",)))
    return found


ENGINES = (("docker", "Docker"), ("br-", "Docker"), ("cni-podman", "Podman"), ("podman", "Podman"),
           ("virbr", "libvirt"), ("lxdbr", "LXD"), ("incusbr", "Incus"), ("cni", "a CNI plugin"))


def _engine(name: str | None) -> str:
    return next((f" ({who}'s bridge?)" for prefix, who in ENGINES if name and name.startswith(prefix)), "")


def check_subnets(host: Host, out: Out) -> list[Finding]:
    found = []
    mine = {b.name for b in out.bridges}
    for b in out.bridges:
        for n in b.networks:
            for r in host.routes:
                if r.dev in mine or r.dst.prefixlen == 0 or r.dst.version != n.version:
                    continue
                if not (r.dst in n or n in r.dst):
                    continue
                link = host.link(r.dev) if r.dev else None
                engine = _engine(r.dev)
                held = [a for a in (link.addresses if link else ()) if a.ip in r.dst]
                if held:
                    fix = [shell_join(["ip", "addr", "del", str(a), "dev", r.dev]) for a in held]
                    if link and link.kind == "bridge":
                        fix.append(f"# or remove that bridge, if nothing uses it: ip link del {r.dev}")
                else:
                    fix = [shell_join(["ip", "route", "del", *r.text.split()])]
                fix.append(f"# or give bridge {b.name} a free subnet ({b.origin}) and compile again")
                if r.dst in n:  # as or more specific: it takes the containers' traffic
                    inside = [c for c in out.containers if c.bridge == b.name and any(a in r.dst for a in c.addresses)]
                    breaks = tuple(f"traffic to container {c.name} (publishes, replies, the host) ({c.origin})"
                                   for c in inside) or (f"traffic to bridge {b.name}'s subnet {n} ({b.origin})",)
                    same = r.dst == n
                    found.append(Finding(
                        "subnet-overlap", "error",
                        f"{r.dev or r.type}{engine} is routed {'the same subnet' if same else 'a part of the subnet'} "
                        f"{r.dst} as bridge {b.name} ({n})",
                        f"route {r.text}",
                        ("two routes to the same subnet: the kernel uses the one made first, so packets for the "
                         "containers may leave through the other device" if same else
                         "the kernel picks the most specific route, so packets for these containers leave through "
                         "the other device"),
                        breaks, tuple(fix)))
                else:
                    found.append(Finding(
                        "subnet-overlap", "warning",
                        f"bridge {b.name} ({n}) takes a part of {r.dst}, which is routed via {r.dev or r.type}{engine}",
                        f"route {r.text}",
                        f"the bridge's route is more specific, so hosts in {n} behind {r.dev or r.type} are no longer "
                        "reachable from this host or the containers",
                        (f"bridge {b.name} ({b.origin})",), tuple(fix)))
    return found


def check_addresses(host: Host, out: Out) -> list[Finding]:
    found = []
    wanted: list[tuple[IPAddress, str, str, str]] = []   # address, whose, origin, the bridge that may hold it
    for b in out.bridges:
        wanted += [(a, f"bridge {b.name}'s gateway", b.origin, b.name) for a in b.addresses]
    for c in out.containers:
        wanted += [(a, f"container {c.name}", c.origin, "") for a in c.addresses]
    for link in host.links:
        for net in link.addresses:
            for addr, whose, origin, holder in wanted:
                if net.ip != addr or link.name == holder:
                    continue
                if holder:
                    why = (f"apply's preflight refuses to create bridge {holder} with an address in use "
                           "(an external bridge must hold it itself)")
                    breaks = (f"the whole apply ({origin})",)
                else:
                    why = ("the host takes packets for this address as its own: publishes, replies and the host's "
                           "own connections end on the host instead of in the container")
                    breaks = tuple(f"{p.text} ({p.origin})" for p in out.publishes if p.address == addr) + \
                        (f"traffic to {whose} ({origin})",)
                found.append(Finding(
                    "address-in-use", "error", f"{addr}, the address of {whose}, is in use on {link.name}",
                    f"{link.name}: {net}", why, breaks,
                    (shell_join(["ip", "addr", "del", str(net), "dev", link.name]),
                     f"# or give {whose} another address in the spec and compile again")))
    return found


# ------------------------------------------------------------------ sysctls, modules, services

def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _sysctl_name(iface: str) -> str:
    return iface.replace(".", "/")


def check_rp_filter(host: Host, out: Out | None) -> list[Finding]:
    found = []
    mine = {b.name for b in out.bridges} if out else set()
    every = _int(host.sysctl("net.ipv4.conf.all.rp_filter", "0"))
    defaults = [r for r in host.routes if r.dst.prefixlen == 0 and r.dst.version == 4]
    publishes = tuple(f"{p.text} from outside ({p.origin})" for p in (out.publishes if out else ())
                      if p.host_ip is None or not p.host_ip.is_loopback())
    for link in host.links:
        v4 = [a for a in link.addresses if a.version == 4]
        if link.name == "lo" or link.name in mine or link.master or not v4:
            continue
        strict = max(every, _int(host.sysctl(f"net.ipv4.conf.{link.name}.rp_filter", "0"))) == 1
        if not strict:
            continue
        connected = {a.cidr for a in v4}
        other = [r for r in host.routes if r.dst.version == 4 and r.dev != link.name and r.dst.prefixlen > 0
                 and any(r.dst in c for c in connected)]
        breaks = publishes + ((f"replies to egress from the containers",) if out and out.bridges else ())
        breaks = breaks or ("connections from other hosts that arrive on this interface",)
        key = f"net.ipv4.conf.{_sysctl_name(link.name)}.rp_filter"
        fix = (f"sysctl -w {key}=2",
               f"# keep it across reboots: echo '{key} = 2' > /etc/sysctl.d/90-rp-filter-{link.name}.conf")
        source = "net.ipv4.conf.all.rp_filter=1" if every == 1 else f"{key}=1"
        if other:
            found.append(Finding(
                "rp-filter-strict", "error",
                f"strict reverse path filtering on {link.name}, whose neighbours are routed through another interface",
                f"{source}; {'; '.join('route ' + r.text for r in other[:3])}",
                f"a packet from a host in {', '.join(str(r.dst) for r in other[:3])} that arrives on {link.name} fails "
                f"the check (the route back leaves through {other[0].dev or other[0].type}) and is dropped",
                breaks, fix))
        elif defaults and not any(r.dev == link.name for r in defaults):
            found.append(Finding(
                "rp-filter-strict", "warning",
                f"strict reverse path filtering on {link.name}, which holds no default route",
                f"{source}; default route {defaults[0].text}",
                f"a connection from a host outside {', '.join(str(c) for c in sorted(connected))} that arrives on "
                f"{link.name} fails the check (the route back is the default route) and is dropped",
                breaks, fix))
    return found


def check_br_netfilter(host: Host, out: Out | None) -> list[Finding]:
    if host.br_netfilter:
        return []
    key = "net.bridge.bridge-nf-call-iptables"
    if out is not None and key not in out.sysctls:
        return []
    origin = out.sysctls[key][1] if out is not None else ""
    fix = ("modprobe br_netfilter", "# load it at boot: echo br_netfilter > /etc/modules-load.d/br_netfilter.conf")
    if out is None:
        return [Finding("br-netfilter-missing", "warning", "the br_netfilter module is not loaded",
                        "/proc/sys/net/bridge is missing",
                        "a spec with `iptables true` (the default) sets net.bridge.bridge-nf-call-iptables, "
                        "which exists only with br_netfilter: apply would fail at that step", (), fix)]
    return [Finding("br-netfilter-missing", "error", "the br_netfilter module is not loaded, and OUT needs it",
                    "/proc/sys/net/bridge is missing",
                    "apply fails at the step that sets net.bridge.bridge-nf-call-iptables (and rolls back); "
                    "without br_netfilter the firewall never sees traffic between containers of one bridge "
                    "(icc false, links, a container reaching another's publish)",
                    (f"apply, at sysctl {key} ({origin})",), fix)]


def check_accept_ra(host: Host, out: Out | None) -> list[Finding]:
    if out is None:
        return []
    fwd = next(((v, o) for k, (v, o) in out.sysctls.items()
                if k in ("net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding") and v == "1"), None)
    if fwd is None:
        return []
    found = []
    mine = {b.name for b in out.bridges}
    for link in host.links:
        if link.name == "lo" or link.name in mine:
            continue
        ra = host.sysctl(f"net.ipv6.conf.{link.name}.accept_ra", "1")
        forwarding = host.sysctl(f"net.ipv6.conf.{link.name}.forwarding", "0")
        learned = [r for r in host.routes if r.dev == link.name and r.protocol == "ra"]
        slaac = [a for a in link.dynamic if a.version == 6]
        if ra != "1" or forwarding != "0" or not (learned or slaac):
            continue
        key = f"net.ipv6.conf.{_sysctl_name(link.name)}.accept_ra"
        what = ", ".join([f"route {r.text}" for r in learned[:2]] + [f"address {a}" for a in slaac[:2]])
        found.append(Finding(
            "accept-ra-lost", "error",
            f"{link.name} takes its IPv6 configuration from router advertisements, which forwarding turns off",
            f"{link.name}: {key}=1; {what}",
            "with forwarding on, the kernel ignores router advertisements where accept_ra is 1: the default route "
            "and addresses they gave expire, and the host (and the containers' IPv6 egress) lose IPv6",
            (f"IPv6 connectivity through {link.name} ({fwd[1]})",),
            (f"sysctl -w {key}=2",
             f"# keep it across reboots: echo '{key} = 2' > /etc/sysctl.d/90-accept-ra-{link.name}.conf")))
    return found


def check_services(host: Host, out: Out | None) -> list[Finding]:
    found = []
    bridges = [b.name for b in out.bridges] if out else ["docker0"]
    if host.services.get("firewalld") == "active":
        backend = host.firewalld_backend or "nftables"
        reload = ("with its iptables backend a reload (firewall-cmd --reload) flushes the built-in chains and so "
                  "removes netc's jumps" if backend == "iptables" else
                  "its nftables backend rejects forwarded traffic that no zone or policy allows (see forward-drop "
                  "for table inet firewalld)")
        found.append(Finding(
            "firewalld-active", "warning", "firewalld is active and decides what this host forwards",
            f"firewalld.service (FirewallBackend={backend})",
            f"firewalld filters by zone, and the bridges are in none; {reload}", (),
            tuple(f"firewall-cmd --permanent --zone=trusted --add-interface={b}" for b in bridges)
            + ("firewall-cmd --reload", "# after any firewalld reload: netc apply OUT")))
    loaded = any(t.tool == "ufw" for t in host.tables)
    policy = host.ufw.get("DEFAULT_FORWARD_POLICY", "DROP").upper()
    if host.ufw.get("ENABLED", "").lower() == "yes" and policy in ("DROP", "REJECT") and not loaded:
        found.append(Finding(
            "ufw-forward-drop", "warning", f"ufw is enabled with forward policy {policy}",
            "/etc/ufw/ufw.conf ENABLED=yes; /etc/default/ufw DEFAULT_FORWARD_POLICY=" + policy,
            "when ufw starts (at boot, or `ufw reload`) it sets the FORWARD policy to drop; its rules are not loaded "
            "in this network namespace now, so doctor cannot tell which forwarded flows they will stop", (),
            tuple(c for b in bridges for c in (f"ufw route allow in on {b}", f"ufw route allow out on {b}"))
            + ('# or set DEFAULT_FORWARD_POLICY="ACCEPT" in /etc/default/ufw, then: ufw reload',)))
    return found


# ------------------------------------------------------------------ entry points

def check(host: Host, out: Out | None) -> list[Finding]:
    """Every finding for this host and OUT (None: the generic checks only), errors first."""
    the_flows = flows(out, host) if out is not None else generic_flows()
    found = check_firewall(host, out, the_flows)
    if out is not None:
        found += check_listeners(host, out) + check_subnets(host, out) + check_addresses(host, out)
    found += check_rp_filter(host, out) + check_br_netfilter(host, out) + check_accept_ra(host, out)
    found += check_services(host, out)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda f: SEVERITIES.index(f.severity))


@dataclass(frozen=True)
class Report:
    out: Out | None
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...]


def run(out_dir: str | None) -> Report:
    """Read OUT (when given) and this host; check. Raises DoctorError for a bad OUT or no root."""
    out = read_out(out_dir) if out_dir is not None else None
    if os.geteuid() != 0:
        raise DoctorError("doctor needs root: it reads the firewall (iptables-save, nft list ruleset)")
    host = snapshot.read()
    return Report(out, tuple(check(host, out)), host.skipped)


def findings(out_dir: str | None) -> list[Finding]:
    """What `apply` and `plan` call: the findings for OUT on this host."""
    return list(run(out_dir).findings)


def render(found, prefix: str = "") -> str:
    """Findings as text for people: a headline, then where, why, what breaks, the fix.
    prefix (apply's "netc: warning: ") replaces the severity at the head of the headline."""
    lines: list[str] = []
    for f in found:
        lines.append(f"{prefix}{f.what} [{f.id}, {f.severity}]" if prefix else f"{f.severity}: {f.what} [{f.id}]")
        lines.append(f"    where:  {f.where}")
        lines.append(f"    why:    {f.why}")
        for k, b in enumerate(f.breaks):
            lines.append(f"    {'breaks: ' if k == 0 else '        '}{b}")
        for k, x in enumerate(f.fix):
            lines.append(f"    {'fix:    ' if k == 0 else '        '}{x}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_report(report: Report) -> str:
    text = render(report.findings)
    errors = sum(f.severity == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    scope = f"for {report.out.path} (backend {report.out.backend or 'none'})" if report.out else \
        "(generic checks only: give OUT for the checks of a compiled network)"
    for s in report.skipped:
        text += f"note: not checked: {s}\n"
    if report.findings:
        text += f"netc doctor: {errors} error(s), {warnings} warning(s) {scope}; nothing was changed\n"
    else:
        text += f"netc doctor: no findings {scope}\n"
    return text


def to_json(report: Report) -> str:
    return json.dumps({"out": report.out.path if report.out else None,
                       "backend": report.out.backend if report.out else None,
                       "findings": [f.to_json() for f in report.findings],
                       "skipped": list(report.skipped)}, indent=2, sort_keys=True) + "\n"
