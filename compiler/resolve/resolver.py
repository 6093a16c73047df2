"""Resolve: the model -> the IR (ir.py), and the new lock.

Binds every name (`net`, `link`, `p2p`, `net container:` chains), applies the
daemon's defaults (LANGUAGE.md), allocates what the spec leaves open (bridge
subnets from Docker's candidate list, container addresses and MACs, drawn host
ports, veth names), checks everything that involves more than one option, and
derives the firewall rules. Allocation is deterministic: pinned values first,
then values kept from the lock, then the lowest free value in source order.
Every problem is reported through the Reporter; nothing raises.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

from netaddr import EUI, IPAddress, IPNetwork, mac_unix_expanded

from .. import ir
from ..frontend import model as m
from ..diagnostics import Note, Reporter, Sources, Span, did_you_mean, quote
from .lock import Lock
from ..frontend.model import At, NetKind, PortRange, Proto

DEFAULT_BRIDGE = "docker0"
DEFAULT_MTU = 1500
DEFAULT_PORTS = PortRange(49153, 65535)
ANY = IPAddress("0.0.0.0")
FALLBACK_DNS = (IPAddress("8.8.8.8"), IPAddress("8.8.4.4"))
LOOPBACK = IPNetwork("127.0.0.0/8")
LOOPBACK6 = IPAddress("::1")
# Docker's bridge subnet candidates, in order (daemon/networkdriver/bridge/driver.go, 1.3).
CANDIDATES = tuple(IPNetwork(c) for c in (
    "172.17.42.1/16", "10.0.42.1/16", "10.1.42.1/16", "10.42.42.1/16", "172.16.42.1/24", "172.16.43.1/24",
    "172.16.44.1/24", "10.0.42.1/24", "10.0.43.1/24", "192.168.42.1/24", "192.168.43.1/24", "192.168.44.1/24"))
IFNAME_MAX = 15
_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|#.*')
_BRACES = re.compile(r"\s*\{\s*")
_UNSAFE = re.compile(r"[^A-Za-z0-9_./:@+,=\- ]")


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    """Docker's test: either network contains the other's first address."""
    return a.network in b.cidr or b.network in a.cidr


def veth_name(container: str) -> str:
    """The host end of a container's veth: readable, unique, at most 15 characters."""
    name = f"ve-{container}"
    if len(name) <= IFNAME_MAX:
        return name
    digest = hashlib.sha256(container.encode()).hexdigest()[:4]
    return f"ve-{container[:7]}-{digest}"


@dataclass
class _Bridge:
    name: str
    decl: m.BridgeDecl | None
    bip: At[IPNetwork] | None
    fixed: At[IPNetwork] | None
    mtu: int
    icc: bool
    icc_span: Span | None
    external: bool
    span: Span | None
    network: IPNetwork | None = None
    address: IPAddress | None = None
    first: int = 0
    last: int = 0
    cursor: int = 0
    taken: dict[int, str] = field(default_factory=dict)


@dataclass
class _Container:
    decl: m.ContainerDecl
    mode: NetKind
    bridge: str | None = None
    root: str | None = None          # net container: chain end
    address: IPAddress | None = None
    mac: EUI | None = None
    mappings: list[ir.Mapping] = field(default_factory=list)
    exposed: set[tuple[Proto, int]] = field(default_factory=set)
    links: list[ir.Link] = field(default_factory=list)
    broken: bool = False             # its `net` names nothing usable (reported): no further checks


