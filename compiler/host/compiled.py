"""OUT, the output tree of `netc compile`, as doctor reads it, and the flows it promises.

`read_out` reads OUT/netc.json (bridges and subnets, containers, publishes,
rules and sysctls, each with the spec line it comes from); it takes every
key that starts with "network" or "address", so the IPv6 fields netc.json
will grow are read beside the IPv4 ones. `flows` lists the traffic the spec
promises, each as the packet every hook sees: each publish from outside and
from the host, its replies, egress from each bridge and its replies,
container to container on a bridge (icc) and every link.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from netaddr import AddrFormatError, IPAddress, IPNetwork

from . import snapshot
from .finding import DoctorError
from .ruleset import NO_IFACE, Addr, Packet
from .snapshot import Host


@dataclass(frozen=True)
class Bridge:
    name: str
    networks: tuple[IPNetwork, ...]
    addresses: tuple[IPAddress, ...]
    external: bool
    icc: bool
    origin: str


@dataclass(frozen=True)
class Container:
    name: str
    bridge: str | None
    addresses: tuple[IPAddress, ...]
    origin: str
    port: str | None = None        # its veth's host end, a port of the bridge


@dataclass(frozen=True)
class Publish:
    container: str
    bridge: str
    address: IPAddress
    proto: str
    host_ip: IPAddress | None      # None: every address of the host
    host_ports: tuple[int, int]
    container_ports: tuple[int, int]
    origin: str

    @property
    def text(self) -> str:
        hp = _ports_text(self.host_ports)
        ip = f"{self.host_ip}:" if self.host_ip is not None else ""
        return f"publish {ip}{hp}/{self.proto} -> {self.container}:{_ports_text(self.container_ports)}"


@dataclass(frozen=True)
class Out:
    path: str
    spec: str
    backend: str | None            # None: the spec installs no firewall (iptables false)
    bridges: tuple[Bridge, ...] = ()
    containers: tuple[Container, ...] = ()
    publishes: tuple[Publish, ...] = ()
    sysctls: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (value, origin)
    rules: tuple[dict, ...] = ()

    def bridge(self, name: str) -> Bridge | None:
        return next((b for b in self.bridges if b.name == name), None)

    def rule_origin(self, kind: str, bridge: str, default: str) -> str:
        return next((r.get("origin", default) for r in self.rules
                     if r.get("kind") == kind and r.get("bridge") == bridge), default)

    @property
    def subnets(self) -> tuple[IPNetwork, ...]:
        return tuple(n for b in self.bridges for n in b.networks)


def _ports_text(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def _port_range(text) -> tuple[int, int]:
    lo, _, hi = str(text).partition("-")
    return int(lo), int(hi or lo)


def _addresses(d: dict, prefix: str) -> tuple:
    """Every string value of keys starting with `prefix` (address, address6, addresses ...)
    as an address or network: netc.json will grow IPv6 fields beside the IPv4 ones. A
    string that does not parse raises AddrFormatError (read_out reports it)."""
    out = []
    for key in sorted(d):
        if not key.startswith(prefix):
            continue
        values = d[key] if isinstance(d[key], list) else [d[key]]
        out += [IPNetwork(v) if prefix == "network" else IPAddress(v.split("/")[0]) for v in values
                if isinstance(v, str)]
    return tuple(out)


def read_out(path: str) -> Out:
    """OUT/netc.json -> Out; DoctorError when OUT is no output tree of netc compile."""
    if not os.path.isdir(path):
        raise DoctorError(f"{path} is not a folder: give the folder `netc compile -o` wrote")
    tmp = os.path.join(path, ".netc-tmp")
    if os.path.exists(os.path.join(tmp, "journal")) and not os.path.exists(os.path.join(tmp, "committed")):
        raise DoctorError(f"{path} is half-written: a netc compile into it was killed while it swapped the "
                          "files; run netc compile again")
    file = os.path.join(path, "netc.json")
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DoctorError(f"{path} is not an output tree of netc compile (it has no netc.json)") from None
    except (OSError, ValueError) as exc:
        raise DoctorError(f"{file}: cannot be read: {exc}") from None
    if not isinstance(data, dict) or "netc" not in data or not isinstance(data.get("bridges"), list):
        raise DoctorError(f"{file} is not the netc.json that netc compile writes")
    try:
        bridges = tuple(Bridge(b["name"], _addresses(b, "network"), _addresses(b, "address"),
                               bool(b.get("external")), bool(b.get("icc", True)), b.get("origin", ""))
                        for b in data["bridges"])
        for b in bridges:
            if not b.networks:
                raise ValueError(f"bridge {b.name} has no subnet")
        containers, publishes = [], []
        for c in data.get("containers", []):
            addrs = _addresses(c, "address") if c.get("mode") == "bridge" else ()
            containers.append(Container(c["name"], c.get("bridge"), addrs, c.get("origin", ""),
                                        c.get("host_veth") if addrs else None))
            for m in c.get("mappings", []) if addrs else []:
                host_ip = m.get("host_ip")
                ip = None if host_ip in (None, "", "0.0.0.0", "::") else IPAddress(host_ip)
                family = IPAddress(host_ip).version if host_ip else None   # a mapping is of one family
                for a in addrs:
                    if family is not None and family != a.version:
                        continue
                    publishes.append(Publish(c["name"], c["bridge"], a, m["proto"], ip, _port_range(m["host_ports"]),
                                             _port_range(m["container_ports"]), m.get("origin", "")))
        sysctls = {s["key"]: (str(s["value"]), s.get("origin", "")) for s in data.get("sysctls", [])}
        return Out(path, data.get("spec", ""), data.get("backend"), bridges, tuple(containers), tuple(publishes),
                   sysctls, tuple(r for r in data.get("rules", []) if isinstance(r, dict)))
    except (KeyError, TypeError, ValueError, AddrFormatError) as exc:
        raise DoctorError(f"{file} is not the netc.json that netc compile writes ({type(exc).__name__}: {exc})") \
            from None


# ------------------------------------------------------------------ the flows of the spec

@dataclass(frozen=True)
class Flow:
    """A kind of traffic the spec promises, as each hook sees its first packet."""
    what: str
    origin: str
    views: dict[str, Packet]           # hook -> the packet there
    bridges: tuple[str, ...] = ()      # the bridges it enters or leaves
    publish: Publish | None = None
    keeps_source: bool = False         # the spec keeps its source address (a foreign SNAT changes it)

    @property
    def label(self) -> str:
        return f"{self.what} ({self.origin})" if self.origin else self.what


def _net(*nets) -> Addr:
    return Addr("net", tuple(IPNetwork(str(n)) for n in nets))


OUTSIDE = Addr("outside")


def flows(out: Out, host: Host) -> list[Flow]:
    out_flows: list[Flow] = []
    masq = {r.get("bridge") for r in out.rules if r.get("kind") == "Masquerade"}
    for b in out.bridges:
        for n in b.networks:
            fam = str(n.version)
            mine = _net(n)
            base = dict(family=fam, proto="tcp", dport=None, dnat=False, dst_local=False)
            egress = out.rule_origin("Outgoing", b.name, b.origin)
            new = Packet(saddr=mine, daddr=OUTSIDE, iif=b.name, oif=None, ctstate="new", **base)
            reply = Packet(saddr=OUTSIDE, daddr=mine, iif=None, oif=b.name, ctstate="established", **base)
            out_flows.append(Flow(f"egress from bridge {b.name} ({n}) to outside", egress,
                                  {"prerouting": _pre(new), "forward": new, "postrouting": new}, (b.name,),
                                  keeps_source=b.name not in masq))
            out_flows.append(Flow(f"replies to egress from bridge {b.name}", egress,
                                  {"prerouting": _pre(reply), "forward": reply, "postrouting": reply}, (b.name,)))
            icc = next((r for r in out.rules if r.get("kind") == "Icc" and r.get("bridge") == b.name), None)
            if icc is None or icc.get("accept", True):
                p = Packet(saddr=mine, daddr=mine, iif=b.name, oif=b.name, ctstate="new", **base)
                out_flows.append(Flow(f"container to container on bridge {b.name}",
                                      icc.get("origin", b.origin) if icc else b.origin,
                                      {"prerouting": _pre(p), "forward": p, "postrouting": p}, (b.name,),
                                      keeps_source=True))
    for r in out.rules:
        if r.get("kind") != "LinkAccept":
            continue
        try:
            src, dst = IPNetwork(r["parent"]), IPNetwork(r["child"])
            p = Packet(family=str(src.version), proto=r.get("proto", "tcp"), dport=_port_range(r["ports"]),
                       saddr=_net(src), daddr=_net(dst), iif=r["bridge"], oif=r["bridge"], ctstate="new",
                       dnat=False, dst_local=False)
        except (KeyError, ValueError, TypeError, AddrFormatError):
            continue
        out_flows.append(Flow(f"link {r['parent']} -> {r['child']} {r.get('proto', 'tcp')}/{r['ports']}",
                              r.get("origin", ""), {"prerouting": _pre(p), "forward": p, "postrouting": p},
                              (r["bridge"],), keeps_source=True))
    mine = {v: tuple(IPNetwork(str(a)) for a in snapshot.local_addresses(host, v)) for v in (4, 6)}
    for pub in out.publishes:
        fam = str(pub.address.version)
        v = pub.address.version
        local = Addr("net", (IPNetwork(str(pub.host_ip)),)) if pub.host_ip is not None else \
            Addr("local", tuple(n for n in mine[v] if not n.ip.is_loopback()))
        everywhere = Addr("net", (IPNetwork(str(pub.host_ip)),)) if pub.host_ip is not None else \
            Addr("local", mine[v])
        pre = Packet(family=fam, proto=pub.proto, dport=pub.host_ports, saddr=OUTSIDE, daddr=local, iif=None,
                     oif="", ctstate="new", dnat=False, dst_local=True)
        output = Packet(family=fam, proto=pub.proto, dport=pub.host_ports, saddr=everywhere, daddr=everywhere,
                        iif=NO_IFACE, oif="", ctstate="new", dnat=False, dst_local=True, src_local=True)
        fwd = Packet(family=fam, proto=pub.proto, dport=pub.container_ports, saddr=OUTSIDE, daddr=_net(pub.address),
                     iif=None, oif=pub.bridge, ctstate="new", dnat=True, dst_local=False)
        back = Packet(family=fam, proto=pub.proto, dport=None, saddr=_net(pub.address), daddr=OUTSIDE,
                      iif=pub.bridge, oif=None, ctstate="established", dnat=True, dst_local=False)
        if pub.host_ip is None or not pub.host_ip.is_loopback():
            out_flows.append(Flow(f"{pub.text} from outside", pub.origin,
                                  {"prerouting": pre, "forward": fwd, "postrouting": fwd},
                                  (pub.bridge,), pub, keeps_source=True))
            out_flows.append(Flow(f"replies of {pub.text}", pub.origin,
                                  {"prerouting": _pre(back), "forward": back, "postrouting": back}, (pub.bridge,)))
        out_flows.append(Flow(f"{pub.text} from this host", pub.origin, {"output": output}, (pub.bridge,), pub))
    return out_flows


def _pre(p: Packet) -> Packet:
    """The packet at prerouting: no output interface yet."""
    return Packet(p.family, p.proto, p.dport, p.saddr, p.daddr, p.iif, "", p.ctstate, p.dnat, p.dst_local,
                  p.src_local)


def generic_flows() -> list[Flow]:
    """Without OUT: forwarded traffic of any bridge (every field unknown)."""
    p = Packet(family="4", proto="tcp", dport=None, saddr=Addr("net"), daddr=Addr("net"), iif="", oif="",
               ctstate="new", dnat=False, dst_local=False)
    return [Flow("forwarded connections (of any container network)", "",
                 {"prerouting": p, "forward": p, "postrouting": p})]


