"""Verify: prove explain's predictions in a kernel, in throwaway namespaces.

Compile the spec; build a sandbox host and outside namespace (netc.sandbox);
apply; start a probe server in every container namespace on every exposed
port plus one port nothing exposes, and one outside (each listening in both
families); send the matrix (every ordered pair of containers on each such
port, every publish from outside, from the host and from another container,
hairpin, egress, p2p), in IPv4 and, where a container has IPv6, in IPv6 too,
with each publish also tried in the family it does not publish; compare
every observed result (who answered, and the source address it saw) with
explain's prediction; tear everything down, also on failure or Ctrl-C.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from netaddr import IPAddress

from .. import ir
from .explain import Explainer
from .world import World, outside_sources
from ..values import Family, NetKind, Proto
from ..emit.render import render as render_tree
from .sandbox import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, Sandbox, in_ns

BRIDGE_NF_CALLS = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables")


def host_bridge_nf_calls() -> dict[str, str]:
    """Whether this host hands bridged frames to the IP hooks (br_netfilter), per family: "0" where
    the module is not loaded (nothing hands them over)."""
    found = {}
    for key in BRIDGE_NF_CALLS:
        try:
            value = Path("/proc/sys/net/bridge", key).read_text().strip()
        except OSError:
            value = "0"
        found[key] = value if value in ("0", "1") else "0"
    return found

UNEXPOSED = 39999          # a port no container exposes unless the spec says so
OUTSIDE_PORT = 7777
MAX_PORTS_PER_RANGE = 3
# probe.py processes at a time, and probes in each: at most 64 in flight, as many as a probe
# server's listen backlog holds (one chunk of 64 at a time before)
PARALLEL_ASKS, PROBES_PER_ASK = 4, 16


@dataclass
class Probe:
    source: str            # container name, host or outside
    target: str            # what explain is asked: NAME:PORT/PROTO
    address: str           # what the probe dials
    port: int
    proto: Proto
    predicted: str = ""    # "web 198.51.100.2" or "no answer"
    bind: str = ""         # the source address to send from (the outside peer's other addresses)
    observed: str = ""
    why: str = ""

    @property
    def agrees(self) -> bool:
        return self.predicted == self.observed

    @property
    def dial(self) -> str:
        """What probe.py asks: PROTO:ADDRESS:PORT, an IPv6 address in brackets."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto}:{address}:{self.port}" + (f"@{self.bind}" if self.bind else "")

    def to_json(self) -> dict:
        return {"from": self.source, "to": self.target,
                "dialed": self.dial.partition(":")[2].partition("@")[0] + f"/{self.proto}",
                "predicted": self.predicted, "observed": self.observed, "agrees": self.agrees}


def _ports(c: ir.Container) -> list[tuple[Proto, int]]:
    out = []
    for proto, rng in c.exposed:
        out += [(proto, p) for p in list(rng)[:MAX_PORTS_PER_RANGE]]
    unexposed = UNEXPOSED
    while (Proto.TCP, unexposed) in out:
        unexposed -= 1
    return out + [(Proto.TCP, unexposed)]


