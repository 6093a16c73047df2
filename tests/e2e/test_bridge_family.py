"""No global side effects (issue 14, part 3 of its list): with the nftables backend, traffic
between containers of one bridge is filtered in netc's `bridge` family table, so apply
changes no net.bridge.* key and loads no module: a host where bridge-nf-call-iptables is 0
keeps 0 and every icc, link and publish expectation still holds, in IPv4 and IPv6. A host
where another tool turned br_netfilter on (1: the default of a namespace on this kernel,
whose br_netfilter is built in) gets the very same answers: a connection a publish
translated to a container of its own bridge goes on as a bridged frame there, which the
bridge table lets through by the mark `inet netc` gave it. explain says what the kernel does,
receiver and the source it sees, in both host states."""

from __future__ import annotations

import pytest

from netns import in_ns
from netc.pipeline import load
from netc.prove.explain import explain
from netc.prove.world import HOSTS
from netc.resolve.lock import Lock
from netc.values import Family
from util import compile_for, container, plan

SPEC = """
daemon { icc false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
bridge open { bip 10.20.0.1/24; ipv6 false; icc true }
container db { expose 5432, 53/udp }
container web { link db:database; expose 80; publish 8080:80; publish 8053:53/udp }
container other { expose 80 }
container x { net open; expose 80; publish 8081:80 }
container y { net open; expose 80; publish 8082:80 }
"""
KEYS = ("net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables")


def sysctls(box) -> list[str]:
    return [in_ns(box.host, "cat", f"/proc/sys/{k}").stdout.strip() for k in KEYS]


@pytest.mark.parametrize("bridge_nf_call", ["0", "1"])
def test_icc_links_and_publishes_hold_whatever_br_netfilter_does(sandbox, tmp_path, bridge_nf_call):
    for k in KEYS:
        in_ns(sandbox.host, "sh", "-c", f"echo {bridge_nf_call} > /proc/sys/{k}")
    out, net = compile_for(sandbox, tmp_path, SPEC, "nftables")
    assert "bridge-nf-call" not in (out / "objects").read_text()
    assert "br_netfilter" not in (out / "objects").read_text()
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    assert "br_netfilter" not in r.stdout + r.stderr
    assert sysctls(sandbox) == [bridge_nf_call] * 2
    c = {n: container(net, n) for n in ("db", "web", "other", "x", "y")}
    sandbox.serve(c["db"]["netns"], "db", "tcp:5432", "udp:53", "tcp:80")
    sandbox.serve(c["web"]["netns"], "web", "tcp:80", "udp:53")
    sandbox.serve(c["other"]["netns"], "other", "tcp:80")
    sandbox.serve(c["x"]["netns"], "x", "tcp:80")
    sandbox.serve(c["y"]["netns"], "y", "tcp:80")
    network = load(str(tmp_path / "spec.netc"), netns_prefix=sandbox.prefix, lock=Lock()).network
    host = str(HOSTS[Family.V4])
    # (from, to, port, proto): a link (tcp and udp), icc false elsewhere, icc true on `open`;
    # publishes reached from a container of the same bridge (another's, its own: hairpin), of
    # the other bridge, over icc false and icc true.
    direct = [("web", "db", "5432", "tcp"), ("web", "db", "53", "udp"), ("web", "db", "80", "tcp"),
              ("db", "web", "80", "tcp"), ("other", "db", "5432", "tcp"), ("x", "y", "80", "tcp")]
    published = [("other", "8080", "tcp"), ("db", "8053", "udp"), ("web", "8080", "tcp"), ("x", "8080", "tcp"),
                 ("x", "8082", "tcp"), ("y", "8082", "tcp"), ("web", "8081", "tcp")]
    asks = [(src, f"[{c[dst][k]}]" if ":" in c[dst][k] else c[dst][k], port, proto)
            for src, dst, port, proto in direct for k in ("address", "address6") if c[dst].get(k)]
    asks += [(src, host, port, proto) for src, port, proto in published]
    seen, answers = {}, {}
    for src in {a[0] for a in asks}:   # each sender's probes at once: their waits for no answer overlap
        answers[src] = sandbox.ask(c[src]["netns"], *(f"{proto}:{dial}:{port}" for s, dial, port, proto in asks
                                                      if s == src))
    for src, dial, port, proto in asks:
        target = f"{proto}:{dial}:{port}"
        answer = answers[src][target]
        predicted = explain(network, src, f"{dial}:{port}/{proto}", "nftables")
        want = f"{predicted.delivered_to} {predicted.source_seen}" if predicted.verdict == "accept" else "no answer"
        got = answer.replace("::ffff:", "")
        assert got == want, (src, dial, port, proto, answer, [(s.where, s.text) for s in predicted.steps])
        seen[(src, dial, port)] = got.split()[0]
    db4, db6, web6 = c["db"]["address"], f"[{c['db']['address6']}]", f"[{c['web']['address6']}]"
    assert seen[("web", db4, "5432")] == "db" and seen[("web", db6, "5432")] == "db"
    assert seen[("web", db4, "53")] == "db"
    assert seen[("web", db4, "80")] == "no" and seen[("db", web6, "80")] == "no"
    assert seen[("other", db4, "5432")] == "no"
    assert seen[("x", c["y"]["address"], "80")] == "y"
    # Every publish answers from every container, the same bridge's included, over icc false.
    assert all(seen[(src, host, port)] != "no" for src, port, _ in published)
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0
    assert sysctls(sandbox) == [bridge_nf_call] * 2
    assert "bridge" not in in_ns(sandbox.host, "nft", "list", "tables").stdout