class Resolver:
    def __init__(self, spec: m.Spec, reporter: Reporter, sources: Sources, lock: Lock,
                 netns_prefix: str, spec_path: str) -> None:
        self.spec = spec
        self.r = reporter
        self.sources = sources
        self.old_lock = lock
        self.lock = Lock()
        self.prefix = netns_prefix
        self.spec_path = spec_path
        self.spec_dir = os.path.dirname(spec_path)
        d = spec.daemon
        self.daemon = d
        self.firewall = d.iptables.value if d.iptables else True
        self.masq = (d.ip_masq.value if d.ip_masq else True) and self.firewall
        self.default_ip = d.ip.value if d.ip else ANY
        self.ports = d.port_range.value if d.port_range else DEFAULT_PORTS
        self.host = spec.host or m.HostDecl()
        self.bridges: dict[str, _Bridge] = {}
        self.containers: dict[str, _Container] = {}
        self._relpaths: dict[str, str] = {}

    # ------------------------------------------------------------ origins
    def origin(self, span: Span | None, context: str | None = None, default: str = "") -> ir.Origin:
        if span is None:
            return ir.Origin("", 0, _UNSAFE.sub("?", f"netc default: {default}"))
        file = self._relpaths.get(span.file)
        if file is None:  # once per file: relpath is slow, and origin() runs for every statement
            file = self._relpaths[span.file] = os.path.relpath(span.file, self.spec_dir or ".").replace(os.sep, "/")
        line = self.sources.line(span.file, span.line) or ""
        text = _COMMENT.sub(lambda mt: mt.group(1) or "", line) if "#" in line else line
        if "{" in text:
            text = _BRACES.sub(": ", text)
        text = " ".join(text.replace("}", " ").replace(";", ",").split()).strip(":, ")
        if context and not text.startswith(context):
            text = f"{context}: {text}"
        if len(text) > 96:
            text = text[:93] + "..."
        return ir.Origin(_UNSAFE.sub("?", file), span.line, _UNSAFE.sub("?", text))

    # ------------------------------------------------------------ bridges
    def resolve_bridges(self) -> None:
        d = self.daemon
        default = d.bridge.value if d.bridge else DEFAULT_BRIDGE
        self.default_bridge = default
        decls = {b.name.value: b for b in self.spec.bridges}
        names = [default] + [b.name.value for b in self.spec.bridges if b.name.value != default]
        for name in names:
            decl = decls.get(name)
            bip, fixed = (decl.bip, decl.fixed_cidr) if decl else (None, None)
            if name == default:
                for attr, label in (("bip", "bip"), ("fixed_cidr", "fixed-cidr")):
                    mine, theirs = getattr(d, attr), getattr(decl, attr) if decl else None
                    if mine and theirs:
                        self.r.error(theirs.span, f"{label} of the default bridge {quote(name)} is given twice",
                                     [Note(mine.span, "also given in daemon here")])
                bip = bip or d.bip
                fixed = fixed or d.fixed_cidr
            icc_at = (decl.icc if decl and decl.icc else None) or d.icc
            span = decl.span if decl else (d.bridge.span if d.bridge else None)
            br = _Bridge(name, decl, bip, fixed,
                         (decl.mtu.value if decl and decl.mtu else None) or (d.mtu.value if d.mtu else DEFAULT_MTU),
                         icc_at.value if icc_at else True, icc_at.span if icc_at else None,
                         bool(decl and decl.external and decl.external.value), span)
            self.bridges[name] = br
            if not br.icc and not self.firewall:
                self.r.error(icc_at.span, "icc false needs iptables: netc drops container to container traffic "
                                          "with firewall rules (Docker: \"ICC uses iptables to function\")",
                             [Note(d.iptables.span, "iptables is false here")])
            if br.external and br.bip is None:
                self.r.error(decl.external.span, f"external bridge {quote(name)} needs a bip: netc never reads the live "
                                      "machine, so the spec must say the bridge's address")
        self._check_explicit_bips()
        self._select_bips()
        for br in self.bridges.values():
            if br.network is not None:
                self._range(br)

    def _check_explicit_bips(self) -> None:
        seen: list[_Bridge] = []
        for br in self.bridges.values():
            if br.bip is None:
                continue
            bip = br.bip.value
            net = bip.cidr
            if bip.prefixlen > 30:
                self.r.error(br.bip.span, f"bip {bip} leaves no address for containers; use a prefix of /30 or shorter")
                continue
            if bip.ip == net.network:
                self.r.error(br.bip.span, f"bip {bip} is the network address of {net}; use a host address, "
                                          f"like {IPAddress(int(net.network) + 1)}/{bip.prefixlen}")
                continue
            if bip.ip == net.broadcast:
                self.r.error(br.bip.span, f"bip {bip} is the broadcast address of {net}")
                continue
            clash = next((o for o in seen if overlaps(o.network, net)), None)
            if clash:
                self.r.error(br.bip.span, f"bip {bip} of bridge {quote(br.name)} overlaps bridge "
                                          f"{quote(clash.name)} ({clash.network})", [Note(clash.bip.span, "that bip is here")])
                continue
            br.network, br.address = net, bip.ip
            seen.append(br)

    def _in_use(self, net: IPNetwork, bridge: str) -> str | None:
        for route in self.host.routes:
            if overlaps(route.value.cidr, net):
                return f"host route {route.value.cidr}"
        for ns in self.host.nameservers:
            if ns.value.version == 4 and ns.value in net:
                return f"host nameserver {ns.value}"
        for other in self.bridges.values():
            if other.name != bridge and other.network is not None and overlaps(other.network, net):
                return f"bridge {other.name}"
        return None

    def _select_bips(self) -> None:
        for br in self.bridges.values():
            if br.bip is not None or br.external:
                continue
            locked = self.old_lock.bridges.get(br.name)
            choice = None
            if locked:
                try:
                    net = IPNetwork(locked)
                    # Only a candidate: a damaged lock must not pick a network or broadcast
                    # address, a /0 or a /30 that the spec no longer fits in.
                    if str(net) in map(str, CANDIDATES) and self._in_use(net, br.name) is None:
                        choice = net
                except Exception:
                    choice = None
            if choice is None:
                choice = next((c for c in CANDIDATES if self._in_use(c, br.name) is None), None)
            if choice is None:
                self.r.error(br.span or self.daemon.span or self.host.span,
                             f"could not find a free IP address range for bridge {quote(br.name)}: every "
                             "candidate subnet overlaps a host route, nameserver or bridge; set bip")
                continue
            br.network, br.address = choice.cidr, choice.ip
            self.lock.bridges[br.name] = str(choice)

    def _range(self, br: _Bridge) -> None:
        net = br.network
        first, last = int(net.network) + 2, int(net.broadcast) - 1
        if br.fixed is not None:
            fixed = br.fixed.value.cidr
            if not (fixed.network in net and fixed.broadcast in net):
                self.r.error(br.fixed.span, f"fixed-cidr {fixed} is outside bip {br.address}/{net.prefixlen} "
                                            f"of bridge {quote(br.name)}")
            else:
                first = max(int(fixed.network) + 1, int(net.network) + 1)
                last = min(int(fixed.broadcast) - 1, int(net.broadcast) - 1)
        br.first, br.last, br.cursor = first, last, first
        br.taken[int(br.address)] = "the gateway"

    # ------------------------------------------------------------ containers
    def resolve_modes(self) -> None:
        decls = {c.name.value: c for c in self.spec.containers}
        for decl in self.spec.containers:
            net = decl.net or m.NetMode(NetKind.BRIDGE, None, decl.name.span)
            c = _Container(decl, net.kind)
            self.containers[decl.name.value] = c
            if net.kind is NetKind.BRIDGE:
                name = net.target or self.default_bridge
                if name not in self.bridges:
                    self.r.error(net.span, f"unknown bridge {quote(name)} in net"
                                           f"{did_you_mean(name, list(self.bridges) + ['bridge', 'none', 'host'])}")
                    c.mode, c.broken = NetKind.NONE, True  # keep going without a network
                else:
                    c.bridge = name
            elif net.kind is NetKind.CONTAINER and net.target not in decls:
                self.r.error(net.target_span or net.span, f"net container:{net.target}: there is no container {quote(net.target)}"
                                       f"{did_you_mean(net.target, decls)}")
                c.mode, c.broken = NetKind.NONE, True
        # net container: chains end at a container with a stack of its own.
        reported: set[str] = set()
        for name, c in self.containers.items():
            if c.mode is not NetKind.CONTAINER:
                continue
            path, cur = [name], name
            while self.containers[cur].mode is NetKind.CONTAINER:
                nxt = self.containers[cur].decl.net.target
                if nxt in path:
                    cycle = path[path.index(nxt):] + [nxt]
                    if not reported & set(cycle):
                        span = self.containers[name].decl.net.span
                        self.r.error(span, f"net container:{cycle[1]} makes a cycle: " + " -> ".join(cycle))
                    reported.update(cycle)
                    for member in cycle:
                        self.containers[member].broken = True
                    cur = None
                    break
                path.append(nxt)
                cur = nxt
            c.root = cur
            if cur is not None and self.containers[cur].mode is NetKind.HOST:
                # Docker would join the host's own stack; say so in the spec instead.
                self.r.error(c.decl.net.target_span or c.decl.net.span,
                             f"net container:{c.decl.net.target} shares the stack of {quote(cur)}, which is "
                             f"net host; write net host")
                c.broken = True
        for c in self.containers.values():
            self._check_mode(c)

    # What each option does in each net mode other than bridge: None (it applies),
    # ("error", why) where Docker refuses it, ("warning", why) where Docker accepts
    # and ignores it. docs/choices.md lists the table.
    _MODE_RULES = {
        NetKind.NONE: {
            "ip": ("error", "only a container on a bridge has an address of its own"),
            "mac": ("warning", "a net none container has no interface to set it on"),
            "publish": ("warning", "a net none container has no network to publish from"),
            "publish-all": ("warning", "a net none container has no network to publish from"),
        },
        NetKind.HOST: {
            "hostname": ("error", "the container uses the host's hostname "
                                  "(Docker: \"Conflicting options: -h and the network mode\")"),
            "dns": ("error", "the container uses the host's resolv.conf "
                             "(Docker: \"Conflicting options: --net=host can't be used with --dns\")"),
            "ip": ("error", "only a container on a bridge has an address of its own"),
            "link": ("error", "links need an address of the container's own "
                              "(Docker: \"Conflicting options: --net=host can't be used with links\")"),
            "netns": ("error", "the container runs in the host's namespace, there is none of its own to wire"),
            "mac": ("warning", "the container uses the host's interfaces"),
            "publish": ("warning", "the container listens on the host's own ports "
                                   "(Docker: \"Published ports are discarded when using host network mode\")"),
            "publish-all": ("warning", "the container listens on the host's own ports"),
            "add-host": ("warning", "the container uses the host's own hosts file"),
            "dns-search": ("warning", "the container uses the host's own resolv.conf"),
            "dns-option": ("warning", "the container uses the host's own resolv.conf"),
        },
        NetKind.CONTAINER: {
            "hostname": ("error", "the container shares the hostname of {owner} "
                                  "(Docker: \"Conflicting options: -h and the network mode\")"),
            "dns": ("error", "the container shares the resolv.conf of {owner} "
                             "(Docker: \"Conflicting options: --net=container can't be used with --dns\")"),
            "ip": ("error", "the container shares the address of {owner}"),
            "mac": ("error", "the container shares the interface of {owner}"),
            "publish": ("error", "the container shares the network stack of {owner}; publish on that container"),
            "publish-all": ("error", "the container shares the network stack of {owner}; publish on that container"),
            "link": ("error", "the container shares the hosts file and address of {owner}; link from that "
                              "container (Docker: \"Conflicting options: --net=container can't be used with links\")"),
            "add-host": ("error", "the container shares the hosts file of {owner}"),
            "netns": ("error", "the container shares the namespace of {owner}"),
            "dns-search": ("warning", "the container shares the resolv.conf of {owner}"),
            "dns-option": ("warning", "the container shares the resolv.conf of {owner}"),
        },
    }

    def _check_mode(self, c: _Container) -> None:
        d, kind = c.decl, c.mode
        rules = self._MODE_RULES.get(kind)
        if rules is None or c.broken:
            return
        mode = f"net container:{d.net.target}" if kind is NetKind.CONTAINER else f"net {kind.value}"
        owner = quote(d.net.target) if kind is NetKind.CONTAINER else ""
        present = {
            "hostname": d.hostname and d.hostname.span, "dns": d.dns and d.dns[0].span,
            "ip": d.ip and d.ip.span, "mac": d.mac and d.mac.span,
            "publish": d.publish and d.publish[0].span, "publish-all": d.publish_all and d.publish_all.span,
            "link": d.link and d.link[0].span, "add-host": d.add_host and d.add_host[0].span,
            "netns": d.netns and d.netns.span,
            "dns-search": d.dns_search and d.dns_search[0].span,
            "dns-option": d.dns_option and d.dns_option[0].span,
        }
        for option, span in present.items():
            if not span or option not in rules:
                continue
            severity, why = rules[option]
            why = why.format(owner=owner)
            if severity == "error":
                self.r.error(span, f"{option} cannot be used with {mode}: {why}")
            else:
                self.r.warning(span, f"{option} has no effect with {mode}: {why}")

    # ------------------------------------------------------------ addresses
    def allocate_addresses(self) -> None:
        on_bridge = [c for c in self.containers.values() if c.mode is NetKind.BRIDGE
                     and self.bridges[c.bridge].network is not None]
        pinned_at: dict[int, m.ContainerDecl] = {}
        for c in on_bridge:
            ip = c.decl.ip
            if ip is None:
                continue
            br = self.bridges[c.bridge]
            a, net = ip.value, br.network
            if a not in net:
                self.r.error(ip.span, f"ip {a} is outside the subnet {net} of bridge {quote(br.name)}")
            elif br.fixed is not None and a not in br.fixed.value.cidr:
                self.r.error(ip.span, f"ip {a} is outside fixed-cidr {br.fixed.value.cidr} of bridge {quote(br.name)}",
                             [Note(br.fixed.span, "fixed-cidr is set here")])
            elif a == net.network or a == net.broadcast:
                what = "network" if a == net.network else "broadcast"
                self.r.error(ip.span, f"ip {a} is the {what} address of {net}")
            elif a == br.address:
                self.r.error(ip.span, f"ip {a} is the gateway of bridge {quote(br.name)}")
            elif int(a) in pinned_at:
                first = pinned_at[int(a)]
                self.r.error(ip.span, f"ip {a} is already taken by container {quote(first.name.value)}",
                             [Note(first.ip.span, "taken here")])
            else:
                pinned_at[int(a)] = c.decl
                br.taken[int(a)] = c.decl.name.value
                c.address = a
        # Kept from the lock, when still free and in range.
        for c in on_bridge:
            if c.address is not None or c.decl.ip is not None:
                continue
            locked = self.old_lock.addresses.get(c.decl.name.value)
            br = self.bridges[c.bridge]
            try:
                value = int(IPAddress(locked)) if locked else None
            except Exception:
                value = None
            if value is not None and br.first <= value <= br.last and value not in br.taken:
                br.taken[value] = c.decl.name.value
                c.address = IPAddress(value)
        full: set[str] = set()
        for c in on_bridge:
            if c.address is not None or c.decl.ip is not None:
                continue
            br = self.bridges[c.bridge]
            while br.cursor <= br.last and br.cursor in br.taken:
                br.cursor += 1
            if br.cursor > br.last:
                if br.name not in full:
                    self.r.error(c.decl.name.span, f"no free address for container {quote(c.decl.name.value)}: "
                                                   f"the subnet of bridge {quote(br.name)} ({br.network}) is full "
                                                   f"(Docker: \"no available ip addresses on network\")")
                    full.add(br.name)
                continue
            br.taken[br.cursor] = c.decl.name.value
            c.address = IPAddress(br.cursor)
        macs: dict[int, _Container] = {}
        for c in on_bridge:
            if c.address is None:
                continue
            if c.decl.ip is None:
                self.lock.addresses[c.decl.name.value] = str(c.address)
            if c.decl.mac is not None:
                c.mac = c.decl.mac.value
            else:
                c.mac = EUI(0x0242 << 32 | int(c.address), dialect=mac_unix_expanded)  # 02:42 + the IPv4 bytes
            key = (int(c.mac), c.bridge)
            prior = macs.get(key)
            if prior is not None:
                span = (c.decl.mac or prior.decl.mac or c.decl.name).span
                self.r.error(span, f"mac {c.mac} is used by containers {quote(prior.decl.name.value)} and "
                                   f"{quote(c.decl.name.value)} on bridge {quote(c.bridge)}")
            macs[key] = c

    # ------------------------------------------------------------ ports
    def allocate_ports(self) -> None:
        used: dict[tuple[Proto, int], list[tuple[IPAddress, Span, str]]] = {}

        def clash(ip: IPAddress, proto: Proto, port: int):
            for other_ip, span, who in used.get((proto, port), ()):
                if other_ip == ip or other_ip == ANY or ip == ANY:
                    return other_ip, span, who
            return None

        def take(ip: IPAddress, proto: Proto, port: int, span: Span, who: str) -> None:
            used.setdefault((proto, port), []).append((ip, span, who))

        requests: list[tuple[_Container, IPAddress, Proto, int, Span, str, str]] = []  # drawn ones
        for c in self.containers.values():
            d = c.decl
            for e in d.expose:
                c.exposed.update((e.proto, p) for p in e.ports)
            for p in d.publish:
                c.exposed.update((p.proto, port) for port in p.container_ports)
            if c.mode is not NetKind.BRIDGE:
                if c.mode in (NetKind.HOST, NetKind.NONE):
                    pass  # warned in _check_mode
                continue
            if not self.firewall and (d.publish or d.publish_all):
                span = d.publish[0].span if d.publish else d.publish_all.span
                self.r.warning(span, "publish has no effect with iptables false: netc has no userland proxy, "
                                     "so nothing forwards the host port")
            explicit: set[tuple[Proto, int]] = set()
            counts: dict[str, int] = {}
            for p in d.publish:
                ip = p.host_ip if p.host_ip is not None else self.default_ip  # 0.0.0.0 is falsy
                origin = self.origin(p.span, f"container {d.name.value}")
                if p.host_ports is not None:
                    where = p.host_span or p.span
                    for hp in p.host_ports:
                        prior = clash(ip, p.proto, hp)
                        if prior:
                            self.r.error(where, f"Bind for {ip}:{hp}/{p.proto} failed: port is already allocated"
                                                f" (by container {quote(prior[2])} on {prior[0]})",
                                         [Note(prior[1], "first published here")])
                            break
                        take(ip, p.proto, hp, where, d.name.value)
                    else:
                        c.mappings.append(ir.Mapping(ip, p.proto, p.host_ports, p.container_ports, False, origin))
                    explicit.update((p.proto, cp) for cp in p.container_ports)
                else:
                    for cp in p.container_ports:
                        key = self._port_key(p.proto, ip, cp, counts)
                        requests.append((c, ip, p.proto, cp, p.span, key, origin))
                        explicit.add((p.proto, cp))
            if d.publish_all and d.publish_all.value:
                origin = self.origin(d.publish_all.span, f"container {d.name.value}")
                rest = sorted((port, m.PROTO_ORDER[proto], proto) for proto, port in c.exposed
                              if (proto, port) not in explicit)
                for port, _, proto in rest:
                    key = self._port_key(proto, self.default_ip, port, counts)
                    requests.append((c, self.default_ip, proto, port, d.publish_all.span, key, origin))
        # Drawn ports kept from the lock, then the lowest free ones in source order.
        granted: dict[int, int] = {}
        for i, (c, ip, proto, cport, span, key, origin) in enumerate(requests):
            locked = self.old_lock.ports.get(c.decl.name.value, {}).get(key)
            if isinstance(locked, int) and self.ports.lo <= locked <= self.ports.hi and not clash(ip, proto, locked):
                take(ip, proto, locked, span, c.decl.name.value)
                granted[i] = locked
        cursors: dict[tuple[IPAddress, Proto], int] = {}
        exhausted: set[tuple[IPAddress, Proto]] = set()
        for i, (c, ip, proto, cport, span, key, origin) in enumerate(requests):
            if i not in granted:
                port = cursors.get((ip, proto), self.ports.lo)
                while port <= self.ports.hi and clash(ip, proto, port):
                    port += 1
                cursors[(ip, proto)] = port
                if port > self.ports.hi:
                    if (ip, proto) not in exhausted:
                        self.r.error(span, f"all ports are allocated: port-range {self.ports} has no free "
                                           f"{proto} port left on {ip}",
                                     [Note(self.daemon.port_range.span, "port-range is set here")]
                                     if self.daemon.port_range else [])
                        exhausted.add((ip, proto))
                    continue
                take(ip, proto, port, span, c.decl.name.value)
                granted[i] = port
            self.lock.ports.setdefault(c.decl.name.value, {})[key] = granted[i]
            c.mappings.append(ir.Mapping(ip, proto, PortRange(granted[i], granted[i]),
                                         PortRange(cport, cport), True, origin))

    @staticmethod
    def _port_key(proto: Proto, ip: IPAddress, cport: int, counts: dict[str, int]) -> str:
        base = f"{proto}:{ip}:{cport}"
        counts[base] = counts.get(base, 0) + 1
        return base if counts[base] == 1 else f"{base}#{counts[base]}"

    # ------------------------------------------------------------ links
    def resolve_links(self) -> None:
        for c in self.containers.values():
            aliases: dict[str, m.LinkDecl] = {}
            for link in c.decl.link:
                name = link.target.value
                if name == c.decl.name.value:
                    self.r.error(link.target.span, f"container {quote(name)} links to itself")
                    continue
                target = self.containers.get(name)
                if target is None:
                    self.r.error(link.target.span, f"link to unknown container {quote(name)}"
                                                   f"{did_you_mean(name, self.containers)}")
                    continue
                if link.alias.value in aliases:
                    self.r.error(link.alias.span, f"link alias {quote(link.alias.value)} is used twice",
                                 [Note(aliases[link.alias.value].alias.span, "first used here")])
                    continue
                aliases[link.alias.value] = link
                if c.mode in (NetKind.HOST, NetKind.CONTAINER) or c.broken or target.broken:
                    continue  # reported by _check_mode or resolve_modes
                owner = self.containers.get(target.root) if target.mode is NetKind.CONTAINER else target
                if owner is None or owner.mode is not NetKind.BRIDGE:
                    mode = (owner.mode.value if owner else "container") if owner is not target else target.mode.value
                    self.r.error(link.target.span, f"cannot link to {quote(name)}: it has no address on a bridge "
                                                   f"(net {mode})")
                    continue
                if c.mode is NetKind.BRIDGE and owner.bridge != c.bridge:
                    self.r.error(link.target.span, f"cannot link to {quote(name)}: it is on bridge "
                                                   f"{quote(owner.bridge)} and {quote(c.decl.name.value)} on "
                                                   f"{quote(c.bridge)}; netc's bridges are isolated from each other")
                    continue
                if c.mode is NetKind.NONE:
                    self.r.warning(link.span, f"link from a net none container only writes a hosts line: "
                                              f"{quote(c.decl.name.value)} has no network to reach {quote(name)}")
                origin = self.origin(link.span, f"container {c.decl.name.value}")
                c.links.append(ir.Link(name, link.alias.value, owner.address, origin))

    # ------------------------------------------------------------ interfaces
    def check_interfaces(self) -> dict[str, str]:
        """The host end of each bridged container's veth: "container NAME" -> interface name."""
        owners: dict[str, str] = {}  # interface -> container
        for c in self.containers.values():
            if c.mode is not NetKind.BRIDGE:
                continue
            name = veth_name(c.decl.name.value)
            if name in owners:
                clash = f"container {quote(owners[name])}"
            else:
                clash = f"bridge {quote(name)}" if name in self.bridges else None
            if clash:
                self.r.error(c.decl.name.span, f"the veth name {quote(name)} of container "
                                               f"{quote(c.decl.name.value)} collides with {clash}; rename one of them")
                continue
            owners[name] = c.decl.name.value
        return {f"container {who}": name for name, who in owners.items()}

    # ------------------------------------------------------------ p2p
    def resolve_p2p(self) -> list[ir.P2P]:
        out = []
        ifaces: dict[str, dict[str, Span | None]] = {}
        for decl in self.spec.p2ps:
            ends = {e.container.value: e for e in decl.ends}
            ok = True
            for who in (decl.a, decl.b):
                c = self.containers.get(who.value)
                if c is None:
                    self.r.error(who.span, f"p2p to unknown container {quote(who.value)}"
                                           f"{did_you_mean(who.value, self.containers)}")
                    ok = False
                elif c.mode is NetKind.HOST:
                    self.r.error(who.span, f"p2p end {quote(who.value)} is net host: a p2p link joins two "
                                           "container namespaces")
                    ok = False
            if not ok or len(ends) != 2:
                continue
            ea, eb = ends[decl.a.value], ends[decl.b.value]
            shared = self.netns_of(self.containers[decl.a.value])
            if shared == self.netns_of(self.containers[decl.b.value]):
                self.r.error(decl.b.span, f"both ends of p2p {decl.a.value} {decl.b.value} are in the namespace "
                                          f"{quote(shared)}: a p2p link joins two network stacks")
                continue
            if ea.address.value.ip == eb.address.value.ip:
                self.r.error(eb.address.span, f"both ends of p2p {decl.a.value} {decl.b.value} have the address "
                                              f"{eb.address.value.ip}", [Note(ea.address.span, "the other end")])
                continue
            clash = False
            for end in (ea, eb):
                owner = self._address_owner(end.address.value.ip)
                if owner is not None:
                    self.r.error(end.address.span, f"p2p address {end.address.value.ip} is already {owner}")
                    clash = True
            if clash:
                continue
            built = []
            for end, peer in ((ea, eb), (eb, ea)):
                c = self.containers[end.container.value]
                netns = self.netns_of(c)
                iface = end.iface.value if end.iface else f"p2p-{peer.container.value}"[:IFNAME_MAX]
                taken = ifaces.setdefault(netns, {"lo": None, "eth0": None})
                if iface in taken:
                    where = taken[iface]
                    span = end.iface.span if end.iface else end.span
                    self.r.error(span, f"interface {quote(iface)} already exists in the namespace of "
                                       f"{quote(c.decl.name.value)}; name this end with 'iface NAME'",
                                 [Note(where, "also used here")] if where else [])
                    continue
                taken[iface] = end.iface.span if end.iface else end.span
                built.append(ir.P2PEnd(c.decl.name.value, netns, end.address.value, iface, peer.address.value.ip))
            if len(built) == 2:
                out.append(ir.P2P(built[0], built[1], self.origin(decl.span)))
        return out

    def check_namespaces(self) -> None:
        """Every container with a stack of its own needs a namespace of its own."""
        seen: dict[str, _Container] = {}
        for c in self.containers.values():
            if c.mode not in (NetKind.BRIDGE, NetKind.NONE) or c.broken:
                continue
            keys = [self.netns_of(c)] + ([c.decl.netns.value] if c.decl.netns else [])
            prior = next(((k, seen[k]) for k in keys if k in seen), None)
            if prior is not None:
                key, other = prior
                where = lambda x: (x.decl.netns or x.decl.name).span  # noqa: E731
                self.r.error(where(c), f"containers {quote(other.decl.name.value)} and {quote(c.decl.name.value)} "
                                       f"would share the namespace {quote(key)}; to share a network stack, "
                                       f"use net container:{other.decl.name.value}",
                             [Note(where(other), "the other one is here")])
                continue
            seen.update((k, c) for k in keys)

    def _address_owner(self, address: IPAddress) -> str | None:
        """What holds an address on a bridge: "the gateway of bridge 'x'", "the address of container 'y'"."""
        for br in self.bridges.values():
            if br.network is None or address not in br.network:
                continue
            if address == br.address:
                return f"the gateway of bridge {quote(br.name)}"
            who = br.taken.get(int(address))
            if who is not None:
                return f"the address of container {quote(who)} on bridge {quote(br.name)}"
        return None

    def netns_of(self, c: _Container) -> str:
        owner = self.containers[c.root] if c.mode is NetKind.CONTAINER and c.root else c
        return ir.listed_netns(owner.decl.netns.value if owner.decl.netns else None) or \
            self.prefix + owner.decl.name.value

    # ------------------------------------------------------------ DNS
    def dns(self, c: _Container) -> tuple[tuple, tuple, tuple]:
        d, h = self.daemon, self.host
        host_ns = tuple(a.value for a in h.nameservers
                        if not (a.value in LOOPBACK or a.value == LOOPBACK6))
        nameservers = (tuple(a.value for a in c.decl.dns) or tuple(a.value for a in d.dns)
                       or host_ns or FALLBACK_DNS)
        search = (tuple(a.value for a in c.decl.dns_search) or tuple(a.value for a in d.dns_search)
                  or tuple(a.value for a in h.search))
        search = tuple(s[:-1] if s.endswith(".") and s != "." else s for s in search if s != ".")
        options = tuple(a.value for a in c.decl.dns_option) or tuple(a.value for a in h.options)
        return nameservers, search, options

    # ------------------------------------------------------------ rules
    def derive_rules(self, bridges: list[ir.Bridge], containers: list[ir.Container]) -> tuple[ir.Rule, ...]:
        if not self.firewall:
            return ()
        rules: list[ir.Rule] = []
        by_bridge: dict[str, list[ir.Container]] = {b.name: [] for b in bridges}
        for c in containers:
            if c.mode is NetKind.BRIDGE and c.bridge in by_bridge:
                by_bridge[c.bridge].append(c)
        for b in bridges:
            o = b.origin
            rules.append(ir.Reply(b.name, o))
            rules.extend(ir.Isolate(other.name, b.name, o) for other in bridges if other.name != b.name)
            rules.append(ir.Protect(b.name, o))
            seen = set()
            for c in by_bridge[b.name]:
                for mp in c.mappings:
                    key = (c.address, mp.proto, mp.container_ports)
                    if key not in seen:
                        seen.add(key)
                        rules.append(ir.PublishAccept(b.name, c.address, mp.proto, mp.container_ports, mp.origin))
            for c in by_bridge[b.name]:
                for link in c.links:
                    target = self.containers[link.target]
                    for proto, ports in compress(target.exposed):
                        rules.append(ir.LinkAccept(b.name, c.address, link.address, proto, ports, link.origin))
            br = self.bridges[b.name]
            rules.append(ir.Icc(b.name, b.icc, self.origin(br.icc_span) if br.icc_span else o))
        rules.extend(ir.Outgoing(b.name, b.origin) for b in bridges)
        for b in bridges:
            for c in by_bridge[b.name]:
                for mp in c.mappings:
                    rules.append(ir.Dnat(b.name, None if mp.host_ip == ANY else mp.host_ip, mp.proto,
                                         mp.host_ports, c.address, mp.container_ports, mp.origin))
        for b in bridges:
            rules.append(ir.MasqueradeLocal(b.name, b.origin))
        if self.masq:
            masq_origin = self.origin(self.daemon.ip_masq.span) if self.daemon.ip_masq else None
            rules.extend(ir.Masquerade(b.name, b.network, masq_origin or b.origin) for b in bridges)
        seen = set()
        for b in bridges:
            for c in by_bridge[b.name]:
                for mp in c.mappings:
                    key = (c.address, mp.proto, mp.container_ports)
                    if key not in seen:
                        seen.add(key)
                        rules.append(ir.Hairpin(c.address, mp.proto, mp.container_ports, mp.origin))
        return tuple(rules)

    # ------------------------------------------------------------ all
    def run(self) -> ir.Network | None:
        self.resolve_bridges()
        self.resolve_modes()
        self.allocate_addresses()
        self.allocate_ports()
        self.resolve_links()
        veths = self.check_interfaces()
        self.check_namespaces()
        p2ps = self.resolve_p2p()
        if self.r.errors:
            return None
        d = self.daemon
        bridges = []
        for br in self.bridges.values():
            context = None if br.decl else "daemon"
            default = f"bridge {br.name}"
            bridges.append(ir.Bridge(br.name, br.address, br.network, br.mtu, br.icc, br.external,
                                     br.name == self.default_bridge,
                                     self.origin(br.span, context, default)))
        containers = []
        for name, c in self.containers.items():
            containers.append(self._container(c, veths))
        sysctls = []
        if d.ip_forward is None or d.ip_forward.value:
            sysctls.append(ir.Sysctl("net.ipv4.ip_forward", "1",
                                     self.origin(d.ip_forward.span if d.ip_forward else None, default="ip-forward true")))
        if self.firewall and bridges:
            fw_origin = self.origin(d.iptables.span if d.iptables else None, default="iptables true")
            sysctls.append(ir.Sysctl("net.bridge.bridge-nf-call-iptables", "1", fw_origin))
            sysctls.extend(ir.Sysctl(f"net.ipv4.conf.{b.name}.route_localnet", "1", b.origin) for b in bridges)
        return ir.Network(
            spec=os.path.basename(self.spec_path), netns_prefix=self.prefix, firewall=self.firewall,
            bridges=tuple(bridges), containers=tuple(containers), p2ps=tuple(p2ps), sysctls=tuple(sysctls),
            rules=self.derive_rules(bridges, containers),
            host_nameservers=tuple(a.value for a in self.host.nameservers))

    def _container(self, c: _Container, veths: dict[str, str]) -> ir.Container:
        d = c.decl
        owner = self.containers[c.root] if c.mode is NetKind.CONTAINER and c.root else c
        br = self.bridges.get(c.bridge) if c.bridge else None
        hostname = (owner.decl.hostname.value if owner.decl.hostname else owner.decl.name.value)
        has_ns = c.mode in (NetKind.BRIDGE, NetKind.NONE, NetKind.CONTAINER)
        if c.mode is NetKind.HOST:
            # Docker copies the host's resolv.conf verbatim for --net=host (REFERENCE.md).
            h = self.host
            ns, search, options = (tuple(a.value for a in h.nameservers), tuple(a.value for a in h.search),
                                   tuple(a.value for a in h.options))
        else:
            ns, search, options = self.dns(owner)
        path = owner.decl.netns.value if owner.decl.netns else None
        return ir.Container(
            name=d.name.value, mode=c.mode, bridge=c.bridge,
            address=c.address if c.mode is NetKind.BRIDGE else (owner.address if owner is not c else None),
            prefixlen=br.network.prefixlen if br else None, gateway=br.address if br else None,
            mac=c.mac, mtu=br.mtu if br else None,
            netns=self.netns_of(c) if has_ns else None, netns_path=path if has_ns else None,
            host_veth=veths.get(f"container {d.name.value}") if c.mode is NetKind.BRIDGE else None,
            shares=owner.decl.name.value if owner is not c else None,
            hostname=hostname,
            exposed=tuple(compress(c.exposed)),
            mappings=tuple(c.mappings),
            links=tuple(owner.links),
            add_hosts=tuple((a.name, a.ip) for a in owner.decl.add_host),
            nameservers=ns, search=search, options=options,
            origin=self.origin(d.span))


def compress(ports: set[tuple[Proto, int]]) -> list[tuple[Proto, PortRange]]:
    """(proto, port) pairs -> sorted (proto, range) runs: tcp first, then udp, ascending."""
    out: list[tuple[Proto, PortRange]] = []
    for proto, port in sorted(ports, key=lambda pp: (m.PROTO_ORDER[pp[0]], pp[1])):
        if out and out[-1][0] is proto and out[-1][1].hi == port - 1:
            out[-1] = (proto, PortRange(out[-1][1].lo, port))
        else:
            out.append((proto, PortRange(port, port)))
    return out


def resolve(spec: m.Spec, reporter: Reporter, sources: Sources, lock: Lock, netns_prefix: str,
            spec_path: str) -> tuple[ir.Network | None, Lock]:
    resolver = Resolver(spec, reporter, sources, lock, netns_prefix, spec_path)
    network = resolver.run()
    return network, resolver.lock
