"""netc doctor in a real kernel: each condition it reports is built in a sandbox host
namespace; doctor must name it, the traffic its finding predicts to break must be
broken after apply (real probes), and after the fix doctor prints, run as printed,
doctor must be clean and the traffic must flow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netns import NETNS_DIR, in_ns, sh
from netc.prove.sandbox import HOST_IP, OUTSIDE_IP
from util import compile_for, container

NETC = str(Path(sys.executable).parent / "netc")

SPEC = """
container db { expose 5432 }
container web {
    publish 8080:80
    link db
}
"""


def netc_in(box, *args: str) -> subprocess.CompletedProcess:
    """Run netc inside the sandbox's host namespace, with the sandbox's apply state."""
    return subprocess.run(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", NETC, *args], capture_output=True,
                          text=True, timeout=120, env=box.env(NETC_DEBUG=""))


def doctor(box, out: Path | None = None) -> tuple[int, list[dict]]:
    r = netc_in(box, "doctor", "--json", *([str(out)] if out else []))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    findings = json.loads(r.stdout)["findings"]
    assert (r.returncode == 1) == bool(findings)
    return r.returncode, findings


def named(findings: list[dict], id: str, where: str = "") -> dict:
    hits = [f for f in findings if f["id"] == id and where in f["where"]]
    assert hits, f"no {id} at {where!r} in {json.dumps(findings, indent=1)}"
    return hits[0]


def run_fix(box, finding: dict) -> None:
    """The fix as doctor prints it: its commands up to the first alternative ('# or ...')."""
    ran = 0
    for line in finding["fix"]:
        if line.startswith("# or"):
            break
        if not line.startswith("#"):
            in_ns(box.host, "sh", "-c", line)
            ran += 1
    assert ran, finding


def traffic(box, net: dict) -> dict[str, bool]:
    """The spec's flows, probed: a publish from outside, container to container, egress."""
    db, web = container(net, "db"), container(net, "web")
    if not getattr(box, "doctor_probes", False):   # once, after apply made web's namespace
        box.serve(web["netns"], "web", "tcp:80")
        box.serve(box.outside, "outside", "tcp:7777")
        box.doctor_probes = True
    asks = [(box.outside, f"tcp:{HOST_IP}:8080"), (db["netns"], f"tcp:{web['address']}:80"),
            (web["netns"], f"tcp:{OUTSIDE_IP}:7777")]
    with ThreadPoolExecutor(3) as pool:   # at once: a flow that is dead costs the probe's timeout
        publish, icc, egress = pool.map(lambda a: box.ask(*a)[a[1]], asks)
    return {"publish": publish == f"web {OUTSIDE_IP}", "icc": icc == f"web {db['address']}",
            "egress": egress.startswith("outside ")}   # (masqueraded to the address of the way out)


FLOWING = {"publish": True, "icc": True, "egress": True}


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_a_clean_sandbox_has_no_findings_before_and_after_apply(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, SPEC, backend)
    assert doctor(sandbox, out) == (0, [])
    assert doctor(sandbox) == (0, [])
    r = netc_in(sandbox, "apply", str(out), "--strict")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    assert doctor(sandbox, out) == (0, [])   # netc's own rules, bridge and routes are no finding
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_legacy_forward_drop_and_apply_strict(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC)
    in_ns(sandbox.host, "iptables-legacy", "-P", "FORWARD", "DROP")
    rc, found = doctor(sandbox, out)
    f = named(found, "forward-drop", "iptables-legacy table filter, chain FORWARD")
    assert f["severity"] == "error" and f["lines"][:2] == ["spec.netc:5", "spec.netc:4"]

    before = sandbox.snapshot()
    r = netc_in(sandbox, "apply", str(out), "--strict")
    assert r.returncode == 2 and "[forward-drop, error]" in r.stderr and "nothing was changed" in r.stderr, r.stderr
    assert sandbox.snapshot() == before
    r = netc_in(sandbox, "apply", str(out))
    assert r.returncode == 0, r.stderr
    assert "netc: warning: iptables-legacy table filter drops forwarded packets" in r.stderr

    # What the finding predicts: every forwarded flow is dead (the publish, icc, egress).
    assert traffic(sandbox, net) == {"publish": False, "icc": False, "egress": False}
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_legacy_dnat_on_a_published_port(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC)
    in_ns(sandbox.host, "iptables-legacy", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080",
          "-j", "REDIRECT", "--to-ports", "9999")
    sandbox.serve(sandbox.host, "proxy", "tcp:9999")
    _, found = doctor(sandbox, out)
    f = named(found, "publish-dnat-conflict", "iptables-legacy table nat, chain PREROUTING")
    assert f["lines"] == ["spec.netc:4"] and "port 9999 of this host" in f["what"]
    assert sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")[f"tcp:{HOST_IP}:8080"] == f"proxy {OUTSIDE_IP}"
    assert sandbox.apply(out).returncode == 0
    # Both tables translate at priority -100, the one whose hook came first wins: here
    # netc's (the sandbox made iptables-nft's nat table first), so the proxy gets nothing.
    assert traffic(sandbox, net)["publish"]
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    # The other way round: an nft table that translates before netc's (priority -150)
    # takes the publish's connections.
    in_ns(sandbox.host, "nft", "add table ip proxy; add chain ip proxy pre "
                               "{ type nat hook prerouting priority -150; }; "
                               "add rule ip proxy pre tcp dport 8080 redirect to :9999")
    _, found = doctor(sandbox, out)
    f = named(found, "publish-dnat-conflict", "nft table ip proxy, chain pre")
    assert "runs before netc's" in f["why"]
    assert not traffic(sandbox, net)["publish"]
    assert sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")[f"tcp:{HOST_IP}:8080"] == f"proxy {OUTSIDE_IP}"
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net)["publish"]
    assert sandbox.teardown(out).returncode == 0


