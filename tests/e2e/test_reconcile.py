"""apply reconciles with the live kernel; plan says what it would do and changes nothing.

Each drift case breaks an applied host the way an operator or a crash would;
then `netc plan` exits 1 naming what differs, apply repairs it, plan exits 0,
the host is exactly as a fresh apply leaves it, and real traffic flows as the
spec says. plan is read-only (the full snapshot before and after), and the
commands it lists are exactly the ones apply then runs (apply's trace).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from netc.prove.sandbox import HOST_IP, NETNS_DIR, OUTSIDE_IP, in_ns, sh
from util import compile_for, container, plan

BACKENDS = ["iptables", "nftables"]

SPEC = """
container db { expose 5432 }
container web { link db:database; publish 8080:80 }
container sealed { net none }
p2p sealed db {
    sealed 10.1.1.1/32
    db 10.1.1.2/32
}
"""


def traffic_holds(box, net: dict) -> None:
    """The spec's traffic: a publish from outside, a link between containers, the p2p pair."""
    db, web, sealed = (container(net, n) for n in ("db", "web", "sealed"))
    box.serve(db["netns"], "db", "tcp:5432")
    box.serve(web["netns"], "web", "tcp:80")
    try:
        a = box.ask(box.outside, f"tcp:{HOST_IP}:8080")
        assert a[f"tcp:{HOST_IP}:8080"] == f"web {OUTSIDE_IP}", a
        a = box.ask(web["netns"], f"tcp:{db['address']}:5432")
        assert a[f"tcp:{db['address']}:5432"] == f"db {web['address']}", a
        a = box.ask(sealed["netns"], "tcp:10.1.1.2:5432")
        assert a["tcp:10.1.1.2:5432"] == "db 10.1.1.1", a
        assert (Path("/etc/netns") / web["netns"] / "hosts").read_text() == \
            (Path(box.state) / "current/containers/web/hosts").read_text()
    finally:
        box.stop_servers()


def kill_teardown_half_way(box, out: Path) -> None:
    p = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", "sh", str(out / "teardown.sh")],
                         stderr=subprocess.PIPE, text=True, env=box.env(NETC_PROGRESS="1"), start_new_session=True)
    for line in p.stderr:
        if line.startswith("netc-progress ") and " veth " in line:
            os.killpg(p.pid, signal.SIGKILL)  # the group of the run this test started
            break
    p.wait()
    p.stderr.close()
    assert p.returncode == -signal.SIGKILL


