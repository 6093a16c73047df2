"""Property tests of the front end (parse, build, resolve, lock) with hypothesis.

1. `valid_specs()` draws random valid specs as text: containers in every net
   mode, pinned and allocated addresses, every publish form, links, p2p
   pairs, extra bridges, host and daemon blocks, in varied layouts. Every one
   must load, and the result must satisfy the allocation invariants
   (LANGUAGE.md, "Allocation") and be deterministic and stable under the lock.
   A damaged lock (values moved, swapped, out of range, garbage) must not
   break a valid spec either.
2. Mutations of valid specs, and arbitrary bytes, must never make
   `netc check` fail with an internal error: the exit status is 0 or 2 and
   stderr holds only well-formed diagnostics.
3. The fast parser (scan.py) and lark give the same nodes, spans and
   diagnostics on valid specs, mutated specs and token soup.

Hypothesis runs derandomized with no example database, so CI sees the same
examples every run. Function-scoped fixtures are not reset between examples,
so each example writes its files into its own TemporaryDirectory.

At the end: plain regression tests for the bugs these properties found.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass, field
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import netc.cli
from netc.frontend import scan
from netc.diagnostics import CompileFailed, Reporter, Span
from netc.emit.netjson import network_json
from netc.resolve.lock import Lock
from netc.values import NetKind
from netc.frontend.parse import parse_text
from netc.pipeline import load
from netc.resolve.interfaces import veth_name
from netc.frontend.syntax import Block, Option, Word

# Shrinking a failure can take minutes; CI reports the unshrunk example.
# NETC_SHRINK=1 shrinks it, for debugging.
PHASES = tuple(Phase) if os.environ.get("NETC_SHRINK") else (Phase.explicit, Phase.generate)
# To hunt for more: NETC_EXAMPLES=20 (twenty times the examples) NETC_RANDOM=1 (fresh ones each run).
SCALE = float(os.environ.get("NETC_EXAMPLES", "1"))
PROPS = settings(max_examples=int(60 * SCALE), derandomize=not os.environ.get("NETC_RANDOM"), database=None,
                 deadline=None, phases=PHASES,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])
MUTATIONS = settings(PROPS, max_examples=int(400 * SCALE))

# Bridge subnets, pairwise disjoint. Two overlap one of Docker's candidates,
# so that the default bridge's automatic bip has to skip it.
POOL = ("192.168.100.0/24", "192.168.101.0/24", "10.100.0.0/16", "10.101.0.0/24", "172.20.0.0/16",
        "172.17.5.0/24", "10.0.42.0/24", "192.168.102.0/27")
ROUTES = ("198.51.100.0/24", "203.0.113.0/24", "172.17.0.0/16", "10.0.0.0/8")
NAMESERVERS = ("192.0.2.53", "198.51.100.53", "127.0.0.53", "2001:db8::53")
HOST_IPS = ("0.0.0.0", "127.0.0.1", "192.0.2.1")
KEYWORDS = ("host", "daemon", "bridge", "container", "p2p", "include")
NEW = "0fresh"  # the container the stability property inserts; drawn names start with a letter
EXPLICIT_BASE = 1000  # explicit host ports are 1000.. ; port-range starts above them


# ---------------------------------------------------------------- drawing valid specs

@dataclass
class _Br:
    name: str
    net: ipaddress.IPv4Network | None    # None: the default bridge, bip chosen by netc
    gateway: ipaddress.IPv4Address | None
    fixed: ipaddress.IPv4Network | None
    declared: bool                         # has a `bridge NAME { }` block
    free: list[int] = field(default_factory=list)   # allocatable, for pins
    capacity: int = 10 ** 6


@dataclass
class _Ct:
    name: str
    mode: str            # bridge | none | host | container
    bridge: str | None = None
    target: str | None = None
    lines: list[str] = field(default_factory=list)


def _quote(draw, text: str) -> str:
    """Sometimes write a value as a quoted string (the builder must not care)."""
    if '"' not in text and "\\" not in text and draw(st.integers(0, 7)) == 0:
        return f'"{text}"'
    return text


def _layout(draw, head: str, lines: list[str]) -> str:
    """A block in one of the layouts the grammar allows."""
    style = draw(st.sampled_from(("lines", "lines", "oneline", "semis", "brace-newline")))
    comment = draw(st.sampled_from(("", "", "  # a comment", " #x;{}\"")))
    if style == "oneline" or not lines:
        return f"{head} {{ {'; '.join(lines)} }}{comment}"
    if style == "semis":
        return f"{head} {{{comment}\n    " + ";\n    ".join(lines) + ";\n}"
    if style == "brace-newline":
        return f"{head}\n{{\n" + "\n".join(f"\t{line}" for line in lines) + "\n}"
    return f"{head} {{{comment}\n" + "\n".join(f"    {line}" for line in lines) + "\n}"


def _bridge_net(draw, pool: list[str]) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address,
                                                ipaddress.IPv4Network | None]:
    net = ipaddress.IPv4Network(pool.pop(draw(st.integers(0, len(pool) - 1))))
    hosts = net.num_addresses - 2
    gateway = net.network_address + (1 if draw(st.booleans()) else draw(st.integers(1, hosts)))
    fixed = None
    if draw(st.integers(0, 2)) == 0:
        prefix = draw(st.integers(net.prefixlen, min(net.prefixlen + 3, 28)))
        subnets = list(net.subnets(new_prefix=prefix)) if prefix - net.prefixlen <= 4 else [net]
        fixed = subnets[draw(st.integers(0, len(subnets) - 1))]
    return net, gateway, fixed


def _allocatable(net, gateway, fixed) -> list[int]:
    first, last = int(net.network_address) + 2, int(net.broadcast_address) - 1
    if fixed is not None:
        first = max(int(fixed.network_address) + 1, int(net.network_address) + 1)
        last = min(int(fixed.broadcast_address) - 1, int(net.broadcast_address) - 1)
    return [a for a in range(first, min(last, first + 300) + 1) if a != int(gateway)]


@st.composite
def valid_specs(draw, max_containers: int = 12) -> str:
    pool = list(POOL)
    blocks: list[str] = []
    n_drawn = 0  # an upper bound of the host ports drawn from port-range

    # host
    if draw(st.booleans()):
        lines = [f"nameserver {ns}" for ns in draw(st.lists(st.sampled_from(NAMESERVERS), max_size=2, unique=True))]
        lines += [f"route {r}" for r in draw(st.lists(st.sampled_from(ROUTES), max_size=3, unique=True))]
        if draw(st.booleans()):
            lines.append("search corp.example example.com.")
        if draw(st.booleans()):
            lines.append("options ndots:2 edns0")
        blocks.append(_layout(draw, "host", lines))

    # bridges: the default one and up to two more
    default_name = draw(st.sampled_from(("docker0", "docker0", "br-main")))
    bridges: dict[str, _Br] = {}
    daemon: list[str] = []
    if default_name != "docker0":
        daemon.append(f"bridge {default_name}")
    if draw(st.booleans()):
        net, gw, fixed = _bridge_net(draw, pool)
        in_block = draw(st.booleans())
        bridges[default_name] = _Br(default_name, net, gw, fixed, in_block)
    else:
        bridges[default_name] = _Br(default_name, None, None, None, False)
    for name in draw(st.lists(st.sampled_from(("br0", "br-1", "lan.2", "b_x")), max_size=2, unique=True)):
        net, gw, fixed = _bridge_net(draw, pool)
        bridges[name] = _Br(name, net, gw, fixed, True)
    for br in bridges.values():
        if br.net is not None:
            br.free = _allocatable(br.net, br.gateway, br.fixed)
            br.capacity = len(br.free)
    icc_any_false = False
    bridge_blocks = []
    for br in bridges.values():
        lines = []
        if br.net is not None:
            lines.append(f"bip {_quote(draw, f'{br.gateway}/{br.net.prefixlen}')}")
            if br.fixed is not None:
                lines.append(f"fixed-cidr {br.fixed}")
        if br.declared or br.name != default_name:
            if draw(st.integers(0, 3)) == 0:
                lines.append(f"mtu {draw(st.integers(68, 9000))}")
            if draw(st.integers(0, 3)) == 0:
                icc = draw(st.booleans())
                icc_any_false |= not icc
                lines.append(f"icc {str(icc).lower()}")
            if br.name != default_name and br.net is not None and draw(st.integers(0, 4)) == 0:
                lines.append("external")
            bridge_blocks.append(_layout(draw, f"bridge {_quote(draw, br.name)}", lines))
        else:
            daemon.extend(lines)

    # daemon flags
    if draw(st.booleans()):
        icc = draw(st.booleans())
        icc_any_false |= not icc
        daemon.append(f"icc {str(icc).lower()}")
    if draw(st.booleans()):
        daemon.append(f"ip-masq {str(draw(st.booleans())).lower()}")
    if draw(st.integers(0, 3)) == 0:
        daemon.append(f"ip-forward {str(draw(st.booleans())).lower()}")
    if not icc_any_false and draw(st.integers(0, 5)) == 0:
        daemon.append("iptables false")
    default_ip = draw(st.sampled_from(HOST_IPS + (None,)))
    if default_ip:
        daemon.append(f"ip {default_ip}")
    if draw(st.booleans()):
        daemon.append("dns 192.0.2.53 198.51.100.53")
    if draw(st.booleans()):
        daemon.append("dns-search example.org")
    if draw(st.integers(0, 3)) == 0:
        daemon.append(f"mtu {draw(st.integers(68, 65535))}")

    # containers
    n = draw(st.integers(1, max_containers))
    name_st = st.one_of(st.from_regex(r"[a-z][a-z0-9_.-]{0,14}", fullmatch=True), st.sampled_from(KEYWORDS))
    names = draw(st.lists(name_st, min_size=n, max_size=n, unique=True))
    veths = [veth_name(x) for x in names] + [veth_name(NEW)]
    assume(len(set(veths)) == len(veths) and not set(veths) & set(bridges))
    # Modes are drawn in a random order; net container: points to one drawn before, so there
    # are no cycles, and never to a net host one (an error: write net host).
    order = draw(st.permutations(range(n)))
    load_: dict[str, int] = {b: 0 for b in bridges}
    load_[default_name] = 1  # room for NEW
    made: dict[int, _Ct] = {}
    stack_owner: dict[str, str] = {}  # container -> the mode of the container whose stack it has
    for i in order:
        name = names[i]
        lower = [c.name for c in made.values() if stack_owner[c.name] != "host"]
        kinds = ["bridge", "bridge", "bridge", "none", "host"] + (["container"] * 2 if lower else [])
        mode = draw(st.sampled_from(kinds))
        c = _Ct(name, mode)
        if mode == "bridge":
            free = [b for b in bridges if load_[b] < bridges[b].capacity]
            if not free:
                c.mode = mode = "none"
            else:
                c.bridge = draw(st.sampled_from(free))
                load_[c.bridge] += 1
                if c.bridge != default_name or draw(st.booleans()):
                    word = c.bridge if c.bridge != default_name or draw(st.booleans()) else "bridge"
                    c.lines.append(f"net {_quote(draw, word)}")
        if mode in ("none", "host"):
            c.lines.append(f"net {mode}")
        if mode == "container":
            c.target = draw(st.sampled_from(lower))
            c.lines.append(f"net {_quote(draw, 'container:' + c.target)}")
        stack_owner[name] = stack_owner[c.target] if mode == "container" else mode
        made[i] = c
    cts = [made[i] for i in range(n)]
    by_name = {c.name: c for c in cts}

    def root(c: _Ct) -> _Ct:
        while c.mode == "container":
            c = by_name[c.target]
        return c

    port = EXPLICIT_BASE
    macs = 0
    for c in cts:
        exposed = 0
        if draw(st.booleans()):
            pieces = draw(st.lists(st.sampled_from(("80", "443/tcp", "53/udp", "7000-7002", "9000-9001/udp",
                                                    "8080,8081/udp")), min_size=1, max_size=3))
            c.lines.append("expose " + " ".join(pieces))
            exposed += sum(len(range(int(p.split("-")[0]), int(p.split("-")[-1]) + 1))
                           for piece in pieces for p in [re.sub(r"/\w+", "", x) for x in piece.split(",")])
        if c.mode == "container":
            continue
        if c.mode == "bridge":
            br = bridges[c.bridge]
            if br.net is not None and br.free and draw(st.integers(0, 3)) == 0:
                ip = br.free.pop(draw(st.integers(0, len(br.free) - 1)))
                c.lines.append(f"ip {ipaddress.IPv4Address(ip)}")
            if draw(st.integers(0, 5)) == 0:
                macs += 1
                c.lines.append(f"mac 02:99:00:00:{macs // 256:02x}:{macs % 256:02x}")
        if c.mode in ("bridge", "none") and draw(st.integers(0, 3)) == 0:
            c.lines.append(f"hostname {draw(st.sampled_from(('web', 'web.example.com', 'a-1.b2')))}")
        publishes = draw(st.integers(0, 3)) if c.mode == "bridge" else draw(st.sampled_from((0, 0, 0, 1)))
        for _ in range(publishes):
            form = draw(st.integers(0, 6))
            proto = draw(st.sampled_from(("", "", "/tcp", "/udp")))
            cport = draw(st.integers(1, 65535))
            ip = draw(st.sampled_from(HOST_IPS))
            if form == 0:      # CPORT
                spec, drawn = f"{cport}{proto}", 1
            elif form == 1:    # HOSTPORT:CPORT
                spec, drawn = f"{port}:{cport}{proto}", 0
                port += 1
            elif form == 2:    # IP:HOSTPORT:CPORT
                spec, drawn = f"{ip}:{port}:{cport}{proto}", 0
                port += 1
            elif form == 3:    # IP::CPORT
                spec, drawn = f"{ip}::{cport}{proto}", 1
            elif form == 4:    # ranges
                k = draw(st.integers(1, 3))
                lo = min(cport, 65535 - k)
                spec, drawn = f"{port}-{port + k - 1}:{lo}-{lo + k - 1}{proto}", 0
                port += k
            elif form == 5:    # IP:HOSTPORTS:CPORTS
                k = draw(st.integers(1, 3))
                lo = min(cport, 65535 - k)
                spec, drawn = f"{ip}:{port}-{port + k - 1}:{lo}-{lo + k - 1}{proto}", 0
                port += k
            else:              # a drawn range
                k = draw(st.integers(1, 3))
                lo = min(cport, 65535 - k)
                spec, drawn = f"{lo}-{lo + k - 1}{proto}", k
            n_drawn += drawn
            exposed += 3  # at most three container ports per publish
            c.lines.append(f"publish {_quote(draw, spec)}")
        if c.mode == "bridge" and draw(st.integers(0, 3)) == 0:
            c.lines.append(draw(st.sampled_from(("publish-all", "publish-all true", "publish-all false"))))
            n_drawn += exposed
        if c.mode in ("bridge", "none"):
            mine = c.bridge
            targets = [o.name for o in cts if o is not c and root(o).mode == "bridge"
                       and (mine is None or root(o).bridge == mine)]
            if targets and (c.mode == "bridge" or draw(st.integers(0, 3)) == 0):
                chosen = draw(st.lists(st.sampled_from(targets), max_size=3, unique=True))
                for k, t in enumerate(chosen):
                    link = draw(st.sampled_from((t, f"{t}:alias{k}", f"{t}:{t}")))
                    c.lines.append(f"link {_quote(draw, link)}")
            if draw(st.integers(0, 4)) == 0:
                c.lines.append("dns 192.0.2.99")
            if draw(st.integers(0, 4)) == 0:
                c.lines.append("dns-search svc.example")
            if draw(st.integers(0, 4)) == 0:
                c.lines.append("dns-option ndots:1")
            if draw(st.integers(0, 3)) == 0:
                c.lines.append(f"add-host {_quote(draw, 'registry:192.0.2.10')}")
            if draw(st.integers(0, 6)) == 0:
                c.lines.append(f"netns /var/run/netns/ext-{c.name}")
    # The port-range: above every explicit port, with room for every drawn one
    # (and the new container's), sometimes exactly enough.
    lo = draw(st.integers(port + 1, 60000))
    size = n_drawn + 2 + draw(st.sampled_from((0, 0, 5, 1000)))
    assume(lo + size - 1 <= 65535)
    if size < 65535 - 49153 + 1 or lo != 49153 or draw(st.booleans()):
        daemon.append(f"port-range {lo}-{lo + size - 1}")

    # p2p pairs between containers with namespaces of their own
    p2ps = []
    ns_ifaces: dict[str, set[str]] = {}
    eligible = [c for c in cts if root(c).mode != "host"]
    pairs = draw(st.lists(st.tuples(st.sampled_from(eligible), st.sampled_from(eligible)), max_size=2)) \
        if len(eligible) >= 2 else []
    for k, (a, b) in enumerate(pairs):
        if root(a) is root(b) or any({a.name, b.name} == {x, y} for x, y, _ in p2ps):
            continue
        lines = []
        for end, peer, host in ((a, b, 1), (b, a, 2)):
            taken = ns_ifaces.setdefault(root(end).name, {"lo", "eth0"})
            iface = f"p2p-{peer.name}"[:15]
            tail = ""
            if iface in taken or draw(st.integers(0, 3)) == 0:
                iface = f"pp{k}-{host}"
                tail = f" iface {iface}"
            taken.add(iface)
            lines.append(f"{end.name} 10.254.{k}.{host}/32{tail}")  # an option word: never quoted
        p2ps.append((a.name, b.name, _layout(draw, f"p2p {a.name} {b.name}", lines)))

    # assemble, in a drawn order of the top-level statements
    items = [_layout(draw, f"container {_quote(draw, c.name)}", draw(st.permutations(c.lines))) for c in cts]
    if daemon:
        items.insert(draw(st.integers(0, len(items))), _layout(draw, "daemon", draw(st.permutations(daemon))))
    items = blocks + bridge_blocks + items + [text for _, _, text in p2ps]
    sep = draw(st.sampled_from(("\n", "\n\n", "\n# between\n", ";\n", "\r\n")))
    return sep.join(items) + draw(st.sampled_from(("\n", "", "\n\n# end")))


# ---------------------------------------------------------------- helpers

def _write(folder: str, text: str, name: str = "spec.netc") -> str:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def _load(path: str, **kw):
    try:
        return load(path, **kw)
    except CompileFailed as exc:
        from netc.diagnostics import render_all
        raise AssertionError("a valid spec failed:\n" + render_all(exc.diagnostics, exc.sources)
                             + "\n--- spec ---\n" + open(path, encoding="utf-8").read()) from None


def _bindings(network):
    out = []
    for c in network.containers:
        for mp in c.mappings:
            for hp in mp.host_ports:
                out.append((str(mp.host_ip), mp.proto.value, hp, c.name))
    return out


def check_invariants(network) -> None:
    bridges = {b.name: b for b in network.bridges}
    seen: dict[tuple[str, int], str] = {}
    macs: dict[int, str] = {}
    for c in network.containers:
        if c.mode is NetKind.BRIDGE:
            b = bridges[c.bridge]
            a = c.address
            assert a is not None, c.name
            assert a in b.network, (c.name, str(a), str(b.network))
            assert a != b.address, f"{c.name} has the gateway {a}"
            assert a not in (b.network.network, b.network.broadcast), (c.name, str(a))
            assert c.prefixlen == b.network.prefixlen and c.gateway == b.address
            key = (b.name, int(a))
            assert key not in seen, f"{c.name} and {seen[key]} share {a}"
            seen[key] = c.name
            assert c.mac is not None
            assert int(c.mac) not in macs, f"{c.name} and {macs[int(c.mac)]} share mac {c.mac}"
            macs[int(c.mac)] = c.name
    owners: dict[str, str] = {}  # every container with a stack of its own has a namespace of its own
    for c in network.containers:
        if c.mode in (NetKind.BRIDGE, NetKind.NONE):
            for key in {c.netns, c.netns_path} - {None}:
                assert key not in owners, f"{c.name} and {owners[key]} share the namespace {key}"
                owners[key] = c.name
    binds = _bindings(network)
    by_key: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for ip, proto, port, who in binds:
        for other_ip, other in by_key.get((proto, port), ()):
            assert not (ip == other_ip or "0.0.0.0" in (ip, other_ip)), \
                f"{who} and {other} both bind {proto} port {port} ({ip}, {other_ip})"
        by_key.setdefault((proto, port), []).append((ip, who))


def _drawn(network) -> dict[str, list]:
    return {c.name: [(str(mp.host_ip), mp.proto.value, str(mp.host_ports), str(mp.container_ports))
                     for mp in c.mappings if mp.drawn] for c in network.containers}


# ---------------------------------------------------------------- properties

@PROPS
@given(valid_specs())
def test_valid_specs_load_and_allocate_soundly(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, text)
        first = _load(path)
        check_invariants(first.network)
        found = re.search(r"port-range (\d+)-(\d+)", text)
        lo, hi = (int(found[1]), int(found[2])) if found else (49153, 65535)
        for ip, proto, port, who in _bindings(first.network):
            drawn = any(mp.drawn and port in mp.host_ports for mp in first.network.container(who).mappings)
            assert not drawn or lo <= port <= hi, f"{who}: drawn port {port} outside port-range {lo}-{hi}"
        again = _load(path)
        assert network_json(again.network, None) == network_json(first.network, None)
        assert again.lock.to_text() == first.lock.to_text()
        locked = _load(path, lock=first.lock)
        assert network_json(locked.network, None) == network_json(first.network, None)
        assert locked.lock.to_text() == first.lock.to_text()


@PROPS
@given(valid_specs(), st.sampled_from(("", "publish 80", "publish-all\n expose 22,23/udp")))
def test_new_container_keeps_old_allocations(text, extra):
    with tempfile.TemporaryDirectory() as tmp:
        first = _load(_write(tmp, text))
        grown = _load(_write(tmp, f"container {NEW} {{\n {extra}\n}}\n" + text, "grown.netc"), lock=first.lock)
        check_invariants(grown.network)
        old = {c.name: c for c in first.network.containers}
        drawn_old, drawn_new = _drawn(first.network), _drawn(grown.network)
        for c in grown.network.containers:
            if c.name == NEW:
                continue
            assert c.address == old[c.name].address, c.name
            assert c.mac == old[c.name].mac, c.name
            assert drawn_new[c.name] == drawn_old[c.name], c.name
        for name, ports in first.lock.ports.items():
            assert grown.lock.ports.get(name) == ports
        for name, address in first.lock.addresses.items():
            assert grown.lock.addresses[name] == address
        assert {k: v for k, v in grown.lock.bridges.items()} == first.lock.bridges


@st.composite
def damaged_locks(draw, lock: Lock, network) -> Lock:
    """The lock of a valid spec with values moved, swapped, out of range or garbage."""
    addresses = [str(c.address) for c in network.containers if c.address is not None]
    specials = [str(x) for b in network.bridges for x in (b.address, b.network.network, b.network.broadcast)]
    junk = ("", "x", "1", "::5", "::ffff:172.17.0.5", "172.17.0.2/16", "999.1.1.1", "0.0.0.0", "255.255.255.255")
    value = st.sampled_from(addresses + specials + list(junk) + ["172.17.0.2", "172.17.0.3", "10.0.42.2"])
    new = Lock({k: v for k, v in lock.bridges.items()}, dict(lock.addresses),
               {k: dict(v) for k, v in lock.ports.items()})
    for name in list(new.addresses):
        if draw(st.booleans()):
            new.addresses[name] = draw(value)
    names = [c.name for c in network.containers]
    for name in draw(st.lists(st.sampled_from(names), max_size=2)) if names else ():
        new.addresses[name] = draw(value)
    all_ports = [p for v in lock.ports.values() for p in v.values()] + [0, 1, 65535, 65536, -1, 10 ** 20]
    binds = [hp for _, _, hp, _ in _bindings(network)]
    for name, entries in new.ports.items():
        for key in list(entries):
            if draw(st.booleans()):
                entries[key] = draw(st.sampled_from(all_ports + binds))
        if draw(st.integers(0, 3)) == 0:
            entries["tcp:0.0.0.0:1#9"] = draw(st.sampled_from(all_ports))
    for name in list(new.bridges) + ["docker0", "nothere"]:
        if draw(st.booleans()):
            new.bridges[name] = draw(st.sampled_from(
                ("172.17.0.0/16", "0.0.0.0/0", "172.17.255.255/16", "10.9.9.9/30", "10.0.42.1/16", "garbage",
                 "192.168.42.1/24", "172.17.42.1/16", "2001:db8::1/64", "10.100.0.1/16") + tuple(specials)))
    return new


@PROPS
@given(valid_specs(), st.data())
def test_damaged_lock_never_breaks_a_valid_spec(text, data):
    """A stale or damaged lock's values are kept only where valid; the spec still compiles soundly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, text)
        first = _load(path)
        damaged = data.draw(damaged_locks(first.lock, first.network))
        # through the file, as `netc check` reads it
        with open(os.path.join(tmp, "spec.lock"), "w", encoding="utf-8") as f:
            f.write(damaged.to_text())
        loaded = _load(path)
        check_invariants(loaded.network)
        for b in loaded.network.bridges:
            assert b.address not in (b.network.network, b.network.broadcast), b
        again = _load(path, lock=loaded.lock)  # the new lock is a fixed point
        assert network_json(again.network, None) == network_json(loaded.network, None)
        assert again.lock.to_text() == loaded.lock.to_text()