def test_foreign_nft_forward_drop(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC, "nftables")
    in_ns(sandbox.host, "nft", "add table inet other; add chain inet other guard "
                               "{ type filter hook forward priority 10; policy drop; }")
    _, found = doctor(sandbox, out)
    f = named(found, "forward-drop", "nft table inet other, chain guard")
    assert f["severity"] == "error"
    assert sandbox.apply(out).returncode == 0
    assert traffic(sandbox, net) == {"publish": False, "icc": False, "egress": False}
    run_fix(sandbox, f)   # accept the bridge's traffic first in that chain; its policy stays drop
    assert "policy drop" in in_ns(sandbox.host, "nft", "list", "chain", "inet", "other", "guard").stdout
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_a_bridge_family_table_that_drops_frames(sandbox, tmp_path):
    # As `ebtables-nft -P FORWARD DROP` (and its INPUT and OUTPUT) would leave it.
    out, net = compile_for(sandbox, tmp_path, SPEC)
    in_ns(sandbox.host, "nft", "add table bridge eb; "
                               "add chain bridge eb f { type filter hook forward priority -200; policy drop; }; "
                               "add chain bridge eb i { type filter hook input priority -200; policy drop; }; "
                               "add chain bridge eb o { type filter hook output priority -200; policy drop; }")
    _, found = doctor(sandbox, out)
    chains = {f["where"].split(", chain ")[1].split(" ")[0]: f for f in found if f["id"] == "forward-drop"}
    assert set(chains) == {"f", "i", "o"} and all(f["severity"] == "error" for f in chains.values())
    assert all(b.startswith(("container to container", "link")) for b in chains["f"]["breaks"])
    assert sandbox.apply(out).returncode == 0
    assert traffic(sandbox, net) == {"publish": False, "icc": False, "egress": False}
    for f in found:
        run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_foreign_bridge_on_the_spec_subnet(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, "daemon { bip 172.18.0.1/16 }\n" + SPEC)
    other = "br-0a1b2c3d4e5f"   # as another engine names its bridges
    sh("ip", "-n", sandbox.host, "link", "add", other, "type", "bridge")
    sh("ip", "-n", sandbox.host, "addr", "add", "172.18.0.254/16", "dev", other)
    sh("ip", "-n", sandbox.host, "link", "set", other, "up")
    _, found = doctor(sandbox, out)
    f = named(found, "subnet-overlap", f"dev {other}")
    assert f["severity"] == "error" and "Docker" in f["what"]
    assert sandbox.apply(out).returncode == 0
    assert traffic(sandbox, net) == {"publish": False, "icc": True, "egress": False}
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_an_address_of_the_spec_in_use_on_the_host(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC)
    web = container(net, "web")["address"]
    sh("ip", "-n", sandbox.host, "addr", "add", f"{web}/32", "dev", "lo")
    sandbox.serve(sandbox.host, "host", "tcp:80")
    _, found = doctor(sandbox, out)
    f = named(found, "address-in-use", "lo:")
    assert "spec.netc:4" in f["lines"]
    assert sandbox.apply(out).returncode == 0
    # The publish ends on the host's own port 80, not in the container.
    assert sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")[f"tcp:{HOST_IP}:8080"] == f"host {OUTSIDE_IP}"
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net)["publish"]
    assert sandbox.teardown(out).returncode == 0