def test_the_bridge_table_is_repaired_and_goes_with_icc(sandbox, tmp_path):
    """Deleted behind netc's back, the bridge table is drift: plan names it and apply puts it back.
    A re-apply of the spec with icc true removes it, one with icc false again brings it back;
    teardown removes it. No net.bridge.* key moves in any of it."""
    def tables():
        return in_ns(sandbox.host, "nft", "list", "tables").stdout.split("\n")

    before = sysctls(sandbox)
    closed = "daemon { icc false }\ncontainer a { expose 80 }\ncontainer b { link a; publish 8080:80 }\n"
    out, _ = compile_for(sandbox, tmp_path / "closed", closed, "nftables")
    assert sandbox.apply(out).returncode == 0
    assert "table bridge netc" in tables()
    applied = sandbox.snapshot()
    in_ns(sandbox.host, "nft", "delete", "table", "bridge", "netc")
    p = plan(sandbox, out)
    assert p.returncode == 1 and "repair  firewall nftables" in p.stdout, p.stdout + p.stderr
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    assert sandbox.snapshot() == applied and plan(sandbox, out).returncode == 0
    opened, _ = compile_for(sandbox, tmp_path / "open", closed.replace("icc false", "icc true"), "nftables")
    assert sandbox.apply(opened).returncode == 0
    assert "table bridge netc" not in tables() and "table inet netc" in tables()
    assert "mark-translated" not in in_ns(sandbox.host, "nft", "list", "table", "inet", "netc").stdout
    assert sandbox.apply(out).returncode == 0
    assert sandbox.snapshot() == applied
    assert sandbox.teardown(out).returncode == 0
    assert not any(t.startswith("table") for t in tables())
    assert sysctls(sandbox) == before