# ---------------------------------------------------------------- mutations

DIAG = re.compile(r"^[^:]+:\d+:\d+: (error|warning|note): ")
FILELESS = re.compile(r"^netc: (error|warning|note): ")
EXCERPT = re.compile(r"^ \d+ \| |^ +\| ")
TOKENS = ("{", "}", ";", '"', "#", "\\", ":", "::", "/", "-", ",", "include", "host", "daemon", "bridge",
          "container", "p2p", "net", "container:", "container:x", "publish", "publish-all", "expose", "link",
          "ip", "mac", "bip", "fixed-cidr", "port-range", "iface", "external", "icc", "true", "false", "0",
          "65535", "65536", "99999999999999999999", "1-0", "0-65535", "1.2.3.4/33", "256.1.1.1",
          "10.0.0.0/0", "0.0.0.0/32", "172.17.42.1/16", "::1", "fe80::1%eth0", "127.0.0.1::80",
          ":::", "a:b:c:d", "01:00:5e:00:00:01", "00:00:00:00:00:00", '"a\\"b"', '""', "docker0",
          "/var/run/netns/x", "/proc/1/ns/net", "none", "é", "\u200b", "\x00", "\x1b", "\t", "\r", "\f",
          "\u2028", "\ufeff", "\U0001f600", "\u00a0", "ǅ", "x" * 70)
ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))