def test_strict_rp_filter_with_an_asymmetric_route(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC)
    # A second link to outside, and the host routes outside's address through it:
    # outside's packets arrive on ext0, the way back leaves through ext1.
    sh("ip", "-n", sandbox.host, "link", "add", "ext1", "type", "veth", "peer", "name", "eth1",
       "netns", sandbox.outside)
    sh("ip", "-n", sandbox.host, "addr", "add", "203.0.113.1/24", "dev", "ext1")
    sh("ip", "-n", sandbox.outside, "addr", "add", "203.0.113.2/24", "dev", "eth1")
    sh("ip", "-n", sandbox.host, "link", "set", "ext1", "up")
    sh("ip", "-n", sandbox.outside, "link", "set", "eth1", "up")
    sh("ip", "-n", sandbox.host, "route", "add", f"{OUTSIDE_IP}/32", "via", "203.0.113.2", "dev", "ext1")
    for key in ("all", "eth0", "eth1"):
        in_ns(sandbox.outside, "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
    in_ns(sandbox.host, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
    _, found = doctor(sandbox, out)
    f = named(found, "rp-filter-strict", "route 198.51.100.2/32 via 203.0.113.2 dev ext1")
    assert f["severity"] == "error" and "ext0" in f["what"] and "spec.netc:4" in f["lines"]
    assert sandbox.apply(out).returncode == 0
    assert not traffic(sandbox, net)["publish"]
    run_fix(sandbox, f)
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_a_listener_on_a_published_port(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, SPEC, "nftables")
    sandbox.serve(sandbox.host, "squatter", "tcp:8080")
    squatter = sandbox.servers.pop()
    try:
        assert sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")[f"tcp:{HOST_IP}:8080"] == f"squatter {OUTSIDE_IP}"
        _, found = doctor(sandbox, out)
        f = named(found, "publish-port-in-use", "tcp 0.0.0.0:8080")
        assert f"pid {squatter.pid}" in f["where"] and f["lines"] == ["spec.netc:4"]
        assert sandbox.apply(out).returncode == 0
        # What the finding predicts: the publish takes the port's connections, the listener gets none.
        assert traffic(sandbox, net)["publish"]
    finally:
        squatter.kill()   # the fix: stop the listener (a process this test started)
        squatter.wait()
    assert doctor(sandbox, out) == (0, [])
    assert traffic(sandbox, net) == FLOWING
    assert sandbox.teardown(out).returncode == 0


def test_doctor_errors_are_clear(tmp_path):
    from conftest import netc
    r = netc("doctor", str(tmp_path / "missing"))
    assert r.returncode == 2 and "is not a folder" in r.stderr and "Traceback" not in r.stderr
    r = netc("doctor", str(tmp_path))
    assert r.returncode == 2 and "not an output tree of netc compile" in r.stderr
    (tmp_path / "netc.json").write_text("{oops")
    r = netc("doctor", str(tmp_path))
    assert r.returncode == 2 and "cannot be read" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ router advertisements
# IPv6 forwarding (a spec with IPv6) makes the kernel ignore router advertisements where
# accept_ra is 1. Real advertisements, sent from the outside namespace: before apply the host
# takes a default route from them; apply names the interface; with forwarding on the kernel
# ignores them; with the fix (accept_ra=2) it takes them again.

SPEC6 = "daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\ncontainer web { publish 8080:80 }\n"
ADVERTISE = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
# type 134, code 0, checksum (the kernel's), hop limit 64, no flags, router lifetime 1800 s
s.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, socket.if_nametoindex("eth0")))
"""


def _advertise(box) -> str:
    """Send one router advertisement to the host; the host's default IPv6 route on ext0 after it."""
    sh("ip", "netns", "exec", box.outside, sys.executable, "-c", ADVERTISE)
    for _ in range(20):
        routes = sh("ip", "-6", "-n", box.host, "route", "show", "default").stdout
        if "proto ra" in routes:
            return routes
        time.sleep(0.05)
    return sh("ip", "-6", "-n", box.host, "route", "show", "default").stdout


def test_router_advertisements_lost_to_forwarding_are_named(sandbox, tmp_path):
    out, _ = compile_for(sandbox, tmp_path, SPEC6)
    assert "proto ra" in _advertise(sandbox)            # the host takes its IPv6 default route from them
    rc, found = doctor(sandbox, out)
    f = named(found, "accept-ra-lost", "ext0")
    assert "net.ipv6.conf.ext0.accept_ra=2" in " ".join(f["fix"])

    # sh apply.sh says so itself (the engine's check, before it turns forwarding on) ...
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    assert "warning: ext0 takes its IPv6 route or addresses from router advertisements (accept_ra=1)" in r.stderr
    assert "net.ipv6.conf.ext0.accept_ra=2" in r.stderr
    # ... and forwarding on, the kernel drops the route it had from them at once (it purges the
    # default routes learned from advertisements where accept_ra is not 2) and ignores them from now on.
    assert in_ns(sandbox.host, "cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
    assert "proto ra" not in sh("ip", "-6", "-n", sandbox.host, "route", "show", "default").stdout
    assert "proto ra" not in _advertise(sandbox)
    assert sandbox.teardown(out).returncode == 0
    assert in_ns(sandbox.host, "cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "0"

    # netc apply: doctor's finding, once (apply.sh leaves its own out).
    assert "proto ra" in _advertise(sandbox)
    r = netc_in(sandbox, "apply", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("ext0") >= 1 and "[accept-ra-lost" in r.stderr and "(accept_ra=1), which" not in r.stderr
    # The fix as doctor prints it: advertisements count again, with forwarding on.
    run_fix(sandbox, f)
    assert "proto ra" not in sh("ip", "-6", "-n", sandbox.host, "route", "show", "default").stdout
    assert "proto ra" in _advertise(sandbox)
    assert doctor(sandbox, out) == (0, [])
    assert sandbox.teardown(out).returncode == 0