@pytest.mark.parametrize("first,then", [("iptables", "nftables"), ("nftables", "iptables")])
def test_switching_backends_moves_the_host_and_its_bridge_nf_call(sandbox, tmp_path, first, then):
    """An operator moves a host from one backend to the other by applying the other tree: the
    iptables backend's bridge-nf-call setting is put back when the nftables tree takes over (and
    set again the other way), each backend's rules go, traffic answers as explain says, and
    teardown leaves the host as it was."""
    for k in KEYS:
        in_ns(sandbox.host, "sh", "-c", f"echo 0 > /proc/sys/{k}")
    before = sandbox.snapshot()
    spec = "daemon { icc false }\ncontainer a { expose 80 }\ncontainer b { link a; publish 8080:80 }\n"
    trees = {b: compile_for(sandbox, tmp_path / b, spec, b) for b in (first, then)}
    r = sandbox.apply(trees[first][0])
    assert r.returncode == 0, r.stderr
    assert sysctls(sandbox)[0] == ("1" if first == "iptables" else "0")
    r = sandbox.apply(trees[then][0])
    assert r.returncode == 0, r.stderr
    assert sysctls(sandbox)[0] == ("1" if then == "iptables" else "0")
    nft = in_ns(sandbox.host, "nft", "list", "tables").stdout
    rules = in_ns(sandbox.host, "iptables-save").stdout
    assert ("NETC-FORWARD" in rules) == (then == "iptables") and ("netc" in nft) == (then == "nftables")
    net = trees[then][1]
    a, b = (container(net, n) for n in ("a", "b"))
    sandbox.serve(a["netns"], "a", "tcp:80")
    network = load(str(tmp_path / then / "spec.netc"), netns_prefix=sandbox.prefix, lock=Lock()).network
    for src, target in (("b", f"tcp:{a['address']}:80"), ("a", f"tcp:{a['address']}:80")):
        want = explain(network, src, f"{target.split(':', 1)[1]}/tcp", then)
        got = sandbox.ask(container(net, src)["netns"], target)[target]
        assert got == (f"{want.delivered_to} {want.source_seen}" if want.verdict == "accept" else "no answer")
    assert sandbox.ask(b["netns"], f"tcp:{a['address']}:80")[f"tcp:{a['address']}:80"].startswith("a ")
    sandbox.stop_servers()
    assert sandbox.teardown(trees[then][0]).returncode == 0
    assert sandbox.snapshot() == before


def test_the_iptables_backend_loads_br_netfilter_where_the_key_is_missing(sandbox, tmp_path):
    """A host without br_netfilter (no /proc/sys/net/bridge: the module is not loaded, common on a
    fresh Debian): plan names the change to the whole host, apply loads the module with modprobe
    and says so, sets bridge-nf-call-iptables, and teardown sets it to 0, what the host did
    without the module. The module is global to the machine (here built in), so the test hides
    /proc/sys/net/bridge under an empty tmpfs in a mount namespace of apply's own, and a modprobe
    first on PATH unhides it, as loading the module makes the key appear."""
    import os
    import subprocess
    from netc.prove.sandbox import NETNS_DIR
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "modprobe").write_text('#!/bin/sh\necho "$@" >> "$MODPROBE_LOG"\n'
                                   '[ "$1" = br_netfilter ] && umount /proc/sys/net/bridge\n')
    (fake / "modprobe").chmod(0o755)
    log = tmp_path / "modprobe.log"
    env = sandbox.env(PATH=f"{fake}:{os.environ['PATH']}", MODPROBE_LOG=str(log))

    def without_the_module(*cmd):
        # The mounts keep their propagation (apply refuses a private copy of /run/netns, as `ip netns
        # exec` makes, and its namespaces must reach the host) but /proc, made private first, so that
        # the tmpfs over /proc/sys/net/bridge stays in this mount namespace.
        # (in the sandbox's network namespace first: /proc/sys/net shows the reader's namespace)
        return subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sandbox.host}", "--",
                               "unshare", "-m", "--propagation", "unchanged", "sh", "-c",
                               'mount --make-rprivate /proc && '
                               'mount -t tmpfs -o ro netc-no-br-netfilter /proc/sys/net/bridge && exec "$@"',
                               "sh", *cmd],
                              capture_output=True, text=True, env=env, timeout=300)

    in_ns(sandbox.host, "sh", "-c", "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables")  # the module's default
    out, _ = compile_for(sandbox, tmp_path, "daemon { icc false }\ncontainer a {}\n", "iptables")
    p = without_the_module("sh", str(out / "apply.sh"), "--plan")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "sysctl net/bridge/bridge-nf-call-iptables" in p.stdout and "host-wide" in p.stdout, p.stdout
    assert not log.exists()                        # plan changes nothing: no module loaded
    r = without_the_module("sh", str(out / "apply.sh"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert log.exists(), r.stdout + r.stderr
    assert log.read_text() == "br_netfilter\n"
    assert "loaded the kernel module br_netfilter" in r.stdout + r.stderr
    assert sysctls(sandbox)[0] == "1"
    assert sandbox.teardown(out).returncode == 0
    assert sysctls(sandbox)[0] == "0"               # what the host did without the module