@pytest.mark.parametrize("backend", BACKENDS)
def test_drift_is_planned_repaired_and_traffic_holds(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    applied = sandbox.snapshot()
    traffic_holds(sandbox, net)
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "sealed")}
    host = sandbox.host
    cases = [
        # (what breaks, how, words plan must say)
        ("a container's host veth deleted", lambda: sh("ip", "-n", host, "link", "del", "ve-web"),
         ["repair  veth ve-web", "host link ve-web is missing"]),
        ("docker0 deleted", lambda: sh("ip", "-n", host, "link", "del", "docker0"),
         ["repair  bridge docker0", "host link docker0 is missing", "built on bridge docker0"]),
        ("/etc/netns/NS deleted", lambda: shutil.rmtree(f"/etc/netns/{ns['web']}"),
         ["repair  files " + ns["web"], f"/etc/netns/{ns['web']}/hostname is missing"]),
        ("one end of a p2p pair's namespace deleted", lambda: sh("ip", "netns", "del", ns["db"]),
         ["repair  netns " + ns["db"], f"netns {ns['db']} is missing", "repair  p2p"]),
        ("a teardown killed half-way", lambda: kill_teardown_half_way(sandbox, out),
         ["a netc run died here", "repair  "]),
        ("ip_forward set to 0", lambda: in_ns(host, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"),
         ["repair  sysctl net/ipv4/ip_forward", "net/ipv4/ip_forward is 0, not 1"]),
        ("the container's address removed", lambda: sh("ip", "-n", ns["web"], "addr", "flush", "dev", "eth0"),
         ["repair  veth ve-web", "addr eth0 172.17.0.3/16 is missing"]),
        ("its default route deleted", lambda: sh("ip", "-n", ns["web"], "route", "del", "default"),
         ["route default via 172.17.42.1 dev eth0 is missing"]),
        ("lo set down", lambda: sh("ip", "-n", ns["sealed"], "link", "set", "lo", "down"),
         ["repair  lo " + ns["sealed"], "link lo has state=down, not state=up"]),
        ("hairpin off", lambda: sh("ip", "-n", host, "link", "set", "ve-web", "type", "bridge_slave", "hairpin", "off"),
         ["host link ve-web has hairpin=off, not hairpin=on"]),
        ("a hosts file edited", lambda: (Path("/etc/netns") / ns["web"] / "hosts").write_text("127.0.0.1 x\n"),
         [f"/etc/netns/{ns['web']}/hosts differs from containers/web/hosts"]),
        ("netc's rules flushed",
         (lambda: in_ns(host, "iptables", "-w", "-t", "nat", "-F", "NETC-DNAT")) if backend == "iptables" else
         (lambda: in_ns(host, "nft", "flush", "chain", "inet", "netc", "publish")),
         [f"repair  firewall {backend}", f"the {backend} rules of netc differ from what apply loaded"]),
    ]
    for what, act, words in cases:
        act()
        p = plan(sandbox, out)
        assert p.returncode == 1, f"{what}: plan exit {p.returncode}\n{p.stdout}{p.stderr}"
        for w in words:
            assert w in p.stdout + p.stderr, f"{what}: plan does not say {w!r}:\n{p.stdout}{p.stderr}"
        r = sandbox.apply(out)
        assert r.returncode == 0, f"{what}: {r.stderr}"
        p = plan(sandbox, out)
        assert p.returncode == 0 and "nothing to change" in p.stdout, f"{what}: {p.stdout}{p.stderr}"
        assert sandbox.snapshot() == applied, f"{what}: the repaired host differs from a fresh apply"
        traffic_holds(sandbox, net)
    assert sandbox.teardown(out).returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_plan_changes_nothing_and_lists_what_apply_runs(sandbox, tmp_path, backend):
    """On a fresh host, and for a change of spec (containers added, removed and changed, a
    publish moved): plan (text and --json) leaves the full snapshot as it was, and its commands
    are exactly the ones apply's trace records, object by object."""
    first, _ = compile_for(sandbox, tmp_path / "1", SPEC, backend)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "spec.lock").write_text((tmp_path / "1" / "spec.lock").read_text())
    changed = SPEC.replace("publish 8080:80", "publish 8090:80").replace("container sealed { net none }",
                                                                        "container sealed { net none }\n"
                                                                        "container extra { link web:w }")
    changed = changed.replace("container db { expose 5432 }", "container db { expose 5432, 6000 }\ncontainer c2 {}")
    second, _ = compile_for(sandbox, tmp_path / "2", changed, backend)
    for out in (first, second):
        before = sandbox.snapshot()
        text = plan(sandbox, out)
        assert text.returncode == 1, text.stderr
        j = plan(sandbox, out, "--json")
        assert j.returncode == 1, j.stderr
        assert sandbox.snapshot() == before, "plan changed the host"
        doc = json.loads(j.stdout)
        assert doc["exit"] == 1 and doc["summary"]["create"] + doc["summary"]["change"] + doc["summary"]["remove"] > 0
        for change in doc["changes"]:
            assert change["from"], change   # each object names its spec line
            assert f"{change['action']:<7} {change['kind']} {change['id']}" in text.stdout
        planned = Counter((c["phase"], ch["kind"], ch["id"], c["where"], c["command"])
                          for ch in doc["changes"] for c in ch["commands"])
        trace = tmp_path / f"trace-{out.parent.name}"
        r = sandbox.apply(out, NETC_TRACE=str(trace))
        assert r.returncode == 0, r.stderr
        ran = Counter(tuple(line.split(" ", 4)) for line in trace.read_text().splitlines())
        assert ran == planned, f"plan and apply differ:\nonly planned: {planned - ran}\nonly run: {ran - planned}"
        p = plan(sandbox, out, "--json")
        assert p.returncode == 0 and json.loads(p.stdout)["changes"] == []
    # The changed spec's plan names what the spec changed.
    assert sandbox.teardown(second).returncode == 0


