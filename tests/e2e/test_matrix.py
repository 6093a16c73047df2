"""The behaviour matrix (LANGUAGE.md "Reachability", REFERENCE.md), in a real kernel.

Each test compiles a spec, applies it in a sandbox host namespace, sends real
TCP and UDP traffic between the sandbox's namespaces, and tears down.
"""

from __future__ import annotations

import pytest

from netns import in_ns, sh
from netc.prove.sandbox import HOST_IP, OUTSIDE_IP
from util import compile_for, container, host_port

BACKENDS = ["iptables", "nftables"]

BASIC = """
container db { expose 5432, 53/udp }
container web {
    link db:database
    publish 8080:80
    publish 127.0.0.1:8443:443
    publish 127.0.0.1::9000
    publish 5353:53/udp
    publish 8000-8001:7000-7001
    expose 6000
    publish-all
}
container other {}
container side { net container:web }
container sealed { net none }
container tool { net host }
"""


def answered(result: str, by: str, source: str | None = None) -> bool:
    words = result.split()
    return len(words) == 2 and words[0] == by and (source is None or words[1] == source)


@pytest.mark.parametrize("backend", BACKENDS)
def test_icc_on_publishes_hairpin_egress_and_modes(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, BASIC, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    db, web, other = (container(net, n) for n in ("db", "web", "other"))
    dbip, webip, otherip = db["address"], web["address"], other["address"]
    gw = net["bridges"][0]["address"]
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "other", "sealed")}
    sandbox.serve(ns["db"], "db", "tcp:5432", "udp:53", "tcp:6001")
    sandbox.serve(ns["web"], "web", "tcp:80", "tcp:443", "tcp:9000", "udp:53", "tcp:7000", "tcp:7001", "tcp:6000")
    sandbox.serve(sandbox.outside, "outside", "tcp:7777", "udp:7777")
    p9000 = host_port(net, "web", 9000, host_ip="127.0.0.1")
    p6000 = host_port(net, "web", 6000)

    # icc true: every port between containers, exposed or not, tcp and udp.
    a = sandbox.ask(ns["other"], f"tcp:{dbip}:5432", f"tcp:{dbip}:6001", f"udp:{dbip}:53")
    assert answered(a[f"tcp:{dbip}:5432"], "db", otherip)
    assert answered(a[f"tcp:{dbip}:6001"], "db", otherip)
    assert answered(a[f"udp:{dbip}:53"], "db", otherip)

    # Publishes from outside: the client's own address reaches the container.
    a = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080", f"tcp:{HOST_IP}:8443", f"udp:{HOST_IP}:5353",
                    f"tcp:{HOST_IP}:8000", f"tcp:{HOST_IP}:8001", f"tcp:{HOST_IP}:{p6000}", f"tcp:{HOST_IP}:{p9000}")
    assert answered(a[f"tcp:{HOST_IP}:8080"], "web", OUTSIDE_IP)
    assert a[f"tcp:{HOST_IP}:8443"] == "no answer"          # 127.0.0.1 only
    assert a[f"tcp:{HOST_IP}:{p9000}"] == "no answer"       # 127.0.0.1 only (drawn port)
    assert answered(a[f"udp:{HOST_IP}:5353"], "web", OUTSIDE_IP)
    assert answered(a[f"tcp:{HOST_IP}:8000"], "web", OUTSIDE_IP)
    assert answered(a[f"tcp:{HOST_IP}:8001"], "web", OUTSIDE_IP)
    assert answered(a[f"tcp:{HOST_IP}:{p6000}"], "web", OUTSIDE_IP)  # publish-all

    # The host reaches 127.0.0.1 publishes (no userland proxy: route_localnet + masquerade).
    a = sandbox.ask(sandbox.host, f"tcp:127.0.0.1:8443", f"tcp:127.0.0.1:{p9000}", f"tcp:{HOST_IP}:8080",
                    "tcp:127.0.0.1:8080")
    assert answered(a["tcp:127.0.0.1:8443"], "web", gw)
    assert answered(a[f"tcp:127.0.0.1:{p9000}"], "web", gw)
    assert answered(a[f"tcp:{HOST_IP}:8080"], "web")
    assert answered(a["tcp:127.0.0.1:8080"], "web")

    # A container reaches another's publish, and its own (hairpin). The iptables backend keeps the
    # sender's address (Docker without its userland proxy); the nftables backend, which goes without
    # br_netfilter, masquerades a publish reached from its own bridge (docs/semantics.md).
    seen = otherip if backend == "iptables" else gw
    a = sandbox.ask(ns["other"], f"tcp:{HOST_IP}:8080", f"tcp:{gw}:8080", f"udp:{HOST_IP}:5353")
    assert answered(a[f"tcp:{HOST_IP}:8080"], "web", seen)
    assert answered(a[f"tcp:{gw}:8080"], "web", seen)
    assert answered(a[f"udp:{HOST_IP}:5353"], "web", seen)
    a = sandbox.ask(ns["web"], f"tcp:{HOST_IP}:8080", f"tcp:{gw}:8000")
    assert answered(a[f"tcp:{HOST_IP}:8080"], "web", gw)
    assert answered(a[f"tcp:{gw}:8000"], "web", gw)

    # Egress is masqueraded to the host's address.
    a = sandbox.ask(ns["db"], f"tcp:{OUTSIDE_IP}:7777", f"udp:{OUTSIDE_IP}:7777")
    assert answered(a[f"tcp:{OUTSIDE_IP}:7777"], "outside", HOST_IP)
    assert answered(a[f"udp:{OUTSIDE_IP}:7777"], "outside", HOST_IP)

    # A peer that routes the container subnet via the host reaches nothing directly,
    # not even a published container port.
    sh("ip", "-n", sandbox.outside, "route", "add", net["bridges"][0]["network"], "via", HOST_IP)
    a = sandbox.ask(sandbox.outside, f"tcp:{dbip}:5432", f"tcp:{webip}:80", f"udp:{webip}:53")
    assert a == {k: "no answer" for k in a}

    # net none: loopback only; net container: shares web's stack and files; net host: nothing made.
    links = sh("ip", "-n", ns["sealed"], "-o", "link").stdout
    assert "lo:" in links and len(links.splitlines()) == 1
    assert sandbox.ask(ns["sealed"], f"tcp:{OUTSIDE_IP}:7777")[f"tcp:{OUTSIDE_IP}:7777"] == "no answer"
    assert container(net, "side")["netns"] == ns["web"]
    assert (out / "containers/side/hosts").read_text() == (out / "containers/web/hosts").read_text()
    assert not (out / "containers/tool").exists()

    # Files are installed where `ip netns exec` binds them over /etc.
    hosts = sh("ip", "netns", "exec", ns["web"], "cat", "/etc/hosts").stdout
    assert f"{dbip}\tdatabase db" in hosts
    assert sh("ip", "netns", "exec", ns["web"], "cat", "/etc/hostname").stdout == "web\n"

    sandbox.stop_servers()
    r = sandbox.teardown(out)
    assert r.returncode == 0, r.stderr


