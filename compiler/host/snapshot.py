"""What `netc doctor` reads from the live host, as one typed value (`Host`).

Reading only: nothing here changes the machine. `read()` runs, in the
network namespace it is called in, `iptables -V`, `iptables-legacy-save` and
`ip6tables-legacy-save` (only when the kernel lists legacy tables, so that no
module is loaded), `iptables-nft-save` and `ip6tables-nft-save`, `nft -j list
ruleset` and `nft -a list ruleset`, `ip -j -d addr`, `ip -j route` (IPv4 and
IPv6, main table), `ss -Hlntup`, `systemctl is-active firewalld ufw`, and
reads sysctls under /proc/sys, /etc/ufw/ufw.conf, /etc/default/ufw and
/etc/firewalld/firewalld.conf. A tool that is missing or fails leaves its
part empty and says so in `Host.skipped`; the checks (doctor.py) are pure
functions over `Host`, so the tests build one by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from netaddr import AddrFormatError, IPAddress, IPNetwork

from .iptables_save import parse_iptables_save
from .nft_ruleset import nft_rule_texts, parse_nft_json
from .ruleset import Table


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    kind: str                          # bridge veth dummy ... ("" for a plain device)
    master: str | None                 # the bridge this link is a port of
    up: bool
    addresses: tuple[IPNetwork, ...]   # address/prefix, scope global or host
    dynamic: tuple[IPNetwork, ...] = ()  # of which made from router advertisements (SLAAC)


@dataclass(frozen=True, slots=True)
class Route:
    dst: IPNetwork                     # 0.0.0.0/0 for default
    dev: str | None
    type: str = "unicast"              # unicast blackhole unreachable prohibit
    gateway: str | None = None
    protocol: str = ""                 # kernel boot static dhcp ra ...

    @property
    def text(self) -> str:
        words = [self.type] if self.type != "unicast" else []
        words.append("default" if self.dst.prefixlen == 0 else str(self.dst))
        if self.gateway:
            words += ["via", self.gateway]
        if self.dev:
            words += ["dev", self.dev]
        if self.protocol and self.protocol != "boot":
            words += ["proto", self.protocol]
        return " ".join(words)


@dataclass(frozen=True, slots=True)
class Listener:
    proto: str                         # tcp udp
    address: str                       # 0.0.0.0, ::, *, or an address
    port: int
    process: str = ""                  # "name (pid N)"


@dataclass(frozen=True)
class Host:
    tables: tuple[Table, ...] = ()     # every firewall table, with its owner
    iptables: str | None = None        # the flavour of the `iptables` command: nft or legacy
    links: tuple[Link, ...] = ()
    routes: tuple[Route, ...] = ()
    listeners: tuple[Listener, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)  # net.ipv4.conf.eth0.rp_filter -> "1"
    br_netfilter: bool = True
    services: dict[str, str] = field(default_factory=dict)  # firewalld/ufw -> active, inactive, unknown
    ufw: dict[str, str] = field(default_factory=dict)       # ENABLED, DEFAULT_FORWARD_POLICY
    firewalld_backend: str | None = None
    skipped: tuple[str, ...] = ()      # what could not be read, and why

    def link(self, name: str) -> Link | None:
        return next((l for l in self.links if l.name == name), None)

    def sysctl(self, key: str, default: str = "") -> str:
        return self.sysctls.get(key, default)


# ------------------------------------------------------------------ reading

def _run(argv: list[str], skipped: list[str], timeout: float = 20) -> str | None:
    if shutil.which(argv[0]) is None:
        skipped.append(f"{argv[0]}: not installed")
        return None
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        skipped.append(f"{' '.join(argv)}: {exc}")
        return None
    if r.returncode != 0:
        first = (r.stderr.strip().splitlines() or ["exit status %d" % r.returncode])[0]
        skipped.append(f"{' '.join(argv)}: {first}")
        return None
    return r.stdout


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def iptables_flavour(version: str | None) -> str | None:
    if not version:
        return None
    return "nft" if "nf_tables" in version else "legacy"


def _tables(skipped: list[str]) -> tuple[tuple[Table, ...], str | None]:
    tables: list[Table] = []
    flavour = iptables_flavour(_run(["iptables", "-V"], []))
    for six, family in (("", "ip"), ("6", "ip6")):
        # Legacy tables exist once something made them; asking iptables-legacy-save
        # before that would load the module. The kernel lists them in /proc.
        names = _read(f"/proc/net/ip{six}_tables_names")
        if names and names.strip():
            text = _run([f"ip{six}tables-legacy-save"], skipped)
            if text:
                tables += parse_iptables_save(text, "iptables-legacy", family, f"ip{six}tables-legacy")
        if shutil.which(f"ip{six}tables-nft-save"):
            text = _run([f"ip{six}tables-nft-save"], skipped)
            if text:
                tool = f"ip{six}tables" if flavour == "nft" else f"ip{six}tables-nft"
                tables += parse_iptables_save(text, "iptables-nft", family, tool)
    read = {(t.family, t.name) for t in tables if t.owner == "iptables-nft"}
    raw = _run(["nft", "-j", "list", "ruleset"], skipped)
    if raw:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            skipped.append(f"nft -j list ruleset: {exc}")
        else:
            texts = nft_rule_texts(_run(["nft", "-a", "list", "ruleset"], []) or "")
            tables += parse_nft_json(data, read, texts)
    return tuple(tables), flavour


def _links(skipped: list[str]) -> tuple[Link, ...]:
    raw = _run(["ip", "-j", "-d", "addr", "show"], skipped)
    out = []
    for item in json.loads(raw) if raw else []:
        addrs, dynamic = [], []
        for a in item.get("addr_info", []):
            if a.get("scope") == "link" or "local" not in a:
                continue
            try:
                net = IPNetwork(f"{a['local']}/{a.get('prefixlen', 32 if a.get('family') == 'inet' else 128)}")
            except (AddrFormatError, ValueError, TypeError):
                continue
            addrs.append(net)
            if a.get("dynamic") or a.get("mngtmpaddr"):
                dynamic.append(net)
        info = item.get("linkinfo", {})
        out.append(Link(item["ifname"], info.get("info_kind", ""), item.get("master"),
                        "UP" in item.get("flags", []), tuple(addrs), tuple(dynamic)))
    return tuple(out)


def _routes(skipped: list[str]) -> tuple[Route, ...]:
    out = []
    for family in ("-4", "-6"):
        raw = _run(["ip", "-j", family, "route", "show", "table", "main"], skipped)
        for r in json.loads(raw) if raw else []:
            dst = r.get("dst", "")
            try:
                net = IPNetwork("0.0.0.0/0" if family == "-4" else "::/0") if dst == "default" else IPNetwork(dst)
            except (AddrFormatError, ValueError, TypeError):
                continue
            out.append(Route(net, r.get("dev"), r.get("type", "unicast"), r.get("gateway"), r.get("protocol", "")))
    return tuple(out)


def parse_ss(text: str) -> tuple[Listener, ...]:
    """`ss -Hlntup` -> listeners: NETID STATE RECV-Q SEND-Q LOCAL PEER [PROCESS]."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 6 or words[0] not in ("tcp", "udp"):
            continue
        host, _, port = words[4].rpartition(":")
        if not port.isdigit():
            continue
        host = host.strip("[]").split("%")[0]
        m = re.search(r'"([^"]*)",pid=(\d+)', " ".join(words[6:]))
        out.append(Listener(words[0], host or "*", int(port), f"{m.group(1)} (pid {m.group(2)})" if m else ""))
    return tuple(out)


