"""The model: a spec's declarations, typed, each value with its source span.

Built from syntax blocks by build.py; nothing is defaulted, bound or
allocated yet (that is resolve.py). Optional options are None when absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from netaddr import EUI, IPAddress, IPNetwork

from ..diagnostics import Span
from ..values import NetKind, PortRange, Proto

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class At(Generic[T]):
    """A value and where the spec wrote it."""

    value: T
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Expose:
    proto: Proto
    ports: PortRange
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PublishDecl:
    """`publish [IP:][HOSTPORT]:CPORT[/PROTO]`; host_ports None means drawn; host_ip None means
    the daemon's `ip` (both families, where the bridge has IPv6 and that is 0.0.0.0)."""

    host_ip: IPAddress | None
    host_ports: PortRange | None
    container_ports: PortRange
    proto: Proto
    span: Span = field(compare=False, repr=False)
    host_span: Span | None = field(default=None, compare=False, repr=False)  # `[IP:]HOSTPORT`, if given
    allow: tuple[At[IPNetwork], ...] | None = None   # `from CIDR, ...`; None: the daemon's publish-from


@dataclass(frozen=True, slots=True)
class LinkDecl:
    target: At[str]
    alias: At[str]
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AddHost:
    name: str
    ip: IPAddress
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NetMode:
    kind: NetKind
    target: str | None
    span: Span = field(compare=False, repr=False)
    target_span: Span | None = field(default=None, compare=False, repr=False)  # NAME of container:NAME


@dataclass(frozen=True, slots=True)
class HostDecl:
    nameservers: tuple[At[IPAddress], ...] = ()
    search: tuple[At[str], ...] = ()
    options: tuple[At[str], ...] = ()
    routes: tuple[At[IPNetwork], ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DaemonDecl:
    bridge: At[str] | None = None
    bip: At[IPNetwork] | None = None
    fixed_cidr: At[IPNetwork] | None = None
    mtu: At[int] | None = None
    icc: At[bool] | None = None
    iptables: At[bool] | None = None
    ip_forward: At[bool] | None = None
    ip_masq: At[bool] | None = None
    ip6tables: At[bool] | None = None
    ipv6: At[bool] | None = None
    fixed_cidr_v6: At[IPNetwork] | None = None
    ip: At[IPAddress] | None = None
    port_range: At[PortRange] | None = None
    publish_from: At[tuple[At[IPNetwork], ...]] | None = None
    dns: tuple[At[IPAddress], ...] = ()
    dns_search: tuple[At[str], ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BridgeDecl:
    name: At[str]
    bip: At[IPNetwork] | None = None
    fixed_cidr: At[IPNetwork] | None = None
    mtu: At[int] | None = None
    icc: At[bool] | None = None
    external: At[bool] | None = None
    ipv6: At[bool] | None = None
    fixed_cidr_v6: At[IPNetwork] | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ContainerDecl:
    name: At[str]
    net: NetMode | None = None
    hostname: At[str] | None = None
    ip: At[IPAddress] | None = None
    ip6: At[IPAddress] | None = None
    mac: At[EUI] | None = None
    expose: tuple[Expose, ...] = ()
    publish: tuple[PublishDecl, ...] = ()
    publish_all: At[bool] | None = None
    link: tuple[LinkDecl, ...] = ()
    dns: tuple[At[IPAddress], ...] = ()
    dns_search: tuple[At[str], ...] = ()
    dns_option: tuple[At[str], ...] = ()
    add_host: tuple[AddHost, ...] = ()
    netns: At[str] | None = None
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class P2PEnd:
    container: At[str]
    address: At[IPNetwork]
    iface: At[str] | None
    span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class P2PDecl:
    a: At[str]
    b: At[str]
    ends: tuple[P2PEnd, ...]
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Spec:
    host: HostDecl | None
    daemon: DaemonDecl
    bridges: tuple[BridgeDecl, ...]
    containers: tuple[ContainerDecl, ...]
    p2ps: tuple[P2PDecl, ...]