@st.composite
def mutated_specs(draw) -> str:
    text = draw(valid_specs(max_containers=5))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        op = draw(st.sampled_from(("del-char", "dup-char", "ins-char", "del-token", "dup-token", "ins-token",
                                   "del-line", "dup-line", "swap-lines", "ins-unicode", "truncate",
                                   "swap-tokens", "replace-token", "replace-token", "replace-token")))
        i = draw(st.integers(0, max(0, len(text))))
        if op == "del-char":
            text = text[:i] + text[i + 1:]
        elif op == "dup-char":
            text = text[:i] + text[i:i + 1] + text[i:]
        elif op == "ins-char":
            text = text[:i] + draw(st.sampled_from('{};"#:/-,.\\ \n\t')) + text[i:]
        elif op == "ins-unicode":
            text = text[:i] + draw(st.text(ALPHABET, min_size=1, max_size=3)) + text[i:]
        elif "token" in op:
            spans = [mt.span() for mt in re.finditer(r"[^\s;{}\"#]+|\"[^\"\n]*\"", text)]
            pick = st.integers(0, len(spans) - 1)
            if op == "ins-token" or not spans:
                text = text[:i] + draw(st.sampled_from((" ", ""))) + draw(st.sampled_from(TOKENS)) + " " + text[i:]
            elif op == "swap-tokens":
                (a, b), (c, d) = sorted((spans[draw(pick)], spans[draw(pick)]))
                if b <= c:
                    text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
            else:
                a, b = spans[draw(pick)]
                if op == "del-token":
                    text = text[:a] + text[b:]
                elif op == "dup-token":
                    text = text[:a] + text[a:b] + " " + text[a:]
                else:
                    other = draw(st.one_of(st.sampled_from(TOKENS), st.sampled_from([text[x:y] for x, y in spans])))
                    text = text[:a] + other + text[b:]
        elif op == "truncate":
            text = text[:i]
        else:
            j, k = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "del-line":
                del lines[j]
            elif op == "dup-line":
                lines.insert(k, lines[j])
            else:
                lines[j], lines[k] = lines[k], lines[j]
            text = "\n".join(lines)
    return text


