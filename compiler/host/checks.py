"""The checks that are not about firewall rules: listeners on published ports, routes and
addresses on the spec's subnets, rp_filter, br_netfilter, accept_ra, firewalld and ufw.
Each is a pure function of (Host, Out) returning Findings (docs/doctor.md)."""

from __future__ import annotations

from netaddr import AddrFormatError, IPAddress

from .compiled import Out
from .finding import Finding
from .ruleset import shell_join
from .snapshot import Host


def check_listeners(host: Host, out: Out) -> list[Finding]:
    found = []
    for pub in out.publishes:
        for l in host.listeners:
            if l.proto != pub.proto or not pub.host_ports[0] <= l.port <= pub.host_ports[1]:
                continue
            wildcard = l.address in ("*", "0.0.0.0", "::")
            try:
                addr = None if wildcard else IPAddress(l.address)
            except (AddrFormatError, ValueError, TypeError):
                continue
            if addr is not None and addr.version == 6 and addr.is_ipv4_mapped():
                addr = addr.ipv4()
            if (addr is not None and addr.version != pub.address.version) or \
                    (l.address == "0.0.0.0" and pub.address.version == 6):
                continue  # ("::" and "*" take both families)
            if not (pub.host_ip is None or wildcard or addr == pub.host_ip):
                continue
            who = l.process or "a process"
            found.append(Finding(
                "publish-port-in-use", "error",
                f"{who} listens on {l.proto} port {l.port}, which this network publishes",
                f"{l.proto} {l.address}:{l.port} ({who})",
                "netc's DNAT takes every connection to a published port before any socket sees it, so the "
                "listener no longer gets its traffic; Docker would refuse this publish (port already allocated)",
                (f"{pub.text} ({pub.origin})",),
                (f"# stop {who}, or move it to another port, or publish another host port in the spec line named "
                 "above and compile again",)))
    return found


ENGINES = (("docker", "Docker"), ("br-", "Docker"), ("cni-podman", "Podman"), ("podman", "Podman"),
           ("virbr", "libvirt"), ("lxdbr", "LXD"), ("incusbr", "Incus"), ("cni", "a CNI plugin"))


def _engine(name: str | None) -> str:
    return next((f" ({who}'s bridge?)" for prefix, who in ENGINES if name and name.startswith(prefix)), "")


def check_subnets(host: Host, out: Out) -> list[Finding]:
    found = []
    mine = {b.name for b in out.bridges}
    for b in out.bridges:
        for n in b.networks:
            for r in host.routes:
                if r.dev in mine or r.dst.prefixlen == 0 or r.dst.version != n.version:
                    continue
                if not (r.dst in n or n in r.dst):
                    continue
                link = host.link(r.dev) if r.dev else None
                engine = _engine(r.dev)
                held = [a for a in (link.addresses if link else ()) if a.ip in r.dst]
                if held:
                    fix = [shell_join(["ip", "addr", "del", str(a), "dev", r.dev]) for a in held]
                    if link and link.kind == "bridge":
                        fix.append(f"# or remove that bridge, if nothing uses it: ip link del {r.dev}")
                else:
                    fix = [shell_join(["ip", "route", "del", *r.text.split()])]
                fix.append(f"# or give bridge {b.name} a free subnet ({b.origin}) and compile again")
                if r.dst in n:  # as or more specific: it takes the containers' traffic
                    inside = [c for c in out.containers if c.bridge == b.name and any(a in r.dst for a in c.addresses)]
                    breaks = tuple(f"traffic to container {c.name} (publishes, replies, the host) ({c.origin})"
                                   for c in inside) or (f"traffic to bridge {b.name}'s subnet {n} ({b.origin})",)
                    same = r.dst == n
                    found.append(Finding(
                        "subnet-overlap", "error",
                        f"{r.dev or r.type}{engine} is routed {'the same subnet' if same else 'a part of the subnet'} "
                        f"{r.dst} as bridge {b.name} ({n})",
                        f"route {r.text}",
                        ("two routes to the same subnet: the kernel uses the one made first, so packets for the "
                         "containers may leave through the other device" if same else
                         "the kernel picks the most specific route, so packets for these containers leave through "
                         "the other device"),
                        breaks, tuple(fix)))
                else:
                    found.append(Finding(
                        "subnet-overlap", "warning",
                        f"bridge {b.name} ({n}) takes a part of {r.dst}, which is routed via {r.dev or r.type}{engine}",
                        f"route {r.text}",
                        f"the bridge's route is more specific, so hosts in {n} behind {r.dev or r.type} are no longer "
                        "reachable from this host or the containers",
                        (f"bridge {b.name} ({b.origin})",), tuple(fix)))
    return found


