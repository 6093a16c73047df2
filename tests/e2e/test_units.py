"""The systemd units' commands restore the network after another tool reloads the
firewall (issue 14, part 4), in a real kernel, both backends: a reload simulated in
the sandbox (`nft flush ruleset`; an unrelated ruleset loaded with iptables-restore,
which flushes the tables it names), then exactly what netc-reapply@.service runs
(its ExecStartPre and ExecStart lines, with /%I the tree), restores the kernel state
and the traffic."""

from __future__ import annotations

import subprocess

import pytest

from netns import in_ns
from netc.prove.sandbox import HOST_IP
from util import compile_for, container

BACKENDS = ["iptables", "nftables"]
SPEC = "container web { publish 8080:80 }\ncontainer db { expose 5432 }\ncontainer app { link db }\n"
UNRELATED = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" \
            "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n" \
            ":INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"


def state(box, snapshot: str | None = None) -> list[str]:
    """What netc owns of the sandbox's snapshot: its iptables chains and the jumps into them
    (without packet counters: traffic flows in between), its nft tables, and everything
    else apply makes (links, routes, namespaces, sysctls, files). The reloading tool's own
    tables are not netc's: an empty base chain iptables-nft makes again is no difference."""
    import re
    parts = (snapshot if snapshot is not None else box.snapshot()).split("\n----\n")
    ipt = ["\n".join(l for l in p.splitlines() if "NETC" in l) for p in parts[:2]]
    nft = re.findall(r"^table (?:inet|bridge) netc \{\n.*?^\}$", parts[2], re.S | re.M)
    return [re.sub(r"\[\d+:\d+\]", "[0:0]", p) for p in ipt] + nft + parts[3:]


def unit_commands(out, unit: str) -> list[tuple[bool, list[str]]]:
    """The unit's ExecStartPre and ExecStart lines: (failure ignored, argv), /%I as OUT."""
    import shlex
    cmds = []
    for line in (out / "systemd" / unit).read_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStartPre", "ExecStart"):
            tolerant = value.startswith("-")
            cmds.append((tolerant, [w.replace("/%I", str(out)) for w in shlex.split(value.lstrip("-"))]))
    return cmds


@pytest.mark.parametrize("reload", ["nft flush ruleset", "iptables-restore"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_what_the_reapply_unit_runs_restores_the_network(sandbox, tmp_path, backend, reload):
    out, net = compile_for(sandbox, tmp_path, SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    applied = sandbox.snapshot()
    state_applied = state(sandbox, applied)
    sandbox.serve(container(net, "web")["netns"], "web", "tcp:80")
    sandbox.serve(container(net, "db")["netns"], "db", "tcp:5432")
    db = container(net, "db")["address"]

    def traffic():
        a = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")
        b = sandbox.ask(container(net, "app")["netns"], f"tcp:{db}:5432")
        return [v.split()[0] if v != "no answer" else "-" for v in (*a.values(), *b.values())]

    assert traffic() == ["web", "db"]
    if reload == "nft flush ruleset":
        in_ns(sandbox.host, "nft", "flush", "ruleset")
    else:
        in_ns(sandbox.host, "iptables-restore", input=UNRELATED)
    # nftables' own table is no table iptables-restore names: it loses nothing then.
    lost = not (backend == "nftables" and reload == "iptables-restore")
    assert sandbox.snapshot() != applied
    if lost:
        assert traffic()[0] == "-"          # the publish is gone with the rules
    outputs = []
    for tolerant, argv in unit_commands(out, "netc-reapply@.service"):
        r = subprocess.run(["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--", *argv],
                           capture_output=True, text=True, env=sandbox.env(), timeout=300)
        assert tolerant or r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    if lost:   # the plan says what it repairs, apply repairs it
        assert "repair" in outputs[0] and "firewall" in outputs[0], outputs[0]
        assert "1 repaired" in outputs[1], outputs[1]
    else:
        assert "0 repaired" in outputs[1] or "nothing" in outputs[1], outputs[1]
    if reload == "iptables-restore":
        in_ns(sandbox.host, "iptables", "-w", "-D", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
    assert state(sandbox) == state_applied
    plan = subprocess.run(["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--", "sh", str(out / "apply.sh"),
                           "--plan"], capture_output=True, text=True, env=sandbox.env())
    assert plan.returncode == 0, plan.stdout + plan.stderr     # nothing left to repair
    assert traffic() == ["web", "db"]
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="signal"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_firewalld_unit_repairs_after_firewall_cmd_reload(sandbox, tmp_path, backend):
    """`firewall-cmd --reload` never passes through systemd: netc-firewalld@.service's command
    (`apply.sh --watch-firewalld`) listens for firewalld's D-Bus signal Reloaded. A D-Bus daemon
    of the test's own runs in the sandbox (a bus socket of its own, as the system bus); the
    firewall is flushed as a reload does, `dbus-send` sends the signal as firewalld does, and
    the watch repairs netc's firewall: the state is again the applied one, traffic flows."""
    import os
    import shutil
    import signal
    import time
    for tool in ("dbus-daemon", "dbus-monitor", "dbus-send"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool} (Debian's dbus-daemon and dbus-bin)")
    out, net = compile_for(sandbox, tmp_path, SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    state_applied = state(sandbox)
    (_, argv), = unit_commands(out, "netc-firewalld@.service")
    assert argv[-1] == "--watch-firewalld"
    socket = tmp_path / "bus"
    (tmp_path / "bus.conf").write_text(BUS_CONFIG.format(socket=socket))
    enter = ["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--"]
    env = sandbox.env(DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={socket}")
    daemon = subprocess.Popen([*enter, "dbus-daemon", "--nofork", "--nopidfile", f"--config-file={tmp_path / 'bus.conf'}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    watch = None
    try:
        for _ in range(100):
            if socket.exists():
                break
            time.sleep(0.05)
        watch = subprocess.Popen([*enter, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env, start_new_session=True)
        assert "watching for firewalld's reloads" in watch.stderr.readline()
        time.sleep(0.5)       # dbus-monitor has become a monitor
        sandbox.serve(container(net, "web")["netns"], "web", "tcp:80")
        in_ns(sandbox.host, "nft", "flush", "ruleset")      # what a reload does to rules not its own
        assert state(sandbox) != state_applied
        subprocess.run([*enter, "dbus-send", "--system", "--type=signal", "/org/fedoraproject/FirewallD1",
                        "org.fedoraproject.FirewallD1.Reloaded"], check=True, env=env, timeout=30)
        said = []
        for line in watch.stderr:                            # the watch says so, then apply's own lines
            said.append(line)
            if line.startswith("netc: applied"):
                break
        assert any("firewalld reloaded" in l for l in said) and "1 repaired" in said[-1], said
        assert state(sandbox) == state_applied
        a = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080")
        assert [v.split()[0] for v in a.values()] == ["web"]
    finally:
        for p in (watch, daemon):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)            # the groups this test started
                p.wait(timeout=30)
        sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0