def run_check(path: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = netc.cli.main(["check", path])
        except SystemExit as exc:  # argparse only; the spec never reaches it
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def assert_clean_diagnostics(rc: int, err: str) -> None:
    assert rc in (0, 2), f"exit status {rc}:\n{err}"
    assert "internal error" not in err and "Traceback" not in err, err
    for line in err.split("\n")[:-1]:
        assert DIAG.match(line) or FILELESS.match(line) or EXCERPT.match(line), f"bad stderr line {line!r}:\n{err}"
    assert err == "" or err.endswith("\n")
    if rc == 2:
        assert re.search(r"^([^:]+:\d+:\d+|netc): error: ", err, re.M), err


@MUTATIONS
@given(mutated_specs())
def test_mutated_specs_never_crash(text):
    os.environ.pop("NETC_DEBUG", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, text)
        rc, _, err = run_check(path)
        assert_clean_diagnostics(rc, err)


@PROPS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data):
    os.environ.pop("NETC_DEBUG", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spec.netc")
        with open(path, "wb") as f:
            f.write(data)
        rc, _, err = run_check(path)
        assert_clean_diagnostics(rc, err)


@PROPS
@given(st.lists(st.lists(st.sampled_from(("a.netc", "b.netc", "sub/c.netc", "../sub/c.netc", "sub", "missing.netc",
                                          "", "sub/../a.netc", "bin.netc", "spec.netc")), max_size=3),
                min_size=4, max_size=4),
       st.lists(st.sampled_from(("container x { }", "container y { link x }", "daemon { icc false }",
                                 "bridge br0 { bip 192.168.9.1/24 }", "container z { net br0 }")),
                min_size=4, max_size=4))
def test_include_graphs_never_crash(includes, bodies):
    """Includes between files in any shape (cycles, twice, missing, a directory, bad UTF-8)."""
    os.environ.pop("NETC_DEBUG", None)
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "sub"))
        with open(os.path.join(tmp, "bin.netc"), "wb") as f:
            f.write(b"container \xff { }\n")
        for name, targets, body in zip(("spec.netc", "a.netc", "b.netc", "sub/c.netc"), includes, bodies):
            _write(tmp, "".join(f'include "{t}"\n' for t in targets) + body + "\n", name)
        rc, _, err = run_check(os.path.join(tmp, "spec.netc"))
    assert_clean_diagnostics(rc, err)