def test_a_given_namespace_keeps_its_lo_state_and_is_never_deleted(sandbox, tmp_path):
    """`netns PATH` (listed, and a process's /proc/PID/ns/net that netc links): apply brings lo
    up and wires eth0; teardown puts lo back down before it unlists the namespace, and never
    deletes it."""
    listed = f"{sandbox.prefix}given"
    sh("ip", "netns", "add", listed)
    holder_ns = f"{sandbox.prefix}held"
    sh("ip", "netns", "add", holder_ns)
    proc = subprocess.Popen(["ip", "netns", "exec", holder_ns, "sleep", "600"])
    try:
        spec = (f"container a {{ netns /var/run/netns/{listed}; publish 8080:80 }}\n"
                f"container b {{ netns /proc/{proc.pid}/ns/net; net none }}\n")
        out, net = compile_for(sandbox, tmp_path, spec)
        linked = container(net, "b")["netns"]
        before = sandbox.snapshot()
        r = sandbox.apply(out)
        assert r.returncode == 0, r.stderr
        assert "UP" in sh("ip", "-n", listed, "-br", "link", "show", "dev", "lo").stdout
        assert "eth0" in sh("ip", "-n", listed, "-o", "link").stdout
        assert "UP" in sh("ip", "-n", linked, "-br", "link", "show", "dev", "lo").stdout
        assert plan(sandbox, out).returncode == 0
        r = sandbox.teardown(out)
        assert r.returncode == 0, r.stderr
        # A lo that was up once keeps the kernel's 127.0.0.1/8 when it is set down again.
        down_lo = re.compile(r"^(  lo kind= flags=LOOPBACK mtu=\d+ mac=\S+ addr=).*$", re.M)
        assert down_lo.sub(r"\1", sandbox.snapshot()) == before
        assert Path(NETNS_DIR, listed).exists() and not Path(NETNS_DIR, linked).exists()
        for ns in (listed, holder_ns):
            assert "DOWN" in sh("ip", "-n", ns, "-br", "link", "show", "dev", "lo").stdout, ns
        assert "eth0" not in sh("ip", "-n", listed, "-o", "link").stdout
    finally:
        proc.kill()   # the process this test started
        proc.wait()
        subprocess.run(["ip", "netns", "del", listed], capture_output=True)
        subprocess.run(["ip", "netns", "del", holder_ns], capture_output=True)


def test_ip_netns_exec_is_refused_before_anything_changes(sandbox, tmp_path):
    out, _ = compile_for(sandbox, tmp_path, "container a { publish 8080:80 }\n")
    before = sandbox.snapshot()
    for script in ("apply.sh", "teardown.sh"):
        r = subprocess.run(["ip", "netns", "exec", sandbox.host, "sh", str(out / script)],
                           capture_output=True, text=True, env=sandbox.env())
        assert r.returncode == 1, r.stderr
        assert "mount namespace of its own" in r.stderr and "nsenter --net=/var/run/netns/HOST" in r.stderr
        assert sandbox.snapshot() == before
    r = subprocess.run(["ip", "netns", "exec", sandbox.host, "sh", str(out / "apply.sh"), "--plan"],
                       capture_output=True, text=True, env=sandbox.env())
    assert r.returncode == 1 and "apply would refuse" in r.stderr
    assert sandbox.apply(out).returncode == 0


