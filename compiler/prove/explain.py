"""Explain: what the compiled rules do to one packet, rule by rule.

The packet is walked the way the kernel walks it: out of the source namespace
by its routes; on the host through mangle PREROUTING, where publishes' allow-lists
drop, and nat PREROUTING (or mangle and nat OUTPUT when the host sends it),
the routing decision, filter FORWARD, nat POSTROUTING; then to the receiver,
and the reply's way back through FORWARD. Between two containers of one bridge
the packet is bridged: the iptables backend sees it through br_netfilter's IP
hooks, the nftables backend in its bridge table's forward hook. At each hook
the walk runs the backend's own Ruleset (backends/rules.py), the very objects the backend
serialized, so explain speaks for the files netc wrote, for either backend.

The sandbox's addresses stand for the world outside the spec: the host's
outside-facing address is 198.51.100.1 (and 2001:db8:ff::1) on ext0 and
`outside` is 198.51.100.2 (2001:db8:ff::2), a peer that routes the container
subnets of both families via the host (so replies to unmasqueraded traffic
come back, and direct routing to containers is tried), as in `netc verify`
(netc.sandbox), which checks these predictions in a kernel.

A packet's family is that of an address the question gives (`--to
[2001:db8:1::2]:80`, `--from 2001:db8:ff::2`); names alone (a container,
host, outside) mean IPv4.
"""

from __future__ import annotations

from netaddr import IPAddress

from .. import ir
from ..backends import for_network
from ..quote import printable
from ..values import Family, NetKind, Proto
from .evaluate import Evaluator
from .world import (EXT, HOSTS, LOCALHOST, OUTSIDES, Answer, ExplainError, Packet, Step,  # noqa: F401 (the CLI's)
                    World, show)