# ---------------------------------------------------------------- the fast parser
# scan.py parses well-formed text without lark; it must agree with lark exactly.

def _tree(x):
    """Syntax nodes as plain tuples, spans included (they are left out of ==)."""
    if isinstance(x, (list, tuple)):
        return tuple(_tree(v) for v in x)
    if isinstance(x, Span):
        return (x.file, x.line, x.col, x.end_line, x.end_col)
    if isinstance(x, (Word, Option, Block)):
        return (type(x).__name__,) + tuple(_tree(getattr(x, f)) for f in x.__slots__)
    return x


def _both(text: str):
    """parse_text's result and diagnostics with the fast path, and with lark alone."""
    fast_reporter, slow_reporter = Reporter(), Reporter()
    fast = parse_text(text, "s.netc", fast_reporter)
    with mock.patch.object(scan, "parse", lambda text, file: None):
        slow = parse_text(text, "s.netc", slow_reporter)
    assert fast_reporter.sorted() == slow_reporter.sorted()
    assert _tree(fast) == _tree(slow)
    return slow_reporter


def _agree(text: str) -> None:
    reporter = _both(text)
    if reporter.errors and not any("control character" in d.message for d in reporter.diagnostics):
        assert scan.parse(text, "s.netc") is None, f"scan accepted what lark rejects: {text!r}"