def plan(network: ir.Network, sample: int | None = None, seed: int = 0) -> tuple[dict, list[Probe]]:
    """The servers to start (owner -> ports) and the probes to send."""
    owners = [c for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE) and not c.shares]
    servers = {c.name: _ports(c) for c in owners}
    by_name = {c.name: c for c in network.containers}
    probes: list[Probe] = []

    def address_of(name: str, source: str) -> str:
        if name == "host":
            return "127.0.0.1" if source == "host" else HOST_IP
        if name == "outside":
            return OUTSIDE_IP
        return str(by_name[name].address)

    # Every ordered pair of containers, on every port the receiver serves, by name: a p2p
    # peer is reached at its address on the link (explain's reading of a name, World.address_of);
    # in IPv6 too where the receiver has it (a sender without IPv6 has no route: a probe too).
    world = World(network)
    for a in owners:
        for b in owners:
            address = world.address_of(a.name, b.name) if a is not b else None
            if address is None:
                continue
            for proto, port in servers[b.name]:
                probes.append(Probe(a.name, f"{b.name}:{port}/{proto}", str(address), port, proto))
                if b.address6 is not None:
                    probes.append(Probe(a.name, f"[{b.address6}]:{port}/{proto}", str(b.address6), port, proto))
    # Every publish from outside, the host, another container, and itself (hairpin), in its family;
    # and from outside in the other family, where it must not answer unless another publish does.
    for c in network.containers:
        for m in c.mappings:
            for hport in list(m.host_ports)[:MAX_PORTS_PER_RANGE]:
                sources = ["outside", "host", c.name] + [o.name for o in owners if o.name != c.name
                                                         and o.mode is NetKind.BRIDGE][:1]
                if m.family is Family.V4:
                    for s in sources:
                        probes.append(Probe(s, f"host:{hport}/{m.proto}", address_of("host", s), hport, m.proto))
                    other = HOST_IP6
                else:
                    dial = HOST_IP6 if str(m.host_ip) == "::" else str(m.host_ip)
                    for s in sources:
                        probes.append(Probe(s, f"[{dial}]:{hport}/{m.proto}", dial, hport, m.proto))
                    other = HOST_IP
                target = f"[{other}]:{hport}/{m.proto}" if ":" in other else f"{other}:{hport}/{m.proto}"
                probes.append(Probe("outside", target, other, hport, m.proto))
    # Allow-lists: every publish from the outside peer's other addresses (inside each list's
    # networks, and a stranger in none), in their family.
    extra = outside_sources(network)
    for c in network.containers:
        for m in c.mappings:
            for a in (a for a in extra if a.version == m.family.value):
                hport = m.host_ports.lo
                if m.host_ip.is_loopback():
                    continue   # the host alone reaches it
                if m.family is Family.V4:
                    dial = HOST_IP
                else:
                    dial = HOST_IP6 if str(m.host_ip) == "::" else str(m.host_ip)
                shown = f"[{dial}]" if ":" in dial else dial
                probes.append(Probe(str(a), f"{shown}:{hport}/{m.proto}", dial, hport, m.proto, bind=str(a)))
    # Egress, with the source address the outside sees, in each family the container has.
    for c in owners:
        for proto in (Proto.TCP, Proto.UDP):
            probes.append(Probe(c.name, f"outside:{OUTSIDE_PORT}/{proto}", OUTSIDE_IP, OUTSIDE_PORT, proto))
            if c.address6 is not None:
                probes.append(Probe(c.name, f"[{OUTSIDE_IP6}]:{OUTSIDE_PORT}/{proto}", OUTSIDE_IP6, OUTSIDE_PORT,
                                    proto))
    # p2p links: each end to the other's address.
    for p in network.p2ps:
        for end, other in ((p.a, p.b), (p.b, p.a)):
            owner = by_name[other.container]
            owner = by_name[owner.shares] if owner.shares else owner
            for proto, port in servers.get(owner.name, [])[:2]:
                probes.append(Probe(end.container, f"{other.address.ip}:{port}/{proto}", str(other.address.ip),
                                    port, proto))
    probes = list({(p.source, p.target): p for p in probes}.values())  # a probe asked twice counts once
    if sample is not None and len(probes) > sample:
        probes = sorted(random.Random(seed).sample(probes, sample), key=lambda p: (p.source, p.target))
    return servers, probes


def _expected(answer) -> str:
    if answer.verdict != "accept":
        return "no answer"
    return f"{answer.delivered_to} {answer.source_seen}"


def _observed(text: str) -> str:
    """probe.py's answer, its address written as explain writes addresses."""
    name, _, address = text.partition(" ")
    try:
        return f"{name} {IPAddress(address)}"
    except Exception:
        return text


def prepare(network: ir.Network, box: Sandbox) -> ir.Network:
    """Build in the sandbox what the spec says exists already, and point the spec at it.

    An external bridge is created in the sandbox host with its bip. A `netns
    PATH` namespace becomes a namespace of the sandbox's own (with the
    sandbox's prefix), so verify never touches one outside the sandbox."""
    from dataclasses import replace
    from .sandbox import sh
    for b in network.bridges:
        # The outside is a peer that routes the container subnets via the host:
        # replies reach containers without masquerading, and direct routing
        # to a container address is tried for real (and must be dropped).
        sh("ip", "-n", box.outside, "route", "add", str(b.network), "via", HOST_IP)
        if b.network6 is not None:
            sh("ip", "-n", box.outside, "route", "add", str(b.network6), "via", HOST_IP6)
        if b.external:
            sh("ip", "-n", box.host, "link", "add", b.name, "type", "bridge")
            sh("ip", "-n", box.host, "addr", "add", b.cidr, "dev", b.name)
            if b.cidr6 is not None:
                sh("ip", "-n", box.host, "addr", "add", b.cidr6, "dev", b.name, "nodad")
            sh("ip", "-n", box.host, "link", "set", b.name, "up")
    renamed: dict[str, str] = {}
    containers = []
    for c in network.containers:
        if c.netns_path and not c.shares:
            listed = ir.listed_netns(c.netns_path) == c.netns
            made = f"{box.prefix}x-{c.name}"
            sh("ip", "netns", "add", made)
            if listed:   # an existing namespace netc wires: use the sandbox's in its place
                renamed[c.netns] = made
                c = replace(c, netns=made, netns_path=f"/var/run/netns/{made}")
            else:        # a path netc links into /var/run/netns
                c = replace(c, netns_path=f"/var/run/netns/{made}")
        containers.append(c)
    containers = [replace(c, netns=renamed.get(c.netns, c.netns)) for c in containers]
    p2ps = tuple(replace(p, a=replace(p.a, netns=renamed.get(p.a.netns, p.a.netns)),
                         b=replace(p.b, netns=renamed.get(p.b.netns, p.b.netns))) for p in network.p2ps)
    return replace(network, containers=tuple(containers), p2ps=p2ps)


