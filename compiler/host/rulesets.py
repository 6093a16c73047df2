"""Other owners' firewall rules in one small model, and a walk that judges a packet through them.

Input: the text of `iptables-save` (the legacy or the nf_tables flavour, IPv4
or IPv6) and the JSON of `nft -j list ruleset` (with the text of `nft -a list
ruleset` for showing a rule as its owner wrote it). Output: `Table`s of
`Chain`s of `Rule`s, each rule reduced to the conditions doctor can judge
(protocol, destination port, addresses, interfaces, conntrack state, a local
destination) and a verdict.

`walk` follows a `Packet` through a chain the way the kernel does (jumps,
gotos, returns, the policy) in three-valued logic: a condition is true,
false, or unknown (a field of the packet doctor cannot know, such as the
address of a client on the internet, or a match it does not model, such as a
mark). An unknown condition makes both paths possible, so the walk returns
every verdict the packet may meet: {drop} is certain, {accept, drop} is a
maybe. Nothing here runs a command or reads the machine (`snapshot.py` does).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from netaddr import IPNetwork

# ------------------------------------------------------------------ the model

NO_IFACE = "<none>"  # the input interface of a packet the host sends itself


@dataclass(frozen=True, slots=True)
class Cond:
    """One condition of a rule. kind: proto, dport, saddr, daddr, iif, oif, ctstate,
    ctdnat, dstlocal, family, or other (a match doctor does not model: always unknown)."""
    kind: str
    values: tuple = ()
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    conds: tuple[Cond, ...]
    verdict: str                 # accept drop return jump goto dnat snat continue
    target: str = ""             # the chain of a jump or goto; where a dnat or snat goes
    text: str = ""               # the rule as its tool shows it
    delete: tuple[str, ...] = ()  # the command (argv) that removes this rule
    targets: tuple[str, ...] = ()  # a verdict map: every chain it may jump to


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...]
    hook: str | None = None      # prerouting input forward output postrouting (base chains)
    kind: str = "filter"         # filter, nat, route (mangle), raw
    priority: int | None = None
    policy: str | None = None    # accept or drop (base chains); None: falls through


@dataclass(frozen=True, slots=True)
class Table:
    """A table and who owns it: owner is iptables-legacy, iptables-nft or nft."""
    owner: str
    family: str                  # ip ip6 inet bridge arp netdev
    name: str
    chains: tuple[Chain, ...]
    tool: str = ""               # the program that made it, where its names tell (ufw, Docker, ...)

    def chain(self, name: str) -> Chain | None:
        return next((c for c in self.chains if c.name == name), None)

    @property
    def label(self) -> str:
        if self.owner == "nft":
            return f"nft table {self.family} {self.name}"
        return f"{self.command} table {self.name}"

    @property
    def command(self) -> str:
        """The command that edits this table (iptables-legacy, ip6tables, nft, ...)."""
        if self.owner == "nft":
            return "nft"
        six = "6" if self.family == "ip6" else ""
        return f"ip{six}tables-legacy" if self.owner == "iptables-legacy" else f"ip{six}tables-nft"


def shell_join(words) -> str:
    """A command line to copy into a shell: shlex's quoting, but a lone '!' as it is."""
    return " ".join(w if w == "!" else shlex.quote(w) for w in words)


# ------------------------------------------------------------------ iptables-save

# The hook of each built-in chain, and the kind of table.
BUILTIN_HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward",
                 "OUTPUT": "output", "POSTROUTING": "postrouting"}
TABLE_KINDS = {"filter": "filter", "nat": "nat", "mangle": "route", "raw": "raw", "security": "filter"}
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return",
            "DNAT": "dnat", "REDIRECT": "dnat", "SNAT": "snat", "MASQUERADE": "snat", "NETMAP": "dnat"}
# Matches that change nothing about whether a packet matches: their options are skipped.
NEUTRAL_MODULES = {"comment", "tcp", "udp", "multiport", "conntrack", "state", "addrtype"}
# (their options that doctor does not model still count as unknown conditions, below)