@PROPS
@given(valid_specs())
def test_scan_agrees_with_lark_on_valid_specs(text):
    assert _both(text).errors == 0
    assert scan.parse(text, "s.netc") is not None  # a valid spec takes the fast path


@MUTATIONS
@given(mutated_specs())
def test_scan_agrees_with_lark_on_mutated_specs(text):
    _agree(text)


@PROPS
@given(st.lists(st.sampled_from(list(' \t\r\n\f;{}#"\\:x') + ["host", "container", "include", "p2p", "a\xa0"]),
                max_size=40).map("".join))
def test_scan_agrees_with_lark_on_token_soup(text):
    _agree(text)


# ---------------------------------------------------------------- regressions
# Plain tests for the bugs the properties above found (one each).

def check_text(text: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        rc, _, err = run_check(_write(tmp, text))
    assert_clean_diagnostics(rc, err)
    return rc, err


def test_publish_on_0000_is_not_the_daemon_ip():
    # resolve.py: `p.host_ip or default_ip` took netaddr's falsy 0.0.0.0 for "no address given".
    text = ("daemon { ip 127.0.0.1 }\n"
            "container a { publish 0.0.0.0::80; publish 0.0.0.0:8080:81 }\n")
    with tempfile.TemporaryDirectory() as tmp:
        network = _load(_write(tmp, text)).network
    assert [str(mp.host_ip) for mp in network.container("a").mappings] == ["0.0.0.0", "0.0.0.0"]
    rc, err = check_text(text + "container b { publish 127.0.0.1:8080:80 }\n")
    assert rc == 2 and "Bind for 127.0.0.1:8080/tcp failed" in err


@pytest.mark.parametrize("bip", ["172.17.0.0/16", "172.17.255.255/16", "0.0.0.0/0", "10.9.9.9/30", "garbage"])
def test_damaged_lock_bip_is_not_kept(bip):
    # resolve.py: a locked bridge subnet was kept if it was any IPv4 /30 or wider, even a
    # network address, a broadcast address or 0.0.0.0/0; now only Docker's candidates are.
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, "container a { expose 80 }\ncontainer b { publish 80 }\n")
        with open(os.path.join(tmp, "spec.lock"), "w", encoding="utf-8") as f:
            f.write(Lock({"docker0": bip}, {"a": "172.17.0.1"}, {}).to_text())
        network = _load(path).network
    assert network.bridge("docker0").cidr == "172.17.42.1/16"
    assert str(network.container("a").address) == "172.17.0.2"


