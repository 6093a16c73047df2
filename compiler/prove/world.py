"""The world a packet of explain travels in: the spec's namespaces and bridges, the
host and the outside peer (the sandbox's addresses, in both families), and what a
packet, a step of its walk and explain's answer are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netaddr import IPAddress, IPNetwork

from .. import ir
from ..kernel import LOOPBACK, LOOPBACK6
from ..values import Family, NetKind, Proto
from .sandbox import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6

HOST = IPAddress(HOST_IP)
OUTSIDE = IPAddress(OUTSIDE_IP)
HOSTS = {Family.V4: HOST, Family.V6: IPAddress(HOST_IP6)}
OUTSIDES = {Family.V4: OUTSIDE, Family.V6: IPAddress(OUTSIDE_IP6)}
LOCALHOST = {Family.V4: IPAddress("127.0.0.1"), Family.V6: LOOPBACK6}
FORWARDING = {Family.V4: "net.ipv4.ip_forward", Family.V6: "net.ipv6.conf.all.forwarding"}
EXT = "ext0"


# Clients outside the host that are not the outside peer's own address: one stranger per
# family (in no allow-list, unless a list names it), and one address inside each network of
# each allow-list. The sandbox gives them to the outside peer (verify), so that a probe
# from inside and from outside every list is sent for real.
STRANGERS = (IPAddress("192.0.2.254"), IPAddress("2001:db8:ee::fe"))
SANDBOX_LINKS = (IPNetwork("198.51.100.0/24"), IPNetwork("2001:db8:ff::/64"))


def outside_sources(network: ir.Network) -> tuple[IPAddress, ...]:
    """The addresses the outside peer also sends from, for the publishes' allow-lists (none
    without one): usable, in no bridge's subnet, not on the sandbox's link (whose outside
    address is the peer's own), sorted."""
    guards = [r for r in network.rules if isinstance(r, ir.Guard)]
    if not guards:
        return ()
    nets = [n for r in guards for n in r.allow]
    versions = {r.family.value for r in guards}
    taken = [b.network for b in network.bridges] + [b.network6 for b in network.bridges if b.network6 is not None]
    taken += list(SANDBOX_LINKS)
    found = set()
    for n in nets:
        a = n.network if n.size == 1 else IPAddress(n.first + 1, n.version)
        found.add(a)
    found.update(s for s in STRANGERS if s.version in versions and not any(s in n for n in nets))
    good = lambda a: not (a.is_loopback() or a.is_multicast() or a.is_link_local()  # noqa: E731
                          or (a.version == 4 and (a in IPNetwork("0.0.0.0/8") or a in IPNetwork("240.0.0.0/4")))
                          or (a.version == 6 and a in IPNetwork("::ffff:0:0/96"))
                          or any(a in t for t in taken))
    return tuple(sorted((a for a in found if good(a)), key=lambda a: (a.version, a)))


def show(address: IPAddress, port: int | None = None) -> str:
    """ADDRESS:PORT, an IPv6 address in brackets."""
    text = f"[{address}]" if address.version == 6 and port is not None else str(address)
    return text if port is None else f"{text}:{port}"


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
    marked: bool = False         # carries kernel.TRANSLATED_MARK (nftables, set in prerouting after nat)

    @property
    def family(self) -> Family:
        return Family(self.daddr.version)

    def show(self) -> str:
        if not self.proto:
            return f"{self.saddr} -> {self.daddr} (icmp)"
        return f"{self.saddr} -> {show(self.daddr, self.dport)}/{self.proto}"


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
            if c.mode is NetKind.BRIDGE:
                for a in (c.address, c.address6):
                    if a is not None:
                        self.by_address.setdefault(a, c.name)
        self.p2p_address: dict[IPAddress, str] = {}   # a p2p end's address -> its container
        for p in network.p2ps:
            for end in (p.a, p.b):
                self.p2p_address.setdefault(end.address.ip, end.container)
        self.local = {HOST, HOSTS[Family.V6]} | {a for b in network.bridges for a in (b.address, b.address6)
                                                 if a is not None}
        self.outside_sources = set(outside_sources(network))
        on = {s.key for s in network.sysctls if s.value == "1"}
        self.forwarding = {f: key in on for f, key in FORWARDING.items()}

    def owner(self, name: str) -> ir.Container:
        c = self.containers[name]
        return self.containers[c.shares] if c.shares else c

    def is_local(self, a: IPAddress) -> bool:
        return a in self.local or a in LOOPBACK or a == LOOPBACK6

    def is_loopback(self, a: IPAddress) -> bool:
        return a in LOOPBACK or a == LOOPBACK6

    def bridge_of(self, a: IPAddress) -> ir.Bridge | None:
        for b in self.network.bridges:
            net = b.network if a.version == 4 else b.network6
            if net is not None and a in net:
                return b
        return None

    @staticmethod
    def gateway(b: ir.Bridge, family: Family) -> IPAddress | None:
        return b.address if family is Family.V4 else b.address6

    def iface_address(self, iface: str, family: Family = Family.V4) -> IPAddress:
        if iface in self.bridges:
            return self.gateway(self.bridges[iface], family)
        return HOSTS[family]

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

    def address_of(self, origin: str | None, name: str, family: Family = Family.V4) -> IPAddress | None:
        """The address container NAME stands for, seen from container ORIGIN (None: from the
        host or outside): its address on a p2p link between the two, when there is one (the
        link's host route is the way there; p2p links are IPv4), else its bridge address in
        FAMILY; None when it has neither."""
        target = self.owner(name)
        if origin is not None and origin in self.containers and family is Family.V4:
            here = self.owner(origin).netns
            for p in self.network.p2ps:
                for end, other in ((p.a, p.b), (p.b, p.a)):
                    if end.netns == here and other.netns == target.netns:
                        return other.address.ip
        return target.address_of(family)

    def p2p(self, netns: str, a: IPAddress) -> tuple[str, IPAddress] | None:
        """When `a` is the far end of a p2p link from `netns`: that end's container and this end's address."""
        for p in self.network.p2ps:
            for end, other in ((p.a, p.b), (p.b, p.a)):
                if end.netns == netns and other.address.ip == a:
                    return other.container, end.address.ip
        return None