def _sysctls(names: set[str]) -> dict[str, str]:
    """Per-interface keys of `names` (the links with an address or a route: the host ends
    of 10,000 veths need none) and of all and default."""
    out: dict[str, str] = {}
    for family, keys in (("ipv4", ("rp_filter", "forwarding")), ("ipv6", ("accept_ra", "forwarding"))):
        base = f"/proc/sys/net/{family}/conf"
        for name in sorted(names | {"all", "default"}):
            for key in keys:
                v = _read(f"{base}/{name}/{key}")
                if v is not None:
                    out[f"net.{family}.conf.{name}.{key}"] = v.strip()
    for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"):
        v = _read(f"/proc/sys/{key}")
        if v is not None:
            out[key.replace("/", ".")] = v.strip()
    return out


def parse_shell_vars(text: str | None) -> dict[str, str]:
    """KEY=value lines of ufw.conf, /etc/default/ufw, firewalld.conf (quotes removed)."""
    out = {}
    for line in (text or "").splitlines():
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith("#"):
            out[m.group(1)] = m.group(2).strip("\"'")
    return out


def _processes() -> set[str]:
    names = set()
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return names
    for pid in pids:
        comm = _read(f"/proc/{pid}/comm")
        if comm:
            names.add(comm.strip())
    return names


def _services(skipped: list[str]) -> dict[str, str]:
    """firewalld and ufw: active or inactive (systemd's word where systemd runs the machine)."""
    units = ("firewalld", "ufw")
    if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        try:
            r = subprocess.run(["systemctl", "is-active", *units], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            states = r.stdout.split()
            if len(states) == len(units):
                return dict(zip(units, states))
            skipped.append("systemctl is-active: " + ((r.stderr.strip().splitlines() or ["no answer"])[0]))
        except (OSError, subprocess.TimeoutExpired) as exc:
            skipped.append(f"systemctl is-active: {exc}")
    # No systemd (a container, another init): firewalld is a daemon, ufw only rules and a config.
    running = _processes()
    return {"firewalld": "active" if "firewalld" in running else "inactive", "ufw": "unknown"}


def read() -> Host:
    """This host, as the network namespace this process runs in sees it."""
    skipped: list[str] = []
    tables, flavour = _tables(skipped)
    ufw = parse_shell_vars(_read("/etc/ufw/ufw.conf"))
    ufw.update({k: v for k, v in parse_shell_vars(_read("/etc/default/ufw")).items() if k == "DEFAULT_FORWARD_POLICY"})
    firewalld = parse_shell_vars(_read("/etc/firewalld/firewalld.conf"))
    ss = _run(["ss", "-Hlntup"], skipped)
    links, routes = _links(skipped), _routes(skipped)
    names = {l.name for l in links if l.addresses} | {r.dev for r in routes if r.dev}
    return Host(
        tables=tables, iptables=flavour, links=links, routes=routes,
        listeners=parse_ss(ss or ""), sysctls=_sysctls(names),
        br_netfilter=os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables")
        or os.path.isdir("/sys/module/br_netfilter"),
        services=_services(skipped), ufw=ufw, firewalld_backend=firewalld.get("FirewallBackend"),
        skipped=tuple(skipped))


def local_addresses(host: Host, version: int = 4) -> tuple[IPAddress, ...]:
    return tuple(a.ip for l in host.links for a in l.addresses if a.version == version)