def test_locked_candidate_bip_is_kept():
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, "container a { expose 80 }\n")
        network = _load(path, lock=Lock({"docker0": "10.1.42.1/16"}, {}, {})).network
    assert network.bridge("docker0").cidr == "10.1.42.1/16"


def test_bench_generator_writes_valid_specs():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen", os.path.join(os.path.dirname(__file__), "..", "bench", "gen.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.generate(300) == gen.generate(300)
    for text in (gen.generate(300), gen.generate(40, icc=False, seed=7), gen.generate(0)):
        _both(text)  # the fast parser agrees with lark on it
        with tempfile.TemporaryDirectory() as tmp:
            check_invariants(_load(_write(tmp, text)).network)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_include_of_a_device_or_fifo_is_an_error_not_a_hang(target):
    # parse.py read whatever an include named: /dev/zero ended in a MemoryError (an internal
    # error), a FIFO waited for a writer for ever.
    import subprocess
    import sys
    with tempfile.TemporaryDirectory() as tmp:
        if target == "fifo":
            os.mkfifo(os.path.join(tmp, "fifo"))
        path = _write(tmp, f'include "{target}"\ncontainer a {{ }}\n')
        r = subprocess.run([sys.executable, "-c", "import sys, netc.cli; sys.exit(netc.cli.main(sys.argv[1:]))",
                            "check", path], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "NETC_DEBUG": ""})
    assert r.returncode == 2, r.stderr
    assert "it is not a regular file" in r.stderr
    assert_clean_diagnostics(r.returncode, r.stderr)


