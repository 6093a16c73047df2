"""Typed firewall rules: what a backend builds before it prints a single line.

A backend turns the IR's rules into a `Ruleset`: base chains on the kernel's
hooks, regular chains, and (nftables) sets and maps with their elements. It
then serializes the Ruleset once; `explain` evaluates the very same objects,
so what explain says is what the backend wrote. Every field is a plain value;
None means "any".

Families: a chain belongs to one family's tables (iptables and ip6tables:
family 4 or 6) or to both (nftables' inet table: None), and a rule of a chain
of both families may match one (Match.family; an address in the match implies
its own family).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork

from ..ir import Origin
from ..values import Family, PortRange, Proto


class Verdict(str, enum.Enum):
    ACCEPT = "ACCEPT"
    DROP = "DROP"
    JUMP = "JUMP"            # target: a chain
    RETURN = "RETURN"        # back to the calling chain
    VMAP = "VMAP"            # vmap: (field, map); the map gives JUMP targets
    DNAT = "DNAT"            # to_addr/to_ports, or dnat_map: (fields, map)
    MASQUERADE = "MASQUERADE"
    MARK = "MARK"            # sets kernel.TRANSLATED_MARK in the packet's mark, and goes on


@dataclass(frozen=True, slots=True)
class Neg:
    """A negated match value: `! -o docker0`, `oifname != "docker0"`."""
    value: object


@dataclass(frozen=True, slots=True)
class Lookup:
    """The packet's fields, concatenated, looked up in a set: `ip saddr . th dport @s`.

    Fields: saddr, daddr, proto, sport, dport (after any translation so far).
    """
    fields: tuple[str, ...]
    set: str
    negate: bool = False     # `!= @s`: the packet's key is in no element


@dataclass(frozen=True, slots=True)
class Match:
    iif: str | Neg | None = None
    oif: str | Neg | None = None
    iif_set: str | None = None                     # iifname @set
    oif_set: str | None = None
    saddr: IPNetwork | Neg | None = None
    daddr: IPNetwork | Neg | None = None
    proto: Proto | None = None
    sport: PortRange | None = None
    dport: PortRange | None = None
    ctstate: frozenset[str] | Neg | None = None    # ESTABLISHED, RELATED, DNAT (ct status dnat)
    src_local: bool = False                        # addrtype --src-type LOCAL / fib saddr type local
    dst_local: bool = False
    lookups: tuple[Lookup, ...] = ()
    family: Family | None = None                   # meta nfproto ipv4|ipv6 (None: the chain's families)
    icmp6: tuple[str, ...] = ()                    # ICMPv6 types (neighbour discovery): no tcp/udp packet matches
    l3: bool = False                               # IPv4 and IPv6 only (bridge family: not ARP): meta protocol
    marked: bool = False                           # the packet carries kernel.TRANSLATED_MARK

    def implied_family(self) -> Family | None:
        """The family the match is limited to: its own, or that of an address it compares."""
        if self.family is not None:
            return self.family
        if self.icmp6:
            return Family.V6
        for v in (self.saddr, self.daddr):
            if v is not None:
                return Family((v.value if isinstance(v, Neg) else v).version)
        return None


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    chain: str
    match: Match
    verdict: Verdict
    target: str | None = None                       # JUMP
    to_addr: IPAddress | None = None                # DNAT
    to_ports: PortRange | None = None               # DNAT; None keeps the port
    dnat_map: tuple[tuple[str, ...], str] | None = None   # DNAT through a map
    vmap: tuple[str, str] | None = None             # VMAP: ("iif"|"oif", map)
    origin: Origin | None = field(default=None, compare=False)
    family: Family | None = None                    # the chain's family (iptables: 4, ip6tables: 6; inet: None)


@dataclass(frozen=True, slots=True)
class Element:
    """A set or map element: key fields (addresses, Proto, PortRange, names), and a value for maps."""
    key: tuple
    value: tuple | str | None = None                # map: (address, PortRange) or a chain name (vmap)
    origin: Origin | None = field(default=None, compare=False)


@dataclass
class Chain:
    table: str
    name: str
    hook: str | None = None          # prerouting, output, forward, postrouting (base chains)
    kind: str | None = None          # filter | nat (base chains)
    priority: int = 0
    rules: list[Rule] = field(default_factory=list)
    family: Family | None = None     # 4 (iptables), 6 (ip6tables), None (nftables' inet: both)


@dataclass
class Ruleset:
    backend: str
    chains: dict[tuple[Family | None, str, str], Chain] = field(default_factory=dict)
    sets: dict[str, list[Element]] = field(default_factory=dict)

    def chain(self, table: str, name: str, family: Family | None = None, **kw) -> Chain:
        key = (family, table, name)
        if key not in self.chains:
            self.chains[key] = Chain(table, name, family=family, **kw)
        return self.chains[key]

    def add(self, rule: Rule) -> None:
        self.chain(rule.table, rule.chain, rule.family).rules.append(rule)

    def base_chains(self, hook: str, kind: str, family: Family | None = None) -> list[Chain]:
        """The base chains on a hook that see packets of FAMILY, in the order the kernel runs them."""
        found = [c for c in self.chains.values() if c.hook == hook and c.kind == kind
                 and (c.family is None or family is None or c.family == family)]
        return sorted(found, key=lambda c: c.priority)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())

    @property
    def element_count(self) -> int:
        return sum(len(e) for e in self.sets.values())


_NETS: dict[tuple[int, int], IPNetwork] = {}


def net(address: IPAddress) -> IPNetwork:
    """ADDRESS/32 (or /128): each container's address is in several rules, each made once.
    From the integer: parsing the text "A.B.C.D/32" was a third of the iptables backend's time."""
    key = (address.version, int(address))
    n = _NETS.get(key)
    if n is None:
        n = _NETS[key] = IPNetwork((key[1], 32 if key[0] == 4 else 128), version=key[0])
    return n
