"""The object table (`objects` in the output tree): everything apply makes, object by object,
with the literal commands that make it, check it and remove it.

Each object is a section of `objects`: a head line `KIND ID`, then indented lines

    from  the spec line it comes from (for plan's report; not part of the object)
    need  KIND ID      an object this one is built on: remade when that one is
    gone  KIND ID      removing that object removes this one too (a veth goes with
                       its namespace): its own down runs only if it outlives it
    must  FACT         what the host must show before apply (an external bridge)
    free  FACT         what the host must not show before netc creates the object
    want  FACT         what the host shows once the object is in place (the check)
    prev  KEY          a value netc records before it changes it, to put it back
    up    WHERE CMD    a command that makes the object
    down  WHERE CMD    a command that removes it

WHERE says what runs a command: `ip` (one `ip -batch` on the host for every
object of a kind), `ns:NAME` (one `ip -batch` inside that namespace, in
parallel lanes), `sh` (a shell command line), `files` (the container files
installer). FACTs use the words of the engine's listings (docs/apply.md). The
kinds, in the order apply makes them and with how a changed object is redone
(`recreate`: down, then up; `replace`: up again), head the file as data:
the engine knows no kind by name, so a later kind is a row here and a block
in templates/objects.j2.

Every field is netc's own or a validated name, address or path (no white
space, nothing a shell treats specially); a path in an `sh` line goes
through quote.sh_word all the same, and spec text reaches only `from` lines,
through quote.sh_comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from ..values import NetKind, address_text
from ..quote import sh_comment, sh_word
from .templates import short_hash

# The object kinds: made in this order, removed in the reverse one.
KINDS = (
    ("bridge", "recreate"),
    ("sysctl", "replace"),
    ("netns", "recreate"),
    ("lo", "replace"),
    ("veth", "recreate"),
    ("p2p", "recreate"),
    ("files", "replace"),
    ("firewall", "replace"),
)

FORMAT = 2   # the first line of `objects` after its comments: `netc-objects 2`


@dataclass(frozen=True, slots=True)
class BridgeView:
    name: str
    origin: str
    external: bool
    cidr: str
    address: str
    mtu: int
    mac: str
    cidr6: str | None = None      # the IPv6 gateway with the prefix (a bridge with IPv6)
    address6: str | None = None


@dataclass(frozen=True, slots=True)
class SysctlView:
    path: str
    value: str
    origin: str
    bridge: str | None      # a conf/BRIDGE/ key: made after its bridge
    ra_warning: bool = False  # IPv6 forwarding: say which interfaces lose their router advertisements


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    origin: str
    netns: str
    how: str                # "own" (netc creates it), "listed" (exists in /var/run/netns), "path" (netc links it)
    path: str
    path_word: str          # the path as a word of an `sh` line
    veth: str | None        # bridge mode only, as the rest
    bridge: str | None
    mtu: int | None
    mac: str | None
    cidr: str | None
    gateway: str | None
    cidr6: str | None = None      # a container on a bridge with IPv6
    gateway6: str | None = None


@dataclass(frozen=True, slots=True)
class P2PView:
    id: str
    origin: str
    a_ns: str
    a_if: str
    a_addr: str
    a_peer: str
    b_ns: str
    b_if: str
    b_addr: str
    b_peer: str


def bridge_mac(address) -> str:
    """A bridge's own MAC: 02:42 and its gateway address, as Docker makes container MACs.

    Set at creation, so that the bridge keeps it: without one, a bridge takes the
    lowest MAC of its ports, and adding or removing a container would change it
    under every other container's ARP cache (docs/choices.md)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def sysctl_path(key: str) -> tuple[str, str | None]:
    """A dotted sysctl key as its /proc/sys path, and the device of a conf/DEV/ key.

    The device part is taken whole (a bridge may be named br.0)."""
    for family in ("net.ipv4.conf.", "net.ipv6.conf."):
        if key.startswith(family):
            dev, _, leaf = key[len(family):].rpartition(".")
            return f"{family.replace('.', '/')}{dev}/{leaf}", dev
    return key.replace(".", "/"), None


