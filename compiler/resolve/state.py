"""What resolve's passes share: the spec, the reporter, the locks, and one mutable
record per bridge and per container that the passes fill in, in order.

The passes (bridges, modes, addresses, ports, links, interfaces, p2p) each
read what earlier passes wrote into these records and add their own part;
`assemble` turns the records into the frozen IR. Records are keyed by the
bridge's or container's name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from netaddr import EUI, IPAddress, IPNetwork

from .. import ir
from ..diagnostics import Reporter, Sources, Span
from ..frontend import model as m
from ..values import NetKind, PortRange, Proto
from .lock import Lock

DEFAULT_BRIDGE = "docker0"
DEFAULT_MTU = 1500
DEFAULT_PORTS = PortRange(49153, 65535)
ANY = IPAddress("0.0.0.0")
_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|#.*')
_BRACES = re.compile(r"\s*\{\s*")


@dataclass
class BridgeRecord:
    name: str
    decl: m.BridgeDecl | None
    bip: m.At[IPNetwork] | None
    fixed: m.At[IPNetwork] | None
    mtu: int
    icc: bool
    icc_span: Span | None
    external: bool
    span: Span | None
    network: IPNetwork | None = None    # set by the bridges pass (None: no usable subnet, reported)
    address: IPAddress | None = None
    first: int = 0                       # the range containers are handed addresses from
    last: int = 0
    cursor: int = 0
    taken: dict[int, str] = field(default_factory=dict)  # address -> who holds it


@dataclass
class ContainerRecord:
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

    @property
    def name(self) -> str:
        return self.decl.name.value


class State:
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
        self.default_bridge = d.bridge.value if d.bridge else DEFAULT_BRIDGE
        self.bridges: dict[str, BridgeRecord] = {}
        self.containers: dict[str, ContainerRecord] = {}
        self.veths: dict[str, str] = {}  # container name -> the host end of its veth
        self._relpaths: dict[str, str] = {}

    def origin(self, span: Span | None, context: str | None = None, default: str = "") -> ir.Origin:
        """Where a value comes from: the file (relative to the spec's folder), the line, and
        what the line says (comments and braces dropped, at most 96 characters). The text is
        kept as it is: each file it lands in quotes it for its context (quote.py)."""
        if span is None:
            return ir.Origin("", 0, f"netc default: {default}")
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
        return ir.Origin(file, span.line, text)

    def owner(self, c: ContainerRecord) -> ContainerRecord:
        """The container whose network stack C uses: C itself, or the end of its net container: chain."""
        return self.containers[c.root] if c.mode is NetKind.CONTAINER and c.root else c

    def netns_of(self, c: ContainerRecord) -> str:
        owner = self.owner(c)
        return ir.listed_netns(owner.decl.netns.value if owner.decl.netns else None) or \
            self.prefix + owner.decl.name.value
