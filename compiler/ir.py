"""The IR: a resolved, allocated, checked network that backends render.

Every name is bound, every default applied, every address, MAC, host port and
interface name allocated, and every firewall rule derived (as typed rules,
not text). Backends read this and make no decisions of their own. Each node
that comes from the spec carries an `Origin` (file:line and what the line
says), which backends print as rule comments and `explain` reports; origins
are excluded from equality, like spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netaddr import EUI, IPAddress, IPNetwork

from .values import NetKind, PortRange, Proto


@dataclass(frozen=True, slots=True)
class Origin:
    file: str      # relative to the main spec's folder
    line: int
    text: str      # what the spec line says, e.g. "link db:database"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.text}" if self.line else self.text


def listed_netns(path: str | None) -> str | None:
    """The name of a namespace `ip netns` lists (/var/run/netns/NAME or /run/netns/NAME), else None."""
    for base in ("/var/run/netns/", "/run/netns/"):
        if path and path.startswith(base) and "/" not in path[len(base):]:
            return path[len(base):]
    return None


def origin_field():
    return field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Bridge:
    name: str
    address: IPAddress        # the gateway, on the bridge
    network: IPNetwork        # the subnet, network form (172.17.0.0/16)
    mtu: int
    icc: bool
    external: bool
    default: bool             # the daemon's bridge (docker0 unless `bridge`)
    origin: Origin = origin_field()
    icc_origin: Origin | None = field(default=None, compare=False, repr=False)  # where icc is set, if it is

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.network.prefixlen}"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One publish, after allocation: host_ports -> container_ports (same length)."""

    host_ip: IPAddress        # 0.0.0.0 means every local address
    proto: Proto
    host_ports: PortRange
    container_ports: PortRange
    drawn: bool               # host port drawn from port-range
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Link:
    target: str
    alias: str
    address: IPAddress | None  # the target's address on the shared bridge
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    mode: NetKind
    bridge: str | None             # bridge mode only
    address: IPAddress | None
    prefixlen: int | None
    gateway: IPAddress | None
    mac: EUI | None
    mtu: int | None
    netns: str | None              # namespace name (created, or linked to netns_path)
    netns_path: str | None         # `netns PATH`: an existing namespace netc never deletes
    host_veth: str | None
    shares: str | None             # net container:X -> the container owning the stack
    hostname: str                  # full name, as in /etc/hostname
    exposed: tuple[tuple[Proto, PortRange], ...]
    mappings: tuple[Mapping, ...]
    links: tuple[Link, ...]
    add_hosts: tuple[tuple[str, IPAddress], ...]
    nameservers: tuple[IPAddress, ...]
    search: tuple[str, ...]
    options: tuple[str, ...]
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class P2PEnd:
    container: str
    netns: str
    address: IPNetwork
    iface: str
    peer: IPAddress


@dataclass(frozen=True, slots=True)
class P2P:
    a: P2PEnd
    b: P2PEnd
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Sysctl:
    key: str
    value: str
    origin: Origin = origin_field()


# ---------------------------------------------------------------- firewall rules
# The rules netc's firewall holds, in evaluation order within each hook. Each
# kind is rendered by every backend; `explain` evaluates the rendered form.

@dataclass(frozen=True, slots=True)
class Reply:
    """Accept replies (ESTABLISHED,RELATED) into the bridge."""
    bridge: str
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Isolate:
    """Drop what enters bridge `to` from bridge `frm` unless a publish translated it."""
    frm: str
    to: str
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Protect:
    """Drop what enters the bridge from elsewhere unless a publish translated it."""
    bridge: str
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class PublishAccept:
    """Accept translated (DNAT) traffic to a published container port."""
    bridge: str
    address: IPAddress
    proto: Proto
    ports: PortRange
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class LinkAccept:
    """Accept parent -> child on the child's exposed port, and the replies' direction."""
    bridge: str
    parent: IPAddress
    child: IPAddress
    proto: Proto
    ports: PortRange
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Icc:
    """Container to container on one bridge: accept (icc true) or drop."""
    bridge: str
    accept: bool
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Accept what leaves the bridge for anywhere else."""
    bridge: str
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Dnat:
    """A publish: local destination (host_ip, or any) -> container address and port."""
    bridge: str
    host_ip: IPAddress | None
    proto: Proto
    host_ports: PortRange
    address: IPAddress
    ports: PortRange
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class MasqueradeLocal:
    """Host-sourced traffic into the bridge (127.0.0.1 publishes) leaves with the bridge address."""
    bridge: str
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Masquerade:
    """The bridge subnet leaving by another interface is masqueraded (ip-masq)."""
    bridge: str
    network: IPNetwork
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Hairpin:
    """A container reaching its own publish: masquerade so the reply comes back through the host."""
    address: IPAddress
    proto: Proto
    ports: PortRange
    origin: Origin = origin_field()


Rule = Reply | Isolate | Protect | PublishAccept | LinkAccept | Icc | Outgoing | Dnat | MasqueradeLocal | Masquerade | Hairpin


@dataclass(frozen=True, slots=True)
class Network:
    spec: str                       # the spec's file name, for headers
    netns_prefix: str
    firewall: bool                  # daemon iptables
    bridges: tuple[Bridge, ...]
    containers: tuple[Container, ...]
    p2ps: tuple[P2P, ...]
    sysctls: tuple[Sysctl, ...]
    rules: tuple[Rule, ...]
    ip_masq: bool = True            # daemon ip-masq (and a firewall)
    ip_masq_origin: Origin | None = field(default=None, compare=False, repr=False)

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)

    def bridge(self, name: str) -> Bridge:
        for b in self.bridges:
            if b.name == name:
                return b
        raise KeyError(name)
