"""A sandbox "host": compiled output applied for real, never to the machine itself.

Used by the end-to-end tests, `make demo` and `netc verify`.

    host     a throwaway network namespace standing for the machine netc manages
    outside  another one, joined to host by a veth pair on 198.51.100.0/24
             (host 198.51.100.1 on ext0, outside 198.51.100.2) and on
             2001:db8:ff::/64 (host 2001:db8:ff::1, outside 2001:db8:ff::2)

apply.sh runs in the host namespace (nsenter --net, so the container
namespaces it creates are visible to everyone) with its own state folder.
Container namespaces carry a unique prefix. Everything is deleted in
`close()`, which the fixture calls in a `finally`, also after a failure.
Traffic only ever flows between these namespaces.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

NETNS_DIR = "/var/run/netns"
PROBE = Path(__file__).resolve().parent / "probe.py"
HOST_IP, OUTSIDE_IP = "198.51.100.1", "198.51.100.2"
HOST_IP6, OUTSIDE_IP6 = "2001:db8:ff::1", "2001:db8:ff::2"


def unique(prefix: str = "nt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def sh(*args: str, check: bool = True, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def in_ns(ns: str, *args: str, check: bool = True, input: str | None = None, timeout: float = 60):
    """Run a command inside namespace `ns` (the network namespace only)."""
    return sh("nsenter", f"--net={NETNS_DIR}/{ns}", "--", *args, check=check, input=input, timeout=timeout)


def leftover(prefix: str) -> list[str]:
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.startswith(prefix)]


def _in_order(ruleset: str) -> str:
    """`nft list ruleset` with its tables, and the chains, sets and maps in each, sorted by name.

    nft lists them in the order they were made, which is not state: iptables-restore
    of a snapshot (a rollback) makes a table's chains again in iptables-save's order.
    In the tables compared here no two base chains share a hook, so the order in
    which they were made changes nothing the kernel does."""
    tables: list[tuple[str, list[str]]] = []
    block: list[str] | None = None
    for line in ruleset.splitlines():
        if line.startswith("table "):
            tables.append((line, []))
        elif line.startswith("\t") and not line.startswith("\t\t") and line.rstrip().endswith("{") and tables:
            block = [line]
            tables[-1][1].append(block)  # type: ignore[arg-type]
        elif block is not None and line.startswith("\t"):
            block.append(line)
            if line == "\t}":
                block = None
        elif line == "}" or not line.strip():
            continue
        elif tables:
            tables[-1][1].append([line])  # type: ignore[arg-type]
    out = []
    for head, blocks in sorted(tables):
        out.append(head)
        out += ["\n".join(b) for b in sorted(blocks)]  # type: ignore[arg-type]
        out.append("}")
    return "\n".join(out) + ("\n" if out else "")


class Sandbox:
    def __init__(self, state_parent: str | None = None) -> None:
        """state_parent: where the folder for apply's record goes (default: the system's temp folder)."""
        self.tag = unique("ne")            # ne1a2b3c4d
        self.host = f"{self.tag}-host"
        self.outside = f"{self.tag}-out"
        self.prefix = f"{self.tag}-"
        self.state = Path(tempfile.mkdtemp(prefix="netc-state-", dir=state_parent))
        self.servers: list[subprocess.Popen] = []
        self.made: list[str] = []
        for ns in (self.host, self.outside):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # No duplicate address detection: its "tentative" flag is timing noise in snapshots.
            for key in ("all", "default"):
                in_ns(ns, "sh", "-c", f"echo 0 > /proc/sys/net/ipv6/conf/{key}/accept_dad")
        sh("ip", "-n", self.host, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", self.outside)
        sh("ip", "-n", self.host, "addr", "add", f"{HOST_IP}/24", "dev", "ext0")
        sh("ip", "-n", self.host, "addr", "add", f"{HOST_IP6}/64", "dev", "ext0", "nodad")
        sh("ip", "-n", self.host, "link", "set", "ext0", "up")
        sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE_IP6}/64", "dev", "eth0", "nodad")
        sh("ip", "-n", self.outside, "link", "set", "eth0", "up")
        # The host and the outside know each other's IPv6 link address from the start, as two
        # routers on a long-lived link do: neighbour discovery on this scaffolding link (its
        # first solicitation can be lost on a loaded machine, beyond a probe's 1 s) is not what
        # a test proves. Discovery between containers and their bridge stays real.
        macs = {ns: json.loads(sh("ip", "-j", "-n", ns, "link", "show", "dev", dev).stdout)[0]["address"]
                for ns, dev in ((self.host, "ext0"), (self.outside, "eth0"))}
        sh("ip", "-n", self.host, "-6", "neigh", "replace", OUTSIDE_IP6, "lladdr", macs[self.outside],
           "dev", "ext0", "nud", "permanent")
        sh("ip", "-n", self.outside, "-6", "neigh", "replace", HOST_IP6, "lladdr", macs[self.host],
           "dev", "eth0", "nud", "permanent", "router")
        # Make the tables a real host has, so before/after snapshots compare like for like.
        for tool in ("iptables", "ip6tables"):
            in_ns(self.host, tool, "-w", "-t", "filter", "-L", "-n")
            in_ns(self.host, tool, "-w", "-t", "nat", "-L", "-n")

    # ------------------------------------------------------------ apply
    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "NETC_STATE_DIR": str(self.state), **extra}

    def run_script(self, out: Path, script: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net={NETNS_DIR}/{self.host}", "--", "sh", str(out / script)],
                              capture_output=True, text=True, env=self.env(**extra), timeout=300)

    def apply(self, out: Path, **extra: str) -> subprocess.CompletedProcess:
        return self.run_script(out, "apply.sh", **extra)

    def teardown(self, out: Path) -> subprocess.CompletedProcess:
        return self.run_script(out, "teardown.sh")

    # ------------------------------------------------------------ traffic
    def serve(self, ns: str, name: str, *specs: str) -> None:
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(PROBE), "serve", name, *specs],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.servers.append(p)
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"probe server in {ns} did not start: {line}{p.stderr.read()}")

    def ask(self, ns: str, *targets: str) -> dict[str, str]:
        """targets like 'tcp:172.17.0.2:80' -> answer text or 'no answer'."""
        cmd = [sys.executable, str(PROBE), "ask", *targets]
        r = sh("nsenter", f"--net={NETNS_DIR}/{ns}", "--", *cmd) if ns == self.host else \
            sh("ip", "netns", "exec", ns, *cmd)
        out = {}
        for line in r.stdout.splitlines():
            target, _, answer = line.partition(" ")
            out[target] = answer
        return out

    def outside_sources(self, *addresses: str) -> None:
        """Give the outside peer more addresses to send from (allow-list probes): each on its
        eth0, and routed to it by the host."""
        for a in addresses:
            six = ":" in a
            in_ns(self.outside, "ip", "addr", "replace", f"{a}/{128 if six else 32}", "dev", "eth0",
                  *(["nodad"] if six else []))
            sh("ip", "-n", self.host, "route", "replace", f"{a}/{128 if six else 32}", "via",
               OUTSIDE_IP6 if six else OUTSIDE_IP)

    def stop_servers(self) -> None:
        for p in self.servers:
            p.kill()  # only the processes this sandbox started, by their handle
            p.wait()
        self.servers.clear()

    # ------------------------------------------------------------ state
    def snapshot(self) -> str:
        """Everything apply may change, as text: equal text, equal state."""
        parts = []
        for tool in ("iptables-save", "ip6tables-save"):
            ipt = in_ns(self.host, tool).stdout
            parts.append("\n".join(l for l in ipt.splitlines() if not l.startswith("#")))
        ruleset = in_ns(self.host, "nft", "list", "ruleset", check=False).stdout if shutil.which("nft") else ""
        parts.append(_in_order(re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset)))
        parts.append(self.links())
        # "linkdown" follows the carrier of the route's device, not configuration.
        for family in ("-4", "-6"):
            parts.append(sh("ip", family, "-n", self.host, "route", "show").stdout.replace(" linkdown", ""))
        names = sorted(leftover(self.prefix))
        parts.append("\n".join(names))
        inside = [n for n in names if n not in (self.host, self.outside)]
        parts.append(self.inside(inside))
        keys = ["net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
                "net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"]
        links = json.loads(sh("ip", "-j", "-n", self.host, "link", "show").stdout)
        keys += sorted(f"net/ipv4/conf/{l['ifname']}/route_localnet" for l in links)
        keys += sorted(f"net/ipv6/conf/{l['ifname']}/{k}" for l in links for k in ("forwarding", "accept_ra"))
        # `read`, a shell builtin: no process per key (600 of them at 200 containers); a key the
        # kernel lacks (bridge-nf-call-* without br_netfilter) reads as empty, as `$(cat)` did.
        values = in_ns(self.host, "sh", "-c", 'for k; do v=; read -r v 2>/dev/null < /proc/sys/$k; '
                       'printf "%s=%s\\n" "$k" "$v"; done', "-", *keys).stdout
        parts.append(values)
        etc = Path("/etc/netns")
        for d in sorted(etc.glob(self.prefix + "*")) if etc.exists() else []:
            for f in sorted(d.rglob("*")):
                parts.append(f"{f}: {f.read_text() if f.is_file() else 'dir'}")
            parts.append(str(d))
        # netc's own bookkeeping: empty leftovers (an emptied `prev` file) do not count.
        kept = [p for p in sorted(self.state.rglob("*")) if p.is_file() and p.stat().st_size] if self.state.exists() else []
        parts.append("state: " + " ".join(str(p.relative_to(self.state)) for p in kept))
        return "\n----\n".join(parts)

    def inside(self, names: list[str]) -> str:
        """Inside each namespace of NAMES: its links, addresses and routes (IPv4 and IPv6), as configuration.

        As links() leaves out what the kernel derives, and the random MACs of the
        p2p pairs netc makes (eth0 and lo keep theirs). One `ip -j -batch` per
        namespace, from shell loops in four lanes (a Python process per
        namespace cost more than the listing)."""
        import threading
        lanes = [names[i::4] for i in range(4)]
        outs = [""] * 4
        loop = ('for ns; do echo "@ $ns"; printf "link show\\naddr show\\nroute show table all\\n" | '
                f'nsenter --net={NETNS_DIR}/"$ns" ip -j -d -batch - 2>/dev/null; done')

        def run(i: int) -> None:
            if lanes[i]:
                outs[i] = sh("sh", "-c", loop, "-", *lanes[i], check=False, timeout=300).stdout

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        listed: dict[str, list] = {}
        for text in outs:
            ns = None
            for line in text.splitlines():
                if line.startswith("@ "):
                    ns = line[2:]
                    listed[ns] = []
                elif line.startswith("[") and ns is not None:
                    listed[ns].append(json.loads(line))
        out = []
        for ns in names:
            lists = listed.get(ns, [])
            if len(lists) != 3:
                out.append(f"{ns}: cannot list")
                continue
            links, addrs, routes = lists
            out.append(f"{ns}:")
            inet = {a["ifname"]: sorted(f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                        if i.get("scope") != "link") for a in addrs}
            for link in sorted(links, key=lambda l: l["ifname"]):
                name = link["ifname"]
                flags = sorted(set(link.get("flags", [])) - {"LOWER_UP", "NO-CARRIER", "M-DOWN"})
                kind = link.get("linkinfo", {}).get("info_kind", "")
                mac = link.get("address") if name in ("eth0", "lo") else "-"
                out.append(f"  {name} kind={kind} flags={','.join(flags)} mtu={link.get('mtu')} mac={mac} "
                           f"addr={','.join(inet.get(name, []))}")
            routes = [r for r in routes if "table" not in r]   # the main table's, of both families
            for r in sorted(routes, key=lambda r: (r.get("dst", ""), r.get("dev", ""))):
                out.append(f"  route {r.get('dst')} via={r.get('gateway', '-')} dev={r.get('dev')} "
                           f"scope={r.get('scope', '-')} proto={r.get('protocol', '-')}")
        return "\n".join(out)

    def links(self) -> str:
        """The host namespace's links and addresses as configuration, one line each.

        Left out on purpose, because the kernel derives them: carrier and
        operational state, timers, GSO/TSO limits, random MACs of veths netc
        re-creates, link-local addresses.
        """
        out = []
        links = json.loads(sh("ip", "-j", "-n", self.host, "-d", "link", "show").stdout)
        # How each link got its MAC (3: set by whoever made it; a bridge otherwise takes its ports').
        how = dict(line.split("=", 1) for line in sh(
            "ip", "netns", "exec", self.host, "sh", "-c",
            'for f in /sys/class/net/*/addr_assign_type; do d=${f%/*}; v=; read -r v 2>/dev/null < $f; '
            'echo "${d##*/}=$v"; done').stdout.split())
        addrs = {a["ifname"]: a for a in json.loads(sh("ip", "-j", "-n", self.host, "addr", "show").stdout)}
        for link in sorted(links, key=lambda l: l["ifname"]):
            info = link.get("linkinfo", {})
            kind = info.get("info_kind", "")
            flags = sorted(set(link.get("flags", [])) - {"LOWER_UP", "NO-CARRIER", "M-DOWN"})
            # A bridge netc makes has a MAC of its own: configuration, kept.
            mac = link.get("address") if not link["ifname"].startswith("ve-") and \
                (kind != "bridge" or how.get(link["ifname"]) == "3") else "-"
            hairpin = info.get("info_slave_data", {}).get("hairpin")
            inet = sorted(f"{a['local']}/{a['prefixlen']}" for a in addrs.get(link["ifname"], {}).get("addr_info", [])
                          if a.get("scope") != "link")
            out.append(f"{link['ifname']} kind={kind} flags={','.join(flags)} mtu={link.get('mtu')} "
                       f"master={link.get('master', '-')} mac={mac} hairpin={hairpin} addr={','.join(inet)}")
        return "\n".join(out)

    def close(self) -> None:
        self.stop_servers()
        for ns in leftover(self.prefix):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            for base in ("/var/run/netns/", "/run/netns/"):
                try:
                    os.unlink(base + ns)  # a symlink a failed test left
                except OSError:
                    pass
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for d in Path("/etc/netns").glob(self.prefix + "*") if Path("/etc/netns").exists() else []:
            shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink()
        shutil.rmtree(self.state, ignore_errors=True)