# Sysctls of the whole host (not of one of netc's bridges): plan says so beside their spec line.
IPV6_FORWARDING = "net/ipv6/conf/all/forwarding"


def views(network: ir.Network) -> dict:
    """The data templates/objects.j2 lays out: bridges, sysctls, containers, p2p links."""
    bridges = [BridgeView(b.name, sh_comment(str(b.origin)), b.external, b.cidr, str(b.address), b.mtu,
                          bridge_mac(b.address), b.cidr6, address_text(b.address6) if b.address6 else None)
               for b in network.bridges]
    names = {b.name for b in network.bridges}
    sysctls = []
    for s in network.sysctls:
        path, dev = sysctl_path(s.key)
        mine = dev if dev in names else None
        origin = sh_comment(str(s.origin) if mine else f"host-wide: {s.origin}")
        sysctls.append(SysctlView(path, s.value, origin, mine, path == IPV6_FORWARDING and s.value == "1"))
    containers = []
    for c in network.containers:
        if c.mode not in (NetKind.BRIDGE, NetKind.NONE):
            continue
        if c.netns_path is None:
            how = "own"
        elif c.netns == ir.listed_netns(c.netns_path):
            how = "listed"
        else:
            how = "path"
        origin = sh_comment(str(c.origin))
        if c.mode is NetKind.BRIDGE:
            six = (f"{address_text(c.address6)}/{c.prefixlen6}", address_text(c.gateway6)) \
                if c.address6 is not None else (None, None)
            containers.append(ContainerView(c.name, origin, c.netns, how, c.netns_path or "", sh_word(c.netns_path or ""),
                                            c.host_veth, c.bridge, c.mtu, str(c.mac), f"{c.address}/{c.prefixlen}",
                                            str(c.gateway), *six))
        else:
            containers.append(ContainerView(c.name, origin, c.netns, how, c.netns_path or "", sh_word(c.netns_path or ""),
                                            None, None, None, None, None, None))
    p2ps = [P2PView(f"{p.a.netns}:{p.a.iface}", sh_comment(str(p.origin)),
                    p.a.netns, p.a.iface, str(p.a.address), str(p.a.peer),
                    p.b.netns, p.b.iface, str(p.b.address), str(p.b.peer)) for p in network.p2ps]
    return {"kinds": KINDS, "format": FORMAT, "bridges": bridges, "sysctls": sysctls,
            "containers": containers, "p2ps": p2ps}


def publish_lines(network: ir.Network) -> list[str]:
    """Each publish as the firewall object's `pub` lines say it, `PROTO HOSTIP HOSTPORTS ADDRESS
    PORTS` (HOSTIP 0.0.0.0 or :: for every address of the family): apply compares the record's with
    the tree's and deletes the connection tracking entries of every host port that moved or went."""
    out = []
    for r in network.rules:
        if isinstance(r, ir.Dnat):
            host = r.host_ip if r.host_ip is not None else ("0.0.0.0" if r.family.value == 4 else "::")
            out.append(f"{r.proto.value} {address_text(host) if not isinstance(host, str) else host} "
                       f"{r.host_ports} {address_text(r.address)} {r.ports}")
    return out


def firewall_view(backend: str, rules: dict[str, str], runtime: dict, pubs: list[str] = ()) -> dict:
    """The firewall object: what its backend's load and removal commands name (its `runtime`:
    iptables, the jumps into netc's chains and the chains; nftables, the table), and a digest of
    the rules, so that a change of the rules is a change of the object. RULES: file -> text
    (iptables: rules.v4, and rules.v6 when a bridge has IPv6)."""
    first = next(iter(rules))
    return {"backend": backend, "rules": first, "v6": "rules.v6" in rules, "files": list(rules),
            "digest": short_hash(*rules.values()), "pubs": list(pubs), **runtime}