def run(resolve, backend: str, sample: int | None = None, progress=None) -> list[Probe]:
    """Apply in a sandbox whose bridge-nf-call sysctls are this host's, probe, compare.

    `resolve(prefix)` returns the network resolved with the sandbox's
    namespace prefix, so that its namespaces cannot collide with anything."""
    say = progress or (lambda text: None)
    box = Sandbox()
    work = Path(tempfile.mkdtemp(prefix="netc-verify-"))
    try:
        # The sandbox hands bridged frames to the IP hooks as this host does (a namespace's own
        # default is 1 wherever br_netfilter is loaded): the nftables backend must hold either way.
        calls = host_bridge_nf_calls()
        for key, value in calls.items():
            in_ns(box.host, "sh", "-c", f'[ ! -e "$1" ] || echo {value} > "$1"', "sh", f"/proc/sys/net/bridge/{key}")
        say(f"sandbox {box.host}: net.bridge.bridge-nf-call-iptables {calls[BRIDGE_NF_CALLS[0]]} as on this host")
        network = prepare(resolve(box.prefix), box)
        servers, probes = plan(network, sample)
        explainer = Explainer(network, backend)
        for p in probes:
            p.predicted = _expected(explainer.explain(p.source, p.target))
        out = work / "out"
        for name, text in render_tree(network, backend).items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        say(f"applying {len(network.containers)} container(s) in sandbox {box.host}")
        r = box.apply(out)
        if r.returncode != 0:
            raise RuntimeError(f"apply.sh failed in the sandbox:\n{r.stderr}")
        by_name = {c.name: c for c in network.containers}
        for name, ports in servers.items():
            box.serve(by_name[name].netns, name, *(f"{proto}:{port}" for proto, port in ports))
        box.serve(box.outside, "outside", f"tcp:{OUTSIDE_PORT}", f"udp:{OUTSIDE_PORT}")
        extra = outside_sources(network)
        box.outside_sources(*(str(a) for a in extra))
        groups: dict[str, list[Probe]] = {}
        for p in probes:
            groups.setdefault(p.source, []).append(p)
        chunks = []
        for source, group in groups.items():
            if source == "outside" or source in {str(a) for a in extra}:
                ns = box.outside
            elif source == "host" or by_name[source].mode is NetKind.HOST:
                ns = box.host
            else:
                c = by_name[source]
                ns = by_name[c.shares].netns if c.shares else c.netns
            chunks += [(ns, group[i:i + PROBES_PER_ASK]) for i in range(0, len(group), PROBES_PER_ASK)]

        def ask(chunk: tuple[str, list[Probe]]) -> list[Probe]:
            ns, group = chunk
            results = box.ask(ns, *(p.dial for p in group))
            for p in group:
                p.observed = _observed(results.get(p.dial, "no answer"))
            return group

        # A few chunks at a time: a probe that gets no answer waits out probe.py's bound, and
        # those waits overlap instead of adding up (every probe has a socket of its own).
        done = 0
        with ThreadPoolExecutor(max_workers=PARALLEL_ASKS) as pool:
            for group in pool.map(ask, chunks):
                done += len(group)
                say(f"probed {done}/{len(probes)}")
        box.stop_servers()
        r = box.teardown(out)
        if r.returncode != 0:
            raise RuntimeError(f"teardown.sh failed in the sandbox:\n{r.stderr}")
        return probes
    finally:
        box.close()
        shutil.rmtree(work, ignore_errors=True)


def table(probes: list[Probe], only_differences: bool = False) -> str:
    rows = [p for p in probes if not (only_differences and p.agrees)]
    if not rows:
        return ""
    w1 = max(len(p.source) for p in rows)
    w2 = max(len(p.target) for p in rows)
    w3 = max(len(p.predicted) for p in rows)
    lines = [f"  {'from':<{w1}}  {'to':<{w2}}  {'explain predicts':<{w3}}  kernel did"]
    for p in rows:
        mark = "ok " if p.agrees else "BAD"
        lines.append(f"{mark} {p.source:<{w1}}  {p.target:<{w2}}  {p.predicted:<{w3}}  {p.observed}")
    return "\n".join(lines) + "\n"


def progress_printer(stream=sys.stderr):
    """say(text): a progress line on a terminal (compiler/progress.py); in a log, every message
    but the intermediate counts ("probed 6/20"). say.clear() removes the line."""
    from .progress import Progress
    line = Progress(stream)

    def say(text: str) -> None:
        if line.tty:
            line.show(f"netc: verify: {text}")
        else:
            done, _, total = text.rsplit(" ", 1)[-1].partition("/")
            if not total or done == total:
                stream.write(f"netc: verify: {text}\n")
    say.clear = line.clear
    return say
