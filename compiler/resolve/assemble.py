"""Assemble: the passes' records -> the frozen IR (bridges, containers, sysctls, the network).

Also each container's DNS inputs (resolv.conf's nameservers, search, options), by
Docker's rules: the container's own values, else the daemon's, else the host's
with localhost nameservers dropped (and 8.8.8.8/8.8.4.4 when none is left).
"""

from __future__ import annotations

import dataclasses
import os

from netaddr import IPAddress

from .. import ir
from ..kernel import LOOPBACK, LOOPBACK6
from ..values import NetKind
from .derive import derive
from .ports import compress
from .state import ContainerRecord, State

FALLBACK_DNS = (IPAddress("8.8.8.8"), IPAddress("8.8.4.4"))


def network(st: State, p2ps: list[ir.P2P]) -> ir.Network:
    d = st.daemon
    bridges = []
    for br in st.bridges.values():
        context = None if br.decl else "daemon"
        bridges.append(ir.Bridge(br.name, br.address, br.network, br.mtu, br.icc, br.external,
                                 br.name == st.default_bridge, st.origin(br.span, context, f"bridge {br.name}"),
                                 icc_origin=st.origin(br.icc_span) if br.icc_span else None))
    containers = [container(st, c) for c in st.containers.values()]
    sysctls = []
    if d.ip_forward is None or d.ip_forward.value:
        sysctls.append(ir.Sysctl("net.ipv4.ip_forward", "1",
                                 st.origin(d.ip_forward.span if d.ip_forward else None, default="ip-forward true")))
    if st.firewall and bridges:
        fw_origin = st.origin(d.iptables.span if d.iptables else None, default="iptables true")
        sysctls.append(ir.Sysctl("net.bridge.bridge-nf-call-iptables", "1", fw_origin))
        sysctls.extend(ir.Sysctl(f"net.ipv4.conf.{b.name}.route_localnet", "1", b.origin) for b in bridges)
    net = ir.Network(
        spec=os.path.basename(st.spec_path), netns_prefix=st.prefix, firewall=st.firewall,
        bridges=tuple(bridges), containers=tuple(containers), p2ps=tuple(p2ps), sysctls=tuple(sysctls),
        rules=(), ip_masq=st.masq,
        ip_masq_origin=st.origin(d.ip_masq.span) if d.ip_masq else None)
    return dataclasses.replace(net, rules=derive(net))


def container(st: State, c: ContainerRecord) -> ir.Container:
    d = c.decl
    owner = st.owner(c)
    br = st.bridges.get(c.bridge) if c.bridge else None
    hostname = (owner.decl.hostname.value if owner.decl.hostname else owner.decl.name.value)
    has_ns = c.mode in (NetKind.BRIDGE, NetKind.NONE, NetKind.CONTAINER)
    if c.mode is NetKind.HOST:
        # Docker copies the host's resolv.conf verbatim for --net=host (REFERENCE.md).
        h = st.host
        ns, search, options = (tuple(a.value for a in h.nameservers), tuple(a.value for a in h.search),
                               tuple(a.value for a in h.options))
    else:
        ns, search, options = dns(st, owner)
    path = owner.decl.netns.value if owner.decl.netns else None
    return ir.Container(
        name=d.name.value, mode=c.mode, bridge=c.bridge,
        address=c.address if c.mode is NetKind.BRIDGE else (owner.address if owner is not c else None),
        prefixlen=br.network.prefixlen if br else None, gateway=br.address if br else None,
        mac=c.mac, mtu=br.mtu if br else None,
        netns=st.netns_of(c) if has_ns else None, netns_path=path if has_ns else None,
        host_veth=st.veths.get(d.name.value) if c.mode is NetKind.BRIDGE else None,
        shares=owner.decl.name.value if owner is not c else None,
        hostname=hostname,
        exposed=tuple(compress(c.exposed)),
        mappings=tuple(c.mappings),
        links=tuple(owner.links),
        add_hosts=tuple((a.name, a.ip) for a in owner.decl.add_host),
        nameservers=ns, search=search, options=options,
        origin=st.origin(d.span))


def dns(st: State, c: ContainerRecord) -> tuple[tuple, tuple, tuple]:
    d, h = st.daemon, st.host
    host_ns = tuple(a.value for a in h.nameservers
                    if not (a.value in LOOPBACK or a.value == LOOPBACK6))
    nameservers = (tuple(a.value for a in c.decl.dns) or tuple(a.value for a in d.dns)
                   or host_ns or FALLBACK_DNS)
    search = (tuple(a.value for a in c.decl.dns_search) or tuple(a.value for a in d.dns_search)
              or tuple(a.value for a in h.search))
    search = tuple(s[:-1] if s.endswith(".") and s != "." else s for s in search if s != ".")
    options = tuple(a.value for a in c.decl.dns_option) or tuple(a.value for a in h.options)
    return nameservers, search, options