SKIP_CHAINS = ("-A NETC-FORWARD ", "-A NETC-DNAT ", "-A NETC-POSTROUTING ")


def parse_iptables_save(text: str, owner: str, family: str, tool_for: str = "iptables") -> tuple[Table, ...]:
    """`iptables-save` text -> its tables. tool_for: the command a fix runs (iptables-legacy, ...)."""
    tables: list[Table] = []
    name: str | None = None
    policies: dict[str, str | None] = {}
    rules: dict[str, list[Rule]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            name, policies, rules = line[1:], {}, {}
        elif line.startswith(":") and name:
            chain, _, rest = line[1:].partition(" ")
            policy = rest.split(" ", 1)[0]
            policies[chain] = policy.lower() if policy in ("ACCEPT", "DROP") else None
            rules.setdefault(chain, [])
        elif line == "COMMIT" and name:
            _resolve(rules)
            chains = tuple(Chain(c, tuple(rules.get(c, ())),
                                 hook=BUILTIN_HOOKS.get(c) if policies.get(c) else None,
                                 kind=TABLE_KINDS.get(name, "filter"),
                                 priority=TABLE_PRIORITY.get(name),
                                 policy=policies.get(c)) for c in policies)
            tables.append(Table(owner, family, name, chains, _tool(c.name for c in chains)))
            name = None
        elif line.startswith("-A ") and name:
            if line.startswith(SKIP_CHAINS):  # netc's own chains: never judged, and the bulk at scale
                continue
            try:
                words = shlex.split(line) if any(q in line for q in "\"'\\") else line.split()
            except ValueError:
                continue
            chain = words[1]
            rules.setdefault(chain, []).append(_iptables_rule(words, name, tool_for))
    return tuple(tables)


def _ports(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        try:
            out.append((int(lo or 0), int(hi or (lo if not part.endswith(":") else 65535))))
        except ValueError:
            return ()
    return tuple(out)


def _iptables_rule(words: list[str], table: str, tool: str) -> Rule:
    """One `-A CHAIN ...` line of iptables-save -> a Rule (iptables-save writes every
    option in its long or short canonical form, the target last)."""
    conds: list[Cond] = []
    verdict, target, negate = "continue", "", False
    i = 2
    while i < len(words):
        w = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if w == "!":
            negate, i = True, i + 1
            continue
        step = 1 if w in _VALUELESS or not w.startswith("-") else 2
        if w in ("-j", "--jump", "-g", "--goto"):
            target = value
            if target in TERMINAL:
                verdict, target = TERMINAL[target], _target_detail(words[i + 2:])
            else:  # a chain of the table (a jump) or an extension target (LOG, MARK, ...): see _resolve
                verdict = "goto" if w in ("-g", "--goto") else "jump"
            break
        if w in ("-p", "--protocol"):
            conds.append(Cond("proto", (value.lower(),), negate))
        elif w in ("-s", "--source", "-d", "--destination"):
            nets = _networks(value.split(","))
            kind = "saddr" if w in ("-s", "--source") else "daddr"
            conds.append(Cond(kind, nets, negate) if nets else Cond("other", (w, value)))
        elif w in ("-i", "--in-interface", "-o", "--out-interface"):
            kind = "iif" if w in ("-i", "--in-interface") else "oif"
            conds.append(Cond(kind, (value[:-1] + "*" if value.endswith("+") else value,), negate))
        elif w in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports = _ports(value)
            conds.append(Cond("dport", ports, negate) if ports else Cond("other", (w, value)))
        elif w in ("--ctstate", "--state"):
            conds.append(Cond("ctstate", tuple(s.lower() for s in value.split(",")), negate))
        elif w in ("--dst-type", "--src-type"):
            local = "dstlocal" if w == "--dst-type" else "srclocal"
            conds.append(Cond(local, (), negate) if value.upper() == "LOCAL" else Cond("other", (w, value)))
        elif w in ("-m", "--match"):
            if value not in NEUTRAL_MODULES:
                conds.append(Cond("other", ("-m", value)))
        elif w == "--comment":
            pass
        elif w.startswith("-"):
            conds.append(Cond("other", (w,)))  # an option of a match doctor does not model
        negate = False
        i += step
    text = shell_join(words)
    delete = (tool, "-t", table, "-D", *words[1:])
    return Rule(tuple(conds), verdict, target, text, delete)


def _resolve(chains: dict[str, list[Rule]]) -> None:
    """A jump to a name that is no chain of the table is an extension target (LOG, MARK):
    the packet goes on."""
    for rules in chains.values():
        for k, r in enumerate(rules):
            if r.verdict in ("jump", "goto") and r.target not in chains:
                rules[k] = Rule(r.conds, "continue", "", r.text, r.delete)


_VALUELESS = {"--syn", "--rsource", "--rcheck", "--update", "--set", "--remove", "--log-uid", "--log-tcp-sequence",
              "--log-tcp-options", "--log-ip-options", "--random", "--random-fully", "--persistent", "--fragment",
              "-f", "--clamp-mss-to-pmtu", "--notrack", "--physdev-is-bridged", "--physdev-is-in",
              "--physdev-is-out", "--tcp-flags-any"}


def _target_detail(words: list[str]) -> str:
    """Where a DNAT, REDIRECT or SNAT sends the packet, in words."""
    for i, w in enumerate(words[:-1]):
        if w == "--to-destination":
            return words[i + 1]
        if w == "--to-ports":
            return f"port {words[i + 1]} of this host"
        if w == "--to-source":
            return words[i + 1]
    return ""


def _networks(items) -> tuple[IPNetwork, ...]:
    out = []
    for item in items:
        try:
            out.append(IPNetwork(str(item)))
        except Exception:
            return ()
    return tuple(out)


def _tool(chain_names) -> str:
    names = list(chain_names)
    for prefix, tool in (("ufw", "ufw"), ("DOCKER", "Docker"), ("KUBE-", "kube-proxy"),
                         ("LIBVIRT_", "libvirt"), ("NETAVARK", "Podman (netavark)"), ("CNI-", "Podman (CNI)"),
                         ("FORWARD_", "firewalld"), ("f2b-", "fail2ban")):
        if any(n.startswith(prefix) for n in names):
            return tool
    return ""


# ------------------------------------------------------------------ nft -j list ruleset

NFT_TOOLS = {"firewalld": "firewalld", "netavark": "Podman (netavark)", "libvirt_network": "libvirt",
             "kube-proxy": "kube-proxy", "docker-bridges": "Docker", "cilium": "Cilium", "incus": "Incus",
             "lxd": "LXD", "waydroid": "Waydroid"}


def nft_rule_texts(text: str) -> dict[tuple[str, str, str, int], str]:
    """`nft -a list ruleset` -> (family, table, chain, handle) -> the rule's text."""
    out: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = ""
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"table (\S+) (\S+) \{", line)
        if m:
            family, table = m.groups()
            continue
        m = re.match(r"chain (\S+) \{", line)
        if m:
            chain = m.group(1)
            continue
        m = re.search(r"^(.*\S)\s+# handle (\d+)$", line)
        if m and chain and not line.startswith(("type ", "table ", "chain ", "set ", "map ")):
            out[(family, table, chain, int(m.group(2)))] = m.group(1)
    return out


def parse_nft_json(data: dict, skip: set[tuple[str, str]] = frozenset(),
                   texts: dict | None = None) -> tuple[Table, ...]:
    """`nft -j list ruleset` -> its tables, but those in skip ((family, name): read another way)."""
    texts = texts or {}
    order: list[tuple[str, str]] = []
    chains: dict[tuple[str, str], dict[str, dict]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    for item in data.get("nftables", []):
        if "table" in item:
            key = (item["table"]["family"], item["table"]["name"])
            if key not in skip:
                order.append(key)
                chains[key] = {}
        elif "chain" in item:
            c = item["chain"]
            key = (c["family"], c["table"])
            if key in chains:
                chains[key][c["name"]] = c
        elif "rule" in item:
            r = item["rule"]
            key = (r["family"], r["table"])
            if key in chains:
                text = texts.get((r["family"], r["table"], r["chain"], r.get("handle")), "")
                rules.setdefault((*key, r["chain"]), []).append(_nft_rule(r, text))
    tables = []
    for key in order:
        family, name = key
        out = []
        for cname, c in chains[key].items():
            out.append(Chain(cname, tuple(rules.get((family, name, cname), ())), hook=c.get("hook"),
                             kind={"nat": "nat", "route": "route"}.get(c.get("type", "filter"), "filter"),
                             priority=c.get("prio"), policy=c.get("policy") if c.get("hook") else None))
        tables.append(Table("nft", family, name, tuple(out), NFT_TOOLS.get(name, "")))
    return tuple(tables)


def _values(right) -> tuple | None:
    """The right side of an nft match as plain values; ranges as (lo, hi); None: not literal."""
    if isinstance(right, dict):
        if "set" in right:
            out: list = []
            for v in right["set"]:
                more = _values(v)
                if more is None:
                    return None
                out.extend(more)
            return tuple(out)
        if "range" in right:
            lo, hi = right["range"]
            return ((lo, hi),)
        if "prefix" in right:
            return (f"{right['prefix']['addr']}/{right['prefix']['len']}",)
        if "elem" in right:
            return _values(right["elem"].get("val"))
        return None
    if isinstance(right, list):
        return tuple(right)
    if isinstance(right, str) and right.startswith("@"):
        return None  # a named set: its elements are not read
    return (right,)


def _nft_match(m: dict) -> list[Cond]:
    op, left, right = m.get("op", "=="), m.get("left"), m.get("right")
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return [Cond("other", (str(m),))]
    values = _values(right)
    if not isinstance(left, dict) or values is None:
        return [Cond("other", (str(m),))]
    if "meta" in left:
        key = left["meta"].get("key")
        if key in ("iifname", "oifname", "iif", "oif"):
            return [Cond("iif" if key.startswith("i") else "oif", tuple(str(v) for v in values), negate)]
        if key == "l4proto":
            return [Cond("proto", tuple(str(v) for v in values), negate)]
        if key in ("nfproto", "protocol"):
            fam = {"ipv4": "4", "ip": "4", "ipv6": "6", "ip6": "6"}
            if all(str(v) in fam for v in values):
                return [Cond("family", tuple(fam[str(v)] for v in values), negate)]
    if "payload" in left:
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if proto in ("tcp", "udp", "th") and fld == "dport":
            ports = tuple(v if isinstance(v, tuple) else (int(v), int(v)) for v in values
                          if isinstance(v, (int, tuple)) or str(v).isdigit())
            if len(ports) != len(values):
                return [Cond("other", (str(m),))]
            conds = [Cond("dport", ports, negate)]
            if proto != "th":
                conds.insert(0, Cond("proto", (proto,)))
            return conds
        if proto in ("tcp", "udp"):
            return [Cond("proto", (proto,)), Cond("other", (str(m),))]
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            nets = _networks(values)
            fam = Cond("family", ("4" if proto == "ip" else "6",))
            return [fam, Cond(fld, nets, negate) if nets else Cond("other", (str(m),))]
        if proto in ("ip", "ip6"):
            return [Cond("family", ("4" if proto == "ip" else "6",)), Cond("other", (str(m),))]
    if "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            return [Cond("ctstate", tuple(str(v) for v in values), negate)]
        if key == "status" and tuple(values) == ("dnat",):
            return [Cond("ctdnat", (), negate)]
    if "fib" in left:
        fib = left["fib"]
        if fib.get("result") == "type" and fib.get("flags") in (["daddr"], ["saddr"]) and tuple(values) == ("local",):
            return [Cond("dstlocal" if fib["flags"] == ["daddr"] else "srclocal", (), negate)]
    return [Cond("other", (str(m),))]


def _nft_rule(r: dict, text: str) -> Rule:
    conds: list[Cond] = []
    verdict, target, targets = "continue", "", ()
    for e in r.get("expr", []):
        (kind, body), = e.items() if isinstance(e, dict) and len(e) == 1 else ((None, None),)
        if kind == "match":
            conds.extend(_nft_match(body))
        elif kind in ("accept", "drop", "return", "continue"):
            verdict = kind
            break
        elif kind == "reject":
            verdict = "drop"
            break
        elif kind in ("jump", "goto"):
            verdict, target = kind, body.get("target", "")
            break
        elif kind in ("dnat", "redirect"):
            verdict, body = "dnat", body if isinstance(body, dict) else {}
            addr, port = body.get("addr"), body.get("port")
            if kind == "redirect":
                target = f"port {port} of this host" if port is not None else "this host"
            elif isinstance(addr, str):
                target = f"{addr}:{port}" if isinstance(port, int) else addr
            break
        elif kind in ("snat", "masquerade"):
            verdict = "snat"
            break
        elif kind == "vmap":
            data = body.get("data") if isinstance(body, dict) else None
            found = []
            if isinstance(data, dict) and "set" in data:
                for pair in data["set"]:
                    v = pair[1] if isinstance(pair, list) and len(pair) == 2 else {}
                    if isinstance(v, dict):
                        for k in ("jump", "goto"):
                            if k in v:
                                found.append(v[k]["target"])
                        if "drop" in v:
                            found.append("@drop")
                        if "accept" in v:
                            found.append("@accept")
            verdict, targets = "vmap", tuple(found) if found else ("@unknown",)
            break
        elif kind == "xt":
            name = body.get("name", "") if isinstance(body, dict) else ""
            if body.get("type") == "target" and name in TERMINAL:
                verdict = TERMINAL[name]
                break
            if body.get("type") == "match":
                conds.append(Cond("other", (f"xt {name}",)))
        elif kind in ("limit", "quota", "numgen", "queue") or kind is None:
            conds.append(Cond("other", (str(e),)))
        # counter, log, comment, mangle, meta set, ct set, notrack ...: no effect on the path
    family, table, chain = r["family"], r["table"], r["chain"]
    handle = r.get("handle")
    delete = ("nft", "delete", "rule", family, table, chain, "handle", str(handle)) if handle is not None else ()
    return Rule(tuple(conds), verdict, target, text or f"rule handle {handle}", delete, targets)


# ------------------------------------------------------------------ the walk

@dataclass(frozen=True, slots=True)
class Addr:
    """An address of a packet: inside known networks ('net'), the host's own ('local',
    one of nets), or a client anywhere else ('outside': not in the network's subnets)."""
    kind: str
    nets: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class Packet:
    family: str                   # "4" or "6"
    proto: str                    # tcp udp
    dport: tuple[int, int] | None  # a range of destination ports; None: any
    saddr: Addr
    daddr: Addr
    iif: str | None               # a name; None: one of the uplinks; "": unknown; NO_IFACE: none
    oif: str | None               # a name; None: one of the uplinks; "": not known yet (prerouting)
    ctstate: str                  # new or established
    dnat: bool                    # conntrack says the destination was translated
    dst_local: bool
    src_local: bool = False


@dataclass(frozen=True)
class World:
    """What a walk knows beyond the packet: the network's subnets, the host's uplinks."""
    subnets: tuple[IPNetwork, ...] = ()
    uplinks: tuple[str, ...] = ()


def _glob(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def _iface(values: tuple, name: str | None, world: World):
    if name == "":
        return None
    if name == NO_IFACE:
        return False
    if name is not None:
        return any(_glob(v, name) for v in values)
    if not world.uplinks:
        return None
    hits = [any(_glob(v, u) for v in values) for u in world.uplinks]
    return True if all(hits) else False if not any(hits) else None


def _addr(values: tuple[IPNetwork, ...], a: Addr, world: World):
    if a.kind == "outside":
        if all(any(v in s for s in world.subnets) for v in values):
            return False
        if any(v.prefixlen == 0 for v in values):
            return True
        return None
    if not a.nets:
        return None
    inside = [any(n in v for v in values) for n in a.nets]
    if all(inside):
        return True
    if not any(inside) and not any(n in v or v in n for n in a.nets for v in values):
        return False
    return None


def _port(values: tuple, dport) -> bool | None:
    if dport is None:
        return None
    lo, hi = dport
    if not any(a <= hi and lo <= b for a, b in values):
        return False
    at = lo  # sweep: is every port of lo..hi inside one of the ranges?
    for a, b in sorted(values):
        if a <= at <= b:
            at = b + 1
    return True if at > hi else None


def judge(cond: Cond, p: Packet, world: World) -> bool | None:
    """True, False, or None (unknown) for one condition."""
    k, v = cond.kind, cond.values
    if k == "proto":
        r = p.proto in v or {"6": "tcp", "17": "udp"}.get(p.proto) in v or \
            ("all" in v) or any({"tcp": "6", "udp": "17"}.get(p.proto) == x for x in v)
    elif k == "family":
        r = p.family in v
    elif k == "dport":
        r = _port(v, p.dport)
    elif k in ("saddr", "daddr"):
        if v and all(n.version != int(p.family) for n in v):
            r = False
        else:
            r = _addr(v, p.saddr if k == "saddr" else p.daddr, world)
    elif k in ("iif", "oif"):
        r = _iface(v, p.iif if k == "iif" else p.oif, world)
    elif k == "ctstate":
        states = {p.ctstate} | ({"dnat"} if p.dnat else set())
        r = bool(states & set(v))
    elif k == "ctdnat":
        r = p.dnat
    elif k == "dstlocal":
        r = p.dst_local
    elif k == "srclocal":
        r = p.src_local
    else:
        return None
    if r is None:
        return None
    return (not r) if cond.negate else r


def matches(rule: Rule, p: Packet, world: World) -> bool | None:
    result: bool | None = True
    for c in rule.conds:
        r = judge(c, p, world)
        if r is False:
            return False
        if r is None:
            result = None
    return result


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: str            # accept drop dnat snat
    chain: str
    rule: Rule | None       # None: the chain's policy
    certain: bool           # reached on every path doctor can judge


@dataclass
class _Walk:
    table: Table
    packet: Packet
    world: World
    outcomes: list[Outcome] = field(default_factory=list)

    def chain(self, name: str, certain: bool, depth: int, stop: int | None = None) -> bool | None:
        """Walk one chain. Returns True when every path of the packet falls through it
        (returns), False when none does, None when some may. `falls` below is True while
        every path still reaches the current rule, None once some have ended."""
        chain = self.table.chain(name)
        if chain is None or depth > 16:
            return None
        falls: bool | None = True
        rules = chain.rules if stop is None else chain.rules[:stop]
        for rule in rules:
            m = matches(rule, self.packet, self.world)
            if m is False or rule.verdict == "continue":
                continue
            sure = certain and m is True and falls is True
            if rule.verdict == "return":
                if m is True:
                    return falls
                falls = None
            elif rule.verdict == "vmap":  # a key doctor cannot judge: each entry may be taken
                for sub in rule.targets:
                    if sub in ("@drop", "@accept"):
                        self.outcomes.append(Outcome(sub[1:], name, rule, False))
                    elif sub != "@unknown":
                        self.chain(sub, False, depth + 1)
                falls = None
            elif rule.verdict in ("jump", "goto"):
                back = self.chain(rule.target, sure, depth + 1)
                if rule.verdict == "goto":  # the goto's chain falling through returns from this one
                    if m is True:
                        return back if falls is True else (False if back is False else None)
                    falls = None
                elif m is True and back is False:
                    return False
                elif m is not True or back is not True:
                    falls = None
            else:
                self.outcomes.append(Outcome(rule.verdict, name, rule, sure))
                if m is True:
                    return False
                falls = None
        return falls


def walk(table: Table, chain: str, packet: Packet, world: World, stop: int | None = None) -> list[Outcome]:
    """Every verdict `packet` may meet in base chain `chain` of `table`, the policy included.
    stop: judge only the rules before this index (and no policy)."""
    w = _Walk(table, packet, world)
    falls = w.chain(chain, True, 0, stop)
    base = table.chain(chain)
    if stop is None and base is not None and base.policy and falls is not False:
        w.outcomes.append(Outcome(base.policy, chain, None, falls is True))
    return w.outcomes
