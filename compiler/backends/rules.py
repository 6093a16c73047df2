"""Typed firewall rules: what a backend builds before it prints a single line.

A rule is a match and a verdict in a chain. Backends build these from the
IR's rules, serialize them once, and `explain` evaluates the same objects,
so what explain says is what the backend wrote. Every field is a plain value;
None means "any".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork

from ..ir import Origin
from ..model import PortRange, Proto


class Verdict(str, enum.Enum):
    ACCEPT = "ACCEPT"
    DROP = "DROP"
    JUMP = "JUMP"
    DNAT = "DNAT"
    MASQUERADE = "MASQUERADE"


@dataclass(frozen=True, slots=True)
class Neg:
    """A negated match value: `! -o docker0`."""
    value: object


@dataclass(frozen=True, slots=True)
class Match:
    iif: str | Neg | None = None
    oif: str | Neg | None = None
    saddr: IPNetwork | Neg | None = None
    daddr: IPNetwork | Neg | None = None
    proto: Proto | None = None
    sport: PortRange | None = None
    dport: PortRange | None = None
    ctstate: frozenset[str] | Neg | None = None   # ESTABLISHED, RELATED, DNAT
    src_local: bool = False                        # addrtype --src-type LOCAL
    dst_local: bool = False                        # addrtype --dst-type LOCAL


@dataclass(frozen=True, slots=True)
class Rule:
    table: str            # filter | nat
    chain: str
    match: Match
    verdict: Verdict
    target: str | None = None              # JUMP: the chain
    to_addr: IPAddress | None = None       # DNAT
    to_ports: PortRange | None = None      # DNAT; None keeps the port
    origin: Origin | None = field(default=None, compare=False)
    what: str = field(default="", compare=False)  # the IR rule kind, for explain


def net(address: IPAddress) -> IPNetwork:
    return IPNetwork(f"{address}/32")
