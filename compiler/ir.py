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

from .values import Family, NetKind, PortRange, Proto


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
    address6: IPAddress | None = None     # the IPv6 gateway (network6 + 1); None: the bridge is IPv4-only
    network6: IPNetwork | None = None     # fixed-cidr-v6

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.network.prefixlen}"

    @property
    def cidr6(self) -> str | None:
        return f"{self.address6}/{self.network6.prefixlen}" if self.address6 is not None else None

    @property
    def families(self) -> tuple[Family, ...]:
        return (Family.V4, Family.V6) if self.address6 is not None else (Family.V4,)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One publish, after allocation: host_ports -> container_ports (same length)."""

    host_ip: IPAddress        # 0.0.0.0 means every local IPv4 address, :: every IPv6 one
    proto: Proto
    host_ports: PortRange
    container_ports: PortRange
    drawn: bool               # host port drawn from port-range
    origin: Origin = origin_field()
    # Who may reach it: the networks of its family, by the source address the host receives
    # (before translation); () is nobody of this family; None is everyone (no list, or /0).
    allow: tuple[IPNetwork, ...] | None = None

    @property
    def family(self) -> Family:
        """0.0.0.0 and IPv4 host addresses publish in IPv4, :: and IPv6 ones in IPv6."""
        return Family(self.host_ip.version)


@dataclass(frozen=True, slots=True)
class Link:
    target: str
    alias: str
    address: IPAddress | None  # the target's address on the shared bridge
    address6: IPAddress | None  # and its IPv6 address, where the bridge has IPv6
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
    address6: IPAddress | None     # on a bridge with IPv6
    prefixlen6: int | None
    gateway6: IPAddress | None
    origin: Origin = origin_field()

    def address_of(self, family: Family) -> IPAddress | None:
        return self.address if family is Family.V4 else self.address6


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
# Every rule carries its address family: a dual-stack bridge has each of its
# rules once per family (iptables writes them to rules.v4 and rules.v6;
# nftables' inet table holds one rule where both families' are alike).

@dataclass(frozen=True, slots=True)
class Reply:
    """Accept replies (ESTABLISHED,RELATED) into the bridge."""
    bridge: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Isolate:
    """Drop what enters bridge `to` from bridge `frm` unless a publish translated it."""
    frm: str
    to: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Protect:
    """Drop what enters the bridge from elsewhere unless a publish translated it."""
    bridge: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Accept IPv6 neighbour discovery (solicitations, advertisements) between the bridge's
    containers: IPv6 finds a neighbour's MAC with ICMPv6, which the bridge's forward hook
    sees (br_netfilter), where IPv4's ARP passes no IP hook; without it icc false would
    cut even linked containers apart."""
    bridge: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class PublishAccept:
    """Accept translated (DNAT) traffic to a published container port."""
    bridge: str
    address: IPAddress
    proto: Proto
    ports: PortRange
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class LinkAccept:
    """Accept parent -> child on the child's exposed port, and the replies' direction."""
    bridge: str
    parent: IPAddress
    child: IPAddress
    proto: Proto
    ports: PortRange
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Icc:
    """Container to container on one bridge: accept (icc true) or drop."""
    bridge: str
    accept: bool
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Accept what leaves the bridge for anywhere else."""
    bridge: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Dnat:
    """A publish: local destination (host_ip, or any address of the family) -> container address and port."""
    bridge: str
    host_ip: IPAddress | None
    proto: Proto
    host_ports: PortRange
    address: IPAddress
    ports: PortRange
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Guard:
    """A publish with an allow-list: a new connection to it (a local destination, host_ip or
    any address of the family, proto, host_ports) from a source outside `allow` is dropped
    before translation, whoever sends it (outside, the host, a container)."""
    host_ip: IPAddress | None
    proto: Proto
    host_ports: PortRange
    allow: tuple[IPNetwork, ...]
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class MasqueradeLocal:
    """Host-sourced traffic into the bridge (loopback publishes) leaves with the bridge address."""
    bridge: str
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Masquerade:
    """The bridge subnet leaving by another interface is masqueraded (ip-masq)."""
    bridge: str
    network: IPNetwork
    family: Family
    origin: Origin = origin_field()


@dataclass(frozen=True, slots=True)
class Hairpin:
    """A container reaching its own publish: masquerade so the reply comes back through the host."""
    address: IPAddress
    proto: Proto
    ports: PortRange
    family: Family
    origin: Origin = origin_field()


Rule = (Reply | Isolate | Protect | Neighbours | PublishAccept | LinkAccept | Icc | Outgoing | Dnat | Guard
        | MasqueradeLocal | Masquerade | Hairpin)


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
    firewall6: bool = False         # IPv6 gets the same rules (daemon ip6tables, and a firewall)

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