def test_a_record_netc_cannot_read_is_refused(sandbox, tmp_path):
    """The record is versioned: one written by netc's first format, or by a later one, stops
    apply and teardown before they change anything, and says what to do."""
    out, _ = compile_for(sandbox, tmp_path, "container a {}\n")
    current = sandbox.state / "current"
    current.mkdir(parents=True)
    (current / "objects").write_text("bridge docker0 172.17.42.1/16 1500 create 1\n")
    before = sandbox.snapshot()
    for script in ("apply.sh", "teardown.sh"):
        r = sandbox.run_script(out, script)
        assert r.returncode == 1 and "record format 1" in r.stderr and "current/teardown.sh" in r.stderr, r.stderr
        assert sandbox.snapshot() == before
    (current / "objects").write_text("# a later netc\nnetc-objects 9\n")
    r = sandbox.apply(out)
    assert r.returncode == 1 and "record format 9" in r.stderr, r.stderr
    shutil.rmtree(current)
    assert sandbox.apply(out).returncode == 0


def test_both_readers_of_the_namespaces_give_the_same_facts(sandbox, tmp_path):
    """The engine reads each namespace with `nsenter ... ip -br -batch`; netc hands it one
    process that enters them all (netc.host.observe). Both must say the same, on namespaces with
    veths, p2p pairs, a lo set down, an address and a route removed."""
    out, net = compile_for(sandbox, tmp_path, SPEC)
    assert sandbox.apply(out).returncode == 0
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "sealed")}
    sh("ip", "-n", ns["sealed"], "link", "set", "lo", "down")
    sh("ip", "-n", ns["web"], "route", "del", "default")
    sh("ip", "-n", ns["db"], "addr", "add", "192.0.2.9/24", "dev", "eth0")
    names = [n for n in sorted(Path(NETNS_DIR).iterdir()) if n.name.startswith(sandbox.prefix)]
    listing = tmp_path / "list"
    listing.write_text("".join(f"{n.name} {n}\n" for n in names) + "gone /var/run/netns/no-such-namespace\n")
    shell = subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sandbox.host}", "--", "sh", "-c",
                            f'set -f; . "{out}/netc-lib.sh"; W=$(mktemp -d); observe_ns "{listing}" "$W"; '
                            'rc=$?; rm -rf "$W"; exit $rc'], capture_output=True, text=True, check=True).stdout
    fast = subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sandbox.host}", "--", sys.executable, "-m",
                           "netc.host.observe"], stdin=listing.open(), capture_output=True, text=True,
                          check=True).stdout
    assert f"ns:{ns['db']} addr eth0 192.0.2.9/24" in fast and f"ns:{ns['sealed']} link lo state=down" in fast
    assert sorted(shell.splitlines()) == sorted(fast.splitlines())
    assert sandbox.teardown(out).returncode == 0


SPEC6 = """
daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
container db { expose 5432 }
container web { link db:database; publish 8080:80 }
"""


