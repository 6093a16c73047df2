"""Other owners' firewall rules in one small model, and a walk that judges a packet through them.

`Table`s of `Chain`s of `Rule`s, each rule reduced to the conditions doctor
can judge (protocol, destination port, addresses, interfaces, conntrack
state, a local destination) and a verdict; iptables_save.py and
nft_ruleset.py make them from what the tools print.

`walk` follows a `Packet` through a chain the way the kernel does (jumps,
gotos, returns, the policy) in three-valued logic: a condition is true,
false, or unknown (a field of the packet doctor cannot know, such as the
address of a client on the internet, or a match it does not model, such as a
mark). An unknown condition makes both paths possible, so the walk returns
every verdict the packet may meet: {drop} is certain, {accept, drop} is a
maybe. Nothing here runs a command or reads the machine (snapshot.py does).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from netaddr import AddrFormatError, IPNetwork

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
    verdict: str                 # accept drop return jump goto dnat snat continue, vmap (unread)
    target: str = ""             # the chain of a jump or goto; where a dnat or snat goes
    text: str = ""               # the rule as its tool shows it
    delete: tuple[str, ...] = ()  # the command (argv) that removes this rule


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


def networks(items) -> tuple[IPNetwork, ...]:
    out = []
    for item in items:
        try:
            out.append(IPNetwork(str(item)))
        except (AddrFormatError, ValueError, TypeError):
            return ()
    return tuple(out)


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
    iif: str | tuple | None       # a name; a tuple: one of these; None: one of the uplinks; "": unknown;
    oif: str | tuple | None       # NO_IFACE: none. oif "": not known yet (prerouting)
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


def _iface(values: tuple, name, world: World):
    if name == "":
        return None
    if name == NO_IFACE:
        return False
    if isinstance(name, str):
        return any(_glob(v, name) for v in values)
    names = world.uplinks if name is None else name   # one of these (a tuple: a bridge's ports)
    if not names:
        return None
    hits = [any(_glob(v, u) for v in values) for u in names]
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
            elif rule.verdict == "vmap":  # a verdict map doctor could not read: it may end the chain
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