def check_addresses(host: Host, out: Out) -> list[Finding]:
    found = []
    wanted: list[tuple[IPAddress, str, str, str]] = []   # address, whose, origin, the bridge that may hold it
    for b in out.bridges:
        wanted += [(a, f"bridge {b.name}'s gateway", b.origin, b.name) for a in b.addresses]
    for c in out.containers:
        wanted += [(a, f"container {c.name}", c.origin, "") for a in c.addresses]
    for link in host.links:
        for net in link.addresses:
            for addr, whose, origin, holder in wanted:
                if net.ip != addr or link.name == holder:
                    continue
                if holder:
                    why = (f"apply's preflight refuses to create bridge {holder} with an address in use "
                           "(an external bridge must hold it itself)")
                    breaks = (f"the whole apply ({origin})",)
                else:
                    why = ("the host takes packets for this address as its own: publishes, replies and the host's "
                           "own connections end on the host instead of in the container")
                    breaks = tuple(f"{p.text} ({p.origin})" for p in out.publishes if p.address == addr) + \
                        (f"traffic to {whose} ({origin})",)
                found.append(Finding(
                    "address-in-use", "error", f"{addr}, the address of {whose}, is in use on {link.name}",
                    f"{link.name}: {net}", why, breaks,
                    (shell_join(["ip", "addr", "del", str(net), "dev", link.name]),
                     f"# or give {whose} another address in the spec and compile again")))
    return found


# ------------------------------------------------------------------ sysctls, modules, services

def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _sysctl_name(iface: str) -> str:
    return iface.replace(".", "/")


def check_rp_filter(host: Host, out: Out | None) -> list[Finding]:
    found = []
    mine = {b.name for b in out.bridges} if out else set()
    every = _int(host.sysctl("net.ipv4.conf.all.rp_filter", "0"))
    defaults = [r for r in host.routes if r.dst.prefixlen == 0 and r.dst.version == 4]
    publishes = tuple(f"{p.text} from outside ({p.origin})" for p in (out.publishes if out else ())
                      if p.address.version == 4 and (p.host_ip is None or not p.host_ip.is_loopback()))
    for link in host.links:
        v4 = [a for a in link.addresses if a.version == 4]
        if link.name == "lo" or link.name in mine or link.master or not v4:
            continue
        strict = max(every, _int(host.sysctl(f"net.ipv4.conf.{link.name}.rp_filter", "0"))) == 1
        if not strict:
            continue
        connected = {a.cidr for a in v4}
        other = [r for r in host.routes if r.dst.version == 4 and r.dev != link.name and r.dst.prefixlen > 0
                 and any(r.dst in c for c in connected)]
        breaks = publishes + (("replies to egress from the containers",) if out and out.bridges else ())
        breaks = breaks or ("connections from other hosts that arrive on this interface",)
        key = f"net.ipv4.conf.{_sysctl_name(link.name)}.rp_filter"
        fix = (f"sysctl -w {key}=2",
               f"# keep it across reboots: echo '{key} = 2' > /etc/sysctl.d/90-rp-filter-{link.name}.conf")
        source = "net.ipv4.conf.all.rp_filter=1" if every == 1 else f"{key}=1"
        if other:
            found.append(Finding(
                "rp-filter-strict", "error",
                f"strict reverse path filtering on {link.name}, whose neighbours are routed through another interface",
                f"{source}; {'; '.join('route ' + r.text for r in other[:3])}",
                f"a packet from a host in {', '.join(str(r.dst) for r in other[:3])} that arrives on {link.name} fails "
                f"the check (the route back leaves through {other[0].dev or other[0].type}) and is dropped",
                breaks, fix))
        elif defaults and not any(r.dev == link.name for r in defaults):
            found.append(Finding(
                "rp-filter-strict", "warning",
                f"strict reverse path filtering on {link.name}, which holds no default route",
                f"{source}; default route {defaults[0].text}",
                f"a connection from a host outside {', '.join(str(c) for c in sorted(connected))} that arrives on "
                f"{link.name} fails the check (the route back is the default route) and is dropped",
                breaks, fix))
    return found