def traffic6_holds(box, net: dict) -> None:
    """The dual-stack spec's traffic in IPv6: the publish from outside, the link, egress."""
    from netc.prove.sandbox import HOST_IP6, OUTSIDE_IP6
    db, web = container(net, "db"), container(net, "web")
    box.serve(db["netns"], "db", "tcp:5432")
    box.serve(web["netns"], "web", "tcp:80")
    box.serve(box.outside, "outside", "tcp:7777")
    try:
        a = box.ask(box.outside, f"tcp:[{HOST_IP6}]:8080", f"tcp:{HOST_IP}:8080")
        assert a == {f"tcp:[{HOST_IP6}]:8080": f"web {OUTSIDE_IP6}", f"tcp:{HOST_IP}:8080": f"web {OUTSIDE_IP}"}, a
        a = box.ask(web["netns"], f"tcp:[{db['address6']}]:5432", f"tcp:[{OUTSIDE_IP6}]:7777")
        assert a == {f"tcp:[{db['address6']}]:5432": f"db {web['address6']}",
                     f"tcp:[{OUTSIDE_IP6}]:7777": f"outside {HOST_IP6}"}, a
    finally:
        box.stop_servers()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipv6_drift_is_planned_repaired_and_traffic_holds(sandbox, tmp_path, backend):
    """The IPv6 state an operator or another tool can break: plan names it (the forwarding
    sysctl as host-wide), apply repairs it, the host is as a fresh apply left it, IPv6 flows."""
    out, net = compile_for(sandbox, tmp_path, SPEC6, backend)
    p = plan(sandbox, out)
    assert "create  sysctl net/ipv6/conf/all/forwarding   (host-wide: " in p.stdout, p.stdout
    assert sandbox.apply(out).returncode == 0
    applied = sandbox.snapshot()
    traffic6_holds(sandbox, net)
    web = container(net, "web")
    web6, host = f"{web['address6']}/64", sandbox.host
    cases = [
        ("the container's IPv6 address removed",
         lambda: sh("ip", "-n", web["netns"], "-6", "addr", "del", web6, "dev", "eth0"),
         ["repair  veth ve-web", f"addr eth0 {web6} is missing"]),
        ("its IPv6 default route deleted", lambda: sh("ip", "-n", web["netns"], "-6", "route", "del", "default"),
         ["repair  veth ve-web", "route default via 2001:db8:1::1 dev eth0 is missing"]),
        ("the bridge's IPv6 address removed",
         lambda: sh("ip", "-n", host, "-6", "addr", "del", "2001:db8:1::1/64", "dev", "docker0"),
         ["repair  bridge docker0", "addr docker0 2001:db8:1::1/64 is missing"]),
        ("IPv6 forwarding set to 0",
         lambda: in_ns(host, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding"),
         ["repair  sysctl net/ipv6/conf/all/forwarding", "net/ipv6/conf/all/forwarding is 0, not 1"]),
        ("netc's IPv6 rules flushed",
         (lambda: in_ns(host, "ip6tables", "-w", "-t", "nat", "-F", "NETC-DNAT")) if backend == "iptables" else
         (lambda: in_ns(host, "nft", "flush", "map", "inet", "netc", "dnat-any6")),
         [f"repair  firewall {backend}", f"the {backend} rules of netc differ from what apply loaded"]),
    ]
    if backend == "iptables":
        cases.append(("an ip6tables jump deleted",
                      lambda: in_ns(host, "ip6tables", "-w", "-t", "filter", "-D", "FORWARD", "-m", "comment",
                                    "--comment", "netc", "-j", "NETC-FORWARD"),
                      ["repair  firewall iptables"]))
    for what, act, words in cases:
        act()
        p = plan(sandbox, out)
        assert p.returncode == 1, f"{what}: plan exit {p.returncode}\n{p.stdout}{p.stderr}"
        for w in words:
            assert w in p.stdout + p.stderr, f"{what}: plan does not say {w!r}:\n{p.stdout}{p.stderr}"
        r = sandbox.apply(out)
        assert r.returncode == 0, f"{what}: {r.stderr}"
        assert plan(sandbox, out).returncode == 0, what
        assert sandbox.snapshot() == applied, f"{what}: the repaired host differs from a fresh apply"
    traffic6_holds(sandbox, net)
    # Both readers of the namespaces give the same IPv6 facts (routes of both families).
    sh("ip", "-n", web["netns"], "-6", "route", "add", "2001:db8:9::/64", "via", "2001:db8:1::1")
    names = [n for n in sorted(Path(NETNS_DIR).iterdir()) if n.name.startswith(sandbox.prefix)]
    listing = tmp_path / "list"
    listing.write_text("".join(f"{n.name} {n}\n" for n in names))
    shell = subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sandbox.host}", "--", "sh", "-c",
                            f'set -f; . "{out}/netc-lib.sh"; W=$(mktemp -d); observe_ns "{listing}" "$W"; '
                            'rc=$?; rm -rf "$W"; exit $rc'], capture_output=True, text=True, check=True).stdout
    fast = subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sandbox.host}", "--", sys.executable, "-m",
                           "netc.host.observe"], stdin=listing.open(), capture_output=True, text=True,
                          check=True).stdout
    assert f"ns:{web['netns']} route 2001:db8:9::/64 via 2001:db8:1::1 dev eth0" in fast, fast
    assert f"ns:{web['netns']} route default via 2001:db8:1::1 dev eth0" in fast, fast
    assert sorted(shell.splitlines()) == sorted(fast.splitlines())
    assert sandbox.teardown(out).returncode == 0