def parse_target(text: str) -> tuple[str, int | None, Proto | None]:
    """B[:PORT[/PROTO]]: the name or address (an IPv6 address with a port in brackets:
    [2001:db8::1]:80), the port, the protocol."""
    proto = None
    if "/" in text:
        text, _, p = text.rpartition("/")
        if p not in ("tcp", "udp"):
            raise ExplainError(f"unknown protocol {p!r}: expected tcp or udp")
        proto = Proto(p)
    name, port, port_text = text, None, None
    if text.startswith("["):
        name, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ExplainError(f"invalid target {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:] if rest else None
        if _version(name) != 6:
            raise ExplainError(f"invalid target {text!r}: brackets hold an IPv6 address")
    elif text.count(":") == 1:
        name, _, port_text = text.partition(":")
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ExplainError(f"invalid port {port_text!r}: expected 1 to 65535")
        port = int(port_text)
    if port is not None and proto is None:
        proto = Proto.TCP
    if proto is not None and port is None:
        raise ExplainError("a protocol needs a port: B:PORT/PROTO")
    return name, port, proto


def _version(text: str) -> int | None:
    try:
        return IPAddress(text).version
    except Exception:
        return None


class Explainer:
    def __init__(self, network: ir.Network, backend: str) -> None:
        self.network = network
        self.world = World(network)
        self.backend = for_network(network, backend)
        self.eval = Evaluator(self.backend.ruleset(network), self.world, self.backend)

    def resolve_end(self, name: str) -> str:
        if name in ("host", "outside") or name in self.world.containers:
            return name
        try:
            IPAddress(name)
            return name
        except Exception:
            from ..diagnostics import did_you_mean
            known = list(self.world.containers) + ["host", "outside"]
            raise ExplainError(f"unknown endpoint {name!r}: a container name, host, outside or an address"
                               f"{did_you_mean(name, known)}") from None

    def explain(self, src: str, dst: str) -> Answer:
        src = self.resolve_end(src)
        name, port, proto = parse_target(dst)
        name = self.resolve_end(name)
        w = self.world
        steps: list[Step] = []
        versions = {v for v in (_version(name), _version(src)) if v}
        if len(versions) > 1:
            raise ExplainError(f"{src} and {name} are of different families: give two IPv4 or two IPv6 addresses")
        family = Family(versions.pop()) if versions else Family.V4
        nothing = lambda who, why: Answer("drop", None, f"-> {name}", steps=[Step("route", f"{who} {why}")],  # noqa: E731
                                          reason="no address")

        # Where the packet starts.
        if src == "outside":
            saddr, origin = OUTSIDES[family], "outside"
        elif src == "host" or (src in w.containers and w.owner(src).mode is NetKind.HOST):
            saddr, origin = None, "host"
        elif src in w.containers:
            owner = w.owner(src)
            saddr, origin = owner.address_of(family), owner.name
            if saddr is None and owner.mode is NetKind.BRIDGE:
                return nothing(src, f"has no {family} address: it cannot send {family}")
        else:
            a = IPAddress(src)
            if a == OUTSIDES[family] or a in w.outside_sources:
                saddr, origin = a, "outside"
            elif a in w.by_address or a in w.p2p_address:
                origin = w.owner(w.by_address.get(a) or w.p2p_address[a]).name
                saddr = a
            else:
                raise ExplainError(f"{src} is no address of a container, the host or outside")

        # Where it is sent.
        if name == "host":
            daddr = LOCALHOST[family] if origin == "host" else HOSTS[family]
        elif name == "outside":
            daddr = OUTSIDES[family]
        elif name in w.containers:
            target = w.owner(name)
            if target.mode is NetKind.HOST:
                daddr = LOCALHOST[family] if origin == "host" else HOSTS[family]
            else:   # a p2p peer by its address on the link, else the bridge address in the family
                daddr = w.address_of(origin if origin in w.containers else None, name, family)
                if daddr is None and target.address is not None:
                    return nothing(name, f"has no {family} address: nothing can reach it in {family}")
                if daddr is None:
                    return nothing(name, f"has no address (net {target.mode.value}) and no p2p link to {origin}: "
                                         f"nothing from {origin} can reach it")
        else:
            daddr = IPAddress(name)
        p = Packet(saddr or daddr, daddr, proto, 40000, port or 0)
        answer = Answer("drop", None, "")

        if origin == "host":
            return self._from_host(p, answer, steps)
        if origin == "outside":
            p.iif = EXT
            return self._arrive(p, answer, steps, came_from="outside")
        c = w.containers[origin]
        link = w.p2p(c.netns, daddr)
        if link:
            # The host route to the peer leaves by the p2p interface, whose address is the source.
            peer, p.saddr = w.owner(link[0]).name, link[1]
            steps.append(Step(f"{origin}'s namespace", f"{daddr} is the p2p peer {peer}: straight over the "
                              "p2p link, no host firewall in the way", verdict="delivered"))
            return self._done(answer, p, steps, "accept", peer)
        if c.mode is NetKind.NONE:
            steps.append(Step(f"{origin}'s namespace", f"net none: no route to {daddr}", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "no route")
        bridge = w.bridges[c.bridge]
        gateway, subnet = w.gateway(bridge, family), bridge.network if family is Family.V4 else bridge.network6
        p.iif = bridge.name
        if daddr == c.address_of(family) or w.is_loopback(daddr):
            steps.append(Step(f"{origin}'s namespace", f"{daddr} is {origin}'s own address", verdict="delivered"))
            return self._done(answer, p, steps, "accept", origin)
        if daddr in subnet and daddr != gateway:
            steps.append(Step(f"{origin}'s namespace", f"{daddr} is on {bridge.name}: sent on the link, bridged"))
            return self._bridged(p, answer, steps, origin)
        steps.append(Step(f"{origin}'s namespace", f"default route via {gateway} ({bridge.name})"))
        return self._arrive(p, answer, steps, came_from=origin)

    # ---------------------------------------------------------- cases
    def _bridged(self, p: Packet, answer: Answer, steps: list[Step], origin: str) -> Answer:
        """Container to container on one bridge: with iptables, br_netfilter runs the IP hooks, with
        iif = oif = the bridge; with nftables, the bridge family's forward hook, with the two ports
        (where br_netfilter is on too, the IP hooks see the frame as well and say the same)."""
        p.oif = p.iif
        target = self.world.by_address.get(p.daddr)
        if not self.backend.BR_NETFILTER:
            return self._bridged_nft(p, answer, steps, origin, target)
        if self.eval.hook("prerouting", "mangle", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped before translation")
        if self.eval.hook("prerouting", "nat", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped in nat prerouting")
        if self.eval.hook("forward", "filter", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped in filter forward")
        self.eval.hook("postrouting", "nat", p, steps)
        if target is None:
            steps.append(Step("bridge", f"no container has {p.daddr}", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "no such container")
        return self._deliver(p, answer, steps, target)

    def _bridged_nft(self, p: Packet, answer: Answer, steps: list[Step], origin: str, target: str | None) -> Answer:
        """The bridge family's forward hook, between the sender's port and the receiver's (their
        host veths); the reply takes the same hook the other way. No translation on the way."""
        w = self.world
        if target is None:
            steps.append(Step("bridge", f"no container has {p.daddr}", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "no such container")
        port = lambda name: w.owner(name).host_veth  # noqa: E731
        p.iif, p.oif = port(origin), port(target)
        if self.eval.hook("forward", "bridge", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped in the bridge's forward hook")
        return self._reply(p, answer, steps, target, kind="bridge")

    def _from_host(self, p: Packet, answer: Answer, steps: list[Step]) -> Answer:
        w = self.world
        p.saddr = p.daddr if w.is_local(p.daddr) else HOSTS[p.family]
        route_bridge = w.bridge_of(p.daddr)
        if route_bridge is not None:
            p.saddr = w.gateway(route_bridge, p.family)
        steps.append(Step("host", f"sent by the host from {p.saddr}"))
        if self.eval.hook("output", "mangle", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped before translation: the source is not "
                                                                "in the publish's allow-list")
        self.eval.hook("output", "nat", p, steps)
        if w.is_local(p.daddr):
            return self._done(answer, p, steps, "drop", "host", "delivered to the host itself: no publish matched")
        b = w.bridge_of(p.daddr)
        p.oif = b.name if b else EXT
        steps.append(Step("route", f"{p.daddr} leaves by {p.oif}"))
        self.eval.hook("postrouting", "nat", p, steps)
        return self._land(p, answer, steps)

    def _arrive(self, p: Packet, answer: Answer, steps: list[Step], came_from: str) -> Answer:
        """A packet arriving at the host from an interface: prerouting, route, forward, postrouting."""
        w = self.world
        if self.eval.hook("prerouting", "mangle", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped before translation: the source is not "
                                                                "in the publish's allow-list")
        self.eval.hook("prerouting", "nat", p, steps)
        if w.is_local(p.daddr):
            if w.is_loopback(p.daddr) and came_from == "outside":
                steps.append(Step("route", f"{p.daddr} from outside is a martian: the kernel drops it",
                                  verdict="drop"))
                return self._done(answer, p, steps, "drop", None, "martian")
            steps.append(Step("route", f"{p.daddr} is the host's own address: input, not forwarded",
                              verdict="delivered"))
            return self._done(answer, p, steps, "drop", "host", "delivered to the host itself: no publish matched")
        b = w.bridge_of(p.daddr)
        if b is None and p.daddr != OUTSIDES[p.family]:
            steps.append(Step("route", f"no route to {p.daddr} in the sandbox", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "no route")
        if b is None and came_from == "outside":
            steps.append(Step("route", "back out of the interface it came in by", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "not routed")
        p.oif = b.name if b else EXT
        steps.append(Step("route", f"{p.daddr} leaves by {p.oif}: forwarded"))
        if not w.forwarding[p.family]:
            steps.append(Step("route", f"the host does not forward {p.family} (ip-forward false, or no bridge "
                                       f"has {p.family})", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "ip forwarding is off")
        if self.eval.hook("forward", "filter", p, steps) == "DROP":
            return self._done(answer, p, steps, "drop", None, "dropped in filter forward")
        self.eval.hook("postrouting", "nat", p, steps)
        return self._land(p, answer, steps)

    def _land(self, p: Packet, answer: Answer, steps: list[Step]) -> Answer:
        if p.oif == EXT:
            return self._reply(p, answer, steps, "outside")
        target = self.world.by_address.get(p.daddr)
        if target is None:
            steps.append(Step("bridge", f"no container has {p.daddr}", verdict="drop"))
            return self._done(answer, p, steps, "drop", None, "no such container")
        return self._deliver(p, answer, steps, target)

    def _deliver(self, p: Packet, answer: Answer, steps: list[Step], target: str) -> Answer:
        return self._reply(p, answer, steps, target)

    def _reply(self, p: Packet, answer: Answer, steps: list[Step], target: str, kind: str = "filter") -> Answer:
        """The reply goes back the same way as an established connection (through filter forward, or
        the bridge family's forward hook between two ports)."""
        if p.iif is not None and p.oif is not None:
            reply = Packet(p.daddr, p.saddr, p.proto, p.dport, p.sport, iif=p.oif, oif=p.iif,
                           ct=frozenset({"ESTABLISHED"}) | (p.ct & {"DNAT"}))
            sub: list[Step] = []
            verdict = self.eval.hook("forward", kind, reply, sub)
            for s in sub:
                s.where = "reply: " + s.where
            steps.extend(sub)
            if verdict == "DROP":
                return self._done(answer, p, steps, "drop", None, "the reply is dropped")
        steps.append(Step("deliver", f"delivered to {target}, from {p.saddr}", verdict="accept"))
        return self._done(answer, p, steps, "accept", target)

    def _done(self, answer: Answer, p: Packet, steps: list[Step], verdict: str, to: str | None,
              reason: str = "") -> Answer:
        answer.verdict, answer.delivered_to, answer.steps, answer.reason = verdict, to, steps, reason
        answer.packet = p.show()
        if "DNAT" in p.ct:
            answer.dnat = show(p.daddr, p.dport)
        if verdict == "accept":
            answer.source_seen = str(p.saddr)
        return answer


def explain(network: ir.Network, src: str, dst: str, backend: str = "iptables") -> Answer:
    return Explainer(network, backend).explain(src, dst)


def render(answer: Answer, src: str, dst: str) -> str:
    lines = [f"explain {src} -> {dst}"]
    width = max((len(s.where) for s in answer.steps), default=0)
    for s in answer.steps:
        tail = f"  [{s.verdict}]" if s.verdict else ""
        origin = f"    <- {printable(s.origin)}" if s.origin else ""
        lines.append(f"  {s.where:<{width}}  {s.text}{tail}{origin}")
    if answer.verdict == "accept":
        extra = f", translated to {answer.dnat}" if answer.dnat else ""
        lines.append(f"verdict: accept: delivered to {answer.delivered_to}{extra}; the receiver sees the source "
                     f"{answer.source_seen}")
    else:
        lines.append(f"verdict: drop ({answer.reason or 'no rule accepts it'})")
    return "\n".join(lines) + "\n"