ICC_OFF = """
daemon { icc false }
container db { expose 5432, 53/udp }
container web { link db:database }
container other {}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_icc_off_only_linked_exposed_ports_one_way(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, ICC_OFF, backend)
    assert sandbox.apply(out).returncode == 0
    dbip, webip = container(net, "db")["address"], container(net, "web")["address"]
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "other")}
    sandbox.serve(ns["db"], "db", "tcp:5432", "udp:53", "tcp:6001")
    sandbox.serve(ns["web"], "web", "tcp:5432", "tcp:80")
    a = sandbox.ask(ns["web"], f"tcp:{dbip}:5432", f"udp:{dbip}:53", f"tcp:{dbip}:6001")
    assert answered(a[f"tcp:{dbip}:5432"], "db", webip)
    assert answered(a[f"udp:{dbip}:53"], "db", webip)
    assert a[f"tcp:{dbip}:6001"] == "no answer"                      # not exposed
    a = sandbox.ask(ns["db"], f"tcp:{webip}:5432", f"tcp:{webip}:80")  # the other direction
    assert a == {k: "no answer" for k in a}
    a = sandbox.ask(ns["other"], f"tcp:{dbip}:5432", f"udp:{dbip}:53")  # not linked
    assert a == {k: "no answer" for k in a}
    # Teardown while processes still live in the namespaces (as a container's
    # would): the kernel keeps those namespaces, but netc's links must go.
    assert sandbox.teardown(out).returncode == 0
    assert " ve-" not in sh("ip", "-n", sandbox.host, "-o", "link").stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_ip_masq_false_keeps_the_container_address(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, "daemon { ip-masq false }\ncontainer c {}\n", backend)
    assert sandbox.apply(out).returncode == 0
    sh("ip", "-n", sandbox.outside, "route", "add", net["bridges"][0]["network"], "via", HOST_IP)
    sandbox.serve(sandbox.outside, "outside", "tcp:7777")
    c = container(net, "c")
    a = sandbox.ask(c["netns"], f"tcp:{OUTSIDE_IP}:7777")
    assert answered(a[f"tcp:{OUTSIDE_IP}:7777"], "outside", c["address"])
    assert sandbox.teardown(out).returncode == 0


def test_iptables_false_installs_no_rules(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, "daemon { iptables false }\ncontainer a { expose 80 }\ncontainer b {}\n")
    before = in_ns(sandbox.host, "iptables-save").stdout
    assert sandbox.apply(out).returncode == 0
    after = in_ns(sandbox.host, "iptables-save").stdout
    assert "NETC" not in after and [l for l in before.splitlines() if not l.startswith("#")] == \
        [l for l in after.splitlines() if not l.startswith("#")]
    a, b = container(net, "a"), container(net, "b")
    sandbox.serve(a["netns"], "a", "tcp:80")
    assert answered(sandbox.ask(b["netns"], f"tcp:{a['address']}:80")[f"tcp:{a['address']}:80"], "a", b["address"])
    assert sandbox.teardown(out).returncode == 0


TWO_BRIDGES = """
daemon { ip 198.51.100.1 }
bridge extbr { bip 192.168.5.1/24; external }
container a { publish 8080:80 }
container b { net extbr; publish 8081:80 }
container n1 { net none }
container n2 { net none }
p2p n1 n2 {
    n1 10.1.1.1/32
    n2 10.1.1.2/32
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolation_external_bridge_p2p_and_daemon_ip(sandbox, tmp_path, backend):
    # The admin's own bridge, which netc uses but never creates or deletes.
    sh("ip", "-n", sandbox.host, "link", "add", "extbr", "type", "bridge")
    sh("ip", "-n", sandbox.host, "addr", "add", "192.168.5.1/24", "dev", "extbr")
    sh("ip", "-n", sandbox.host, "link", "set", "extbr", "up")
    before = sandbox.snapshot()
    out, net = compile_for(sandbox, tmp_path, TWO_BRIDGES, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    a, b = container(net, "a"), container(net, "b")
    gw = net["bridges"][0]["address"]
    sandbox.serve(a["netns"], "a", "tcp:80")
    sandbox.serve(b["netns"], "b", "tcp:80")
    sandbox.serve(container(net, "n2")["netns"], "n2", "tcp:80", "udp:80")
    # Bridges are isolated: no direct traffic either way.
    assert sandbox.ask(a["netns"], f"tcp:{b['address']}:80")[f"tcp:{b['address']}:80"] == "no answer"
    assert sandbox.ask(b["netns"], f"tcp:{a['address']}:80")[f"tcp:{a['address']}:80"] == "no answer"
    # A publish is public: reachable through the host's address from the other bridge.
    assert answered(sandbox.ask(a["netns"], f"tcp:{HOST_IP}:8081")[f"tcp:{HOST_IP}:8081"], "b")
    # daemon ip: publishes bind that address only.
    o = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8080", f"tcp:{HOST_IP}:8081")
    assert answered(o[f"tcp:{HOST_IP}:8080"], "a", OUTSIDE_IP) and answered(o[f"tcp:{HOST_IP}:8081"], "b", OUTSIDE_IP)
    assert sandbox.ask(b["netns"], f"tcp:{gw}:8080")[f"tcp:{gw}:8080"] == "no answer"
    # p2p: /32 addresses and a host route to the peer.
    p = sandbox.ask(container(net, "n1")["netns"], "tcp:10.1.1.2:80", "udp:10.1.1.2:80")
    assert answered(p["tcp:10.1.1.2:80"], "n2", "10.1.1.1") and answered(p["udp:10.1.1.2:80"], "n2", "10.1.1.1")
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0
    assert sandbox.snapshot() == before   # the external bridge is intact, everything else gone