def test_main_spec_from_a_pipe_still_works():
    import subprocess
    import sys
    r = subprocess.run(["bash", "-c", f'"{sys.executable}" -m netc check <(printf "container a {{ }}\\n")'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("text", [
    "container a { netns /var/run/netns/netc-b }\ncontainer b { }\n",
    "container a { netns /run/netns/x; net none }\ncontainer b { netns /var/run/netns/x }\n",
    "container c { netns /proc/1/ns/net }\ncontainer d { netns /proc/1/ns/net }\n",
])
def test_two_containers_cannot_share_a_namespace(text):
    # resolve.py gave both containers the same namespace (two eth0 in one namespace at apply).
    rc, err = check_text(text)
    assert rc == 2 and "would share the namespace" in err, err


@pytest.mark.parametrize("line", ["daemon { mtu \u0661\u0665\u0660\u0660 }", "container a { publish \u0668\u0660 }",
                                  "container a { expose \uff18\uff10 }", "daemon { bip 10.0.0.1/\u0661\u0666 }"])
def test_ports_and_numbers_are_ascii_digits(line):
    # build.py's PORT_RE was \d+, which matches any Unicode digit, and int() reads them:
    # `publish ٨٠` published port 80.
    rc, err = check_text(line + "\n")
    assert rc == 2, err
