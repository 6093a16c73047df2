"""The world a packet of explain travels in: the spec's namespaces and bridges, the
host and the outside peer (the sandbox's addresses), and what a packet, a step of
its walk and explain's answer are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netaddr import IPAddress

from .. import ir
from ..kernel import LOOPBACK
from ..values import NetKind, Proto
from .sandbox import HOST_IP, OUTSIDE_IP

HOST = IPAddress(HOST_IP)
OUTSIDE = IPAddress(OUTSIDE_IP)
EXT = "ext0"


class ExplainError(Exception):
    """A question explain cannot answer (an unknown name, a malformed target)."""


@dataclass
class Packet:
    saddr: IPAddress
    daddr: IPAddress
    proto: Proto | None          # None: no ports (an ICMP echo)
    sport: int
    dport: int
    iif: str | None = None
    oif: str | None = None
    ct: frozenset[str] = frozenset({"NEW"})

    def show(self) -> str:
        port = f":{self.dport}/{self.proto}" if self.proto else " (icmp)"
        return f"{self.saddr} -> {self.daddr}{port}"


@dataclass
class Step:
    where: str            # "nat PREROUTING", "route", "filter FORWARD" ...
    text: str             # the rule as the backend wrote it, or what happened
    origin: str = ""      # the spec line, where a rule comes from one
    verdict: str = ""

    def to_json(self) -> dict:
        return {"where": self.where, "rule": self.text, "origin": self.origin, "verdict": self.verdict}


@dataclass
class Answer:
    verdict: str                  # accept | drop
    delivered_to: str | None      # a container name, "outside", "host", or None
    packet: str
    dnat: str | None = None       # address:port the packet was translated to
    source_seen: str | None = None
    steps: list[Step] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "delivered_to": self.delivered_to, "packet": self.packet,
                "translations": {"dnat": self.dnat, "source_seen": self.source_seen},
                "reason": self.reason, "steps": [s.to_json() for s in self.steps]}


class World:
    """Addresses and routes of the host and the containers, from the IR."""

    def __init__(self, network: ir.Network) -> None:
        self.network = network
        self.bridges = {b.name: b for b in network.bridges}
        self.containers = {c.name: c for c in network.containers}
        self.by_address: dict[IPAddress, str] = {}
        for c in network.containers:
            if c.mode is NetKind.BRIDGE and c.address is not None:
                self.by_address.setdefault(c.address, c.name)
        self.p2p_address: dict[IPAddress, str] = {}   # a p2p end's address -> its container
        for p in network.p2ps:
            for end in (p.a, p.b):
                self.p2p_address.setdefault(end.address.ip, end.container)
        self.local = {HOST} | {b.address for b in network.bridges}
        self.forwarding = any(s.key == "net.ipv4.ip_forward" and s.value == "1" for s in network.sysctls)

    def owner(self, name: str) -> ir.Container:
        c = self.containers[name]
        return self.containers[c.shares] if c.shares else c

    def is_local(self, a: IPAddress) -> bool:
        return a in self.local or a in LOOPBACK

    def bridge_of(self, a: IPAddress) -> ir.Bridge | None:
        for b in self.network.bridges:
            if a in b.network:
                return b
        return None

    def iface_address(self, iface: str) -> IPAddress:
        return self.bridges[iface].address if iface in self.bridges else HOST

    def address_of(self, origin: str | None, name: str) -> IPAddress | None:
        """The address container NAME stands for, seen from container ORIGIN (None: from the
        host or outside): its address on a p2p link between the two, when there is one (the
        link's host route is the way there), else its bridge address; None when it has neither."""
        target = self.owner(name)
        if origin is not None and origin in self.containers:
            here = self.owner(origin).netns
            for p in self.network.p2ps:
                for end, other in ((p.a, p.b), (p.b, p.a)):
                    if end.netns == here and other.netns == target.netns:
                        return other.address.ip
        return target.address

    def p2p(self, netns: str, a: IPAddress) -> tuple[str, IPAddress] | None:
        """When `a` is the far end of a p2p link from `netns`: that end's container and this end's address."""
        for p in self.network.p2ps:
            for end, other in ((p.a, p.b), (p.b, p.a)):
                if end.netns == netns and other.address.ip == a:
                    return other.container, end.address.ip
        return None