def check_br_netfilter(host: Host, out: Out | None) -> list[Finding]:
    if host.br_netfilter:
        return []
    key = "net.bridge.bridge-nf-call-iptables"
    if out is not None and key not in out.sysctls:
        return []
    origin = out.sysctls[key][1] if out is not None else ""
    fix = ("modprobe br_netfilter", "# load it at boot: echo br_netfilter > /etc/modules-load.d/br_netfilter.conf")
    if out is None:
        return [Finding("br-netfilter-missing", "warning", "the br_netfilter module is not loaded",
                        "/proc/sys/net/bridge is missing",
                        "a spec with `iptables true` (the default) sets net.bridge.bridge-nf-call-iptables, "
                        "which exists only with br_netfilter: apply would fail at that step", (), fix)]
    return [Finding("br-netfilter-missing", "error", "the br_netfilter module is not loaded, and OUT needs it",
                    "/proc/sys/net/bridge is missing",
                    "apply fails at the step that sets net.bridge.bridge-nf-call-iptables (and rolls back); "
                    "without br_netfilter the firewall never sees traffic between containers of one bridge "
                    "(icc false, links, a container reaching another's publish)",
                    (f"apply, at sysctl {key} ({origin})",), fix)]


def check_accept_ra(host: Host, out: Out | None) -> list[Finding]:
    if out is None:
        return []
    fwd = next(((v, o) for k, (v, o) in out.sysctls.items()
                if k in ("net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding") and v == "1"), None)
    if fwd is None:
        return []
    found = []
    mine = {b.name for b in out.bridges}
    for link in host.links:
        if link.name == "lo" or link.name in mine:
            continue
        ra = host.sysctl(f"net.ipv6.conf.{link.name}.accept_ra", "1")
        forwarding = host.sysctl(f"net.ipv6.conf.{link.name}.forwarding", "0")
        learned = [r for r in host.routes if r.dev == link.name and r.protocol == "ra"]
        slaac = [a for a in link.dynamic if a.version == 6]
        if ra != "1" or forwarding != "0" or not (learned or slaac):
            continue
        key = f"net.ipv6.conf.{_sysctl_name(link.name)}.accept_ra"
        what = ", ".join([f"route {r.text}" for r in learned[:2]] + [f"address {a}" for a in slaac[:2]])
        found.append(Finding(
            "accept-ra-lost", "error",
            f"{link.name} takes its IPv6 configuration from router advertisements, which forwarding turns off",
            f"{link.name}: {key}=1; {what}",
            "with forwarding on, the kernel ignores router advertisements where accept_ra is 1: the default route "
            "and addresses they gave expire, and the host (and the containers' IPv6 egress) lose IPv6",
            (f"IPv6 connectivity through {link.name} ({fwd[1]})",),
            (f"sysctl -w {key}=2",
             f"# keep it across reboots: echo '{key} = 2' > /etc/sysctl.d/90-accept-ra-{link.name}.conf")))
    return found


def check_services(host: Host, out: Out | None) -> list[Finding]:
    found = []
    bridges = [b.name for b in out.bridges] if out else ["docker0"]
    if host.services.get("firewalld") == "active":
        backend = host.firewalld_backend or "nftables"
        reload = ("with its iptables backend a reload (firewall-cmd --reload) flushes the built-in chains and so "
                  "removes netc's jumps" if backend == "iptables" else
                  "its nftables backend rejects forwarded traffic that no zone or policy allows (see forward-drop "
                  "for table inet firewalld)")
        found.append(Finding(
            "firewalld-active", "warning", "firewalld is active and decides what this host forwards",
            f"firewalld.service (FirewallBackend={backend})",
            f"firewalld filters by zone, and the bridges are in none; {reload}", (),
            tuple(f"firewall-cmd --permanent --zone=trusted --add-interface={b}" for b in bridges)
            + ("firewall-cmd --reload", "# after any firewalld reload: netc apply OUT")))
    loaded = any(t.tool == "ufw" for t in host.tables)
    policy = host.ufw.get("DEFAULT_FORWARD_POLICY", "DROP").upper()
    if host.ufw.get("ENABLED", "").lower() == "yes" and policy in ("DROP", "REJECT") and not loaded:
        found.append(Finding(
            "ufw-forward-drop", "warning", f"ufw is enabled with forward policy {policy}",
            "/etc/ufw/ufw.conf ENABLED=yes; /etc/default/ufw DEFAULT_FORWARD_POLICY=" + policy,
            "when ufw starts (at boot, or `ufw reload`) it sets the FORWARD policy to drop; its rules are not loaded "
            "in this network namespace now, so doctor cannot tell which forwarded flows they will stop", (),
            tuple(c for b in bridges for c in (f"ufw route allow in on {b}", f"ufw route allow out on {b}"))
            + ('# or set DEFAULT_FORWARD_POLICY="ACCEPT" in /etc/default/ufw, then: ufw reload',)))
    return found


