"""The behaviour matrix in IPv6 (LANGUAGE.md "IPv6 (dual stack)"), in a real kernel, both backends.

As tests/e2e/test_matrix.py: each test compiles a dual-stack spec, applies it in a
sandbox host namespace (host 2001:db8:ff::1 on ext0, outside 2001:db8:ff::2),
sends real TCP and UDP traffic in both families between the sandbox's namespaces,
and tears down.
"""

from __future__ import annotations

import pytest

from netns import in_ns, sh
from netc.prove.sandbox import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6
from util import compile_for, container, host_port

BACKENDS = ["iptables", "nftables"]
H6, O6 = f"[{HOST_IP6}]", f"[{OUTSIDE_IP6}]"

DUAL = """
daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
container db { expose 5432, 53/udp }
container web {
    link db:database
    publish 8080:80
    publish 0.0.0.0:8081:81
    publish [::]:8082:82
    publish [2001:db8:ff::1]:8443:443
    publish 127.0.0.1:9443:443
    publish 5353:53/udp
    publish 7000-7001:7000-7001
    publish [::]::9000
    expose 6000
    publish-all
}
container other {}
container side { net container:web }
"""


def answered(result: str, by: str, source: str | None = None) -> bool:
    words = result.split()
    return len(words) == 2 and words[0] == by and (source is None or words[1] == source)


def silent(answers: dict) -> bool:
    return all(a == "no answer" for a in answers.values())


def six(address: str) -> str:
    return f"[{address}]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_dual_stack_publishes_links_hairpin_egress(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, DUAL, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    db, web, other = (container(net, n) for n in ("db", "web", "other"))
    db6, web6, other6 = (c["address6"] for c in (db, web, other))
    gw6 = net["bridges"][0]["address6"]
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "other")}
    sandbox.serve(ns["db"], "db", "tcp:5432", "udp:53", "tcp:6001")
    sandbox.serve(ns["web"], "web", "tcp:80", "tcp:81", "tcp:82", "tcp:443", "tcp:9000", "udp:53", "tcp:7000",
                  "tcp:7001", "tcp:6000")
    sandbox.serve(sandbox.outside, "outside", "tcp:7777", "udp:7777")
    p9000 = host_port(net, "web", 9000, host_ip="::")
    p6000 = host_port(net, "web", 6000)
    assert host_port(net, "web", 6000, host_ip="::") == p6000   # publish-all: the same port in both families

    # The container's own IPv6 address and route, in its namespace.
    addrs = sh("ip", "-n", ns["web"], "-6", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"{web6}/64" in addrs
    assert f"default via {gw6} dev eth0" in sh("ip", "-n", ns["web"], "-6", "route").stdout

    # icc true: every port between containers in IPv6, exposed or not, tcp and udp.
    a = sandbox.ask(ns["other"], f"tcp:{six(db6)}:5432", f"tcp:{six(db6)}:6001", f"udp:{six(db6)}:53")
    assert all(answered(x, "db", other6) for x in a.values()), a

    # Publishes from outside, in each family they publish in.
    a = sandbox.ask(sandbox.outside, f"tcp:{H6}:8080", f"tcp:{HOST_IP}:8080", f"tcp:{H6}:8082", f"tcp:{H6}:8443",
                    f"udp:{H6}:5353", f"tcp:{H6}:7000", f"tcp:{H6}:7001", f"tcp:{H6}:{p9000}", f"tcp:{H6}:{p6000}",
                    f"tcp:{HOST_IP}:8081")
    assert answered(a[f"tcp:{HOST_IP}:8080"], "web", OUTSIDE_IP)
    assert answered(a[f"tcp:{HOST_IP}:8081"], "web", OUTSIDE_IP)
    for target in (f"tcp:{H6}:8080", f"tcp:{H6}:8082", f"tcp:{H6}:8443", f"udp:{H6}:5353", f"tcp:{H6}:7000",
                   f"tcp:{H6}:7001", f"tcp:{H6}:{p9000}", f"tcp:{H6}:{p6000}"):
        assert answered(a[target], "web", OUTSIDE_IP6), (target, a[target])
    # ... and nowhere else: [::] is IPv6 only, 0.0.0.0 IPv4 only, loopback publishes stay on the host.
    a = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8082", f"tcp:{HOST_IP}:{p9000}", f"tcp:{H6}:8081",
                    f"tcp:{H6}:9443", f"tcp:{HOST_IP}:8443")
    assert silent(a), a

    # The host reaches the IPv6 publishes through its own address (masqueraded into the bridge),
    # never through ::1, which the kernel cannot send to a container.
    a = sandbox.ask(sandbox.host, f"tcp:{H6}:8080", f"tcp:{H6}:8082", "tcp:[::1]:8080", "tcp:127.0.0.1:9443")
    assert answered(a[f"tcp:{H6}:8080"], "web", gw6) and answered(a[f"tcp:{H6}:8082"], "web", gw6)
    assert a["tcp:[::1]:8080"] == "no answer"
    assert answered(a["tcp:127.0.0.1:9443"], "web")

    # Another container's IPv6 publish keeps its address (iptables; the nftables backend masquerades
    # a publish reached from its own bridge: docs/semantics.md); a container's own is hairpinned.
    a = sandbox.ask(ns["other"], f"tcp:{H6}:8080", f"tcp:{six(gw6)}:8082", f"udp:{H6}:5353")
    assert all(answered(x, "web", other6 if backend == "iptables" else gw6) for x in a.values()), a
    a = sandbox.ask(ns["web"], f"tcp:{H6}:8080", f"tcp:{six(gw6)}:8443", f"tcp:{H6}:8082")
    assert answered(a[f"tcp:{H6}:8080"], "web", gw6) and answered(a[f"tcp:{H6}:8082"], "web", gw6)
    assert a[f"tcp:{six(gw6)}:8443"] == "no answer"     # published on 2001:db8:ff::1 only

    # IPv6 egress is masqueraded to the host's IPv6 address.
    a = sandbox.ask(ns["db"], f"tcp:{O6}:7777", f"udp:{O6}:7777")
    assert all(answered(x, "outside", HOST_IP6) for x in a.values()), a

    # A peer that routes the container prefix via the host reaches nothing directly.
    sh("ip", "-n", sandbox.outside, "route", "add", net["bridges"][0]["network6"], "via", HOST_IP6)
    a = sandbox.ask(sandbox.outside, f"tcp:{six(db6)}:5432", f"tcp:{six(web6)}:80", f"udp:{six(web6)}:53")
    assert silent(a), a

    # Files: IPv6 lines for the container and its link, inside the namespace.
    hosts = sh("ip", "netns", "exec", ns["web"], "cat", "/etc/hosts").stdout
    assert f"{web6}\tweb" in hosts and f"{db6}\tdatabase db" in hosts
    assert container(net, "side")["address6"] == web6

    sandbox.stop_servers()
    r = sandbox.teardown(out)
    assert r.returncode == 0, r.stderr


ICC_OFF = """
daemon { icc false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
container db { expose 5432, 53/udp }
container web { link db:database }
container other {}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_icc_off_in_ipv6_only_linked_exposed_ports_one_way(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, ICC_OFF, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    db6, web6 = container(net, "db")["address6"], container(net, "web")["address6"]
    ns = {n: container(net, n)["netns"] for n in ("db", "web", "other")}
    sandbox.serve(ns["db"], "db", "tcp:5432", "udp:53", "tcp:6001")
    sandbox.serve(ns["web"], "web", "tcp:5432", "tcp:80")
    a = sandbox.ask(ns["web"], f"tcp:{six(db6)}:5432", f"udp:{six(db6)}:53", f"tcp:{six(db6)}:6001")
    assert answered(a[f"tcp:{six(db6)}:5432"], "db", web6)
    assert answered(a[f"udp:{six(db6)}:53"], "db", web6)
    assert a[f"tcp:{six(db6)}:6001"] == "no answer"                        # not exposed
    assert silent(sandbox.ask(ns["db"], f"tcp:{six(web6)}:5432", f"tcp:{six(web6)}:80"))  # the other way
    assert silent(sandbox.ask(ns["other"], f"tcp:{six(db6)}:5432", f"udp:{six(db6)}:53"))  # not linked
    # ... and the same in IPv4, beside it.
    dbip = container(net, "db")["address"]
    assert answered(sandbox.ask(ns["web"], f"tcp:{dbip}:5432")[f"tcp:{dbip}:5432"], "db")
    assert sandbox.teardown(out).returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ip_masq_false_keeps_the_container_ipv6_address(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, "daemon { ip-masq false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\n"
                                              "container c {}\n", backend)
    assert sandbox.apply(out).returncode == 0
    sh("ip", "-n", sandbox.outside, "route", "add", net["bridges"][0]["network6"], "via", HOST_IP6)
    sandbox.serve(sandbox.outside, "outside", "tcp:7777")
    c = container(net, "c")
    a = sandbox.ask(c["netns"], f"tcp:{O6}:7777")
    assert answered(a[f"tcp:{O6}:7777"], "outside", c["address6"])
    assert sandbox.teardown(out).returncode == 0


TWO_BRIDGES = """
daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
bridge br6 { bip 10.6.0.1/24; fixed-cidr-v6 2001:db8:6::/64 }
bridge br4 { bip 10.4.0.1/24; ipv6 false }
container a { publish 8080:80 }
container b { net br6; publish 8081:80 }
container c { net br4; publish 8082:80 }
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_bridges_isolated_in_ipv6_and_ipv4_only_bridges_free_of_it(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, TWO_BRIDGES, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    a, b, c = (container(net, n) for n in ("a", "b", "c"))
    for x in (a, b, c):
        sandbox.serve(x["netns"], x["name"], "tcp:80")
    # Isolated in IPv6, both ways.
    assert silent(sandbox.ask(a["netns"], f"tcp:{six(b['address6'])}:80"))
    assert silent(sandbox.ask(b["netns"], f"tcp:{six(a['address6'])}:80"))
    # A publish is public: from the other bridge through the host's IPv6 address.
    assert answered(sandbox.ask(a["netns"], f"tcp:{H6}:8081")[f"tcp:{H6}:8081"], "b")
    # The IPv4-only bridge: its container has no IPv6 at all (no address, not even link-local),
    # reaches no IPv6 publish, and its publish is IPv4 only.
    assert c["address6"] is None
    assert sh("ip", "-n", c["netns"], "-6", "-o", "addr").stdout.strip() == "" or \
        "inet6" not in sh("ip", "-n", c["netns"], "-6", "-o", "addr", "show", "dev", "eth0").stdout
    assert silent(sandbox.ask(c["netns"], f"tcp:{H6}:8080"))
    o = sandbox.ask(sandbox.outside, f"tcp:{HOST_IP}:8082", f"tcp:{H6}:8082")
    assert answered(o[f"tcp:{HOST_IP}:8082"], "c", OUTSIDE_IP) and o[f"tcp:{H6}:8082"] == "no answer"
    host_links = sh("ip", "-n", sandbox.host, "-6", "-o", "addr").stdout
    assert c["host_veth"] not in host_links
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0


def test_ip6tables_false_installs_no_ipv6_rules(sandbox, tmp_path):
    out, net = compile_for(sandbox, tmp_path, "daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64; ip6tables false }\n"
                                              "container a { expose 80 }\n")
    before = in_ns(sandbox.host, "ip6tables-save").stdout
    assert sandbox.apply(out).returncode == 0
    after = in_ns(sandbox.host, "ip6tables-save").stdout
    assert "NETC" not in after and [l for l in before.splitlines() if not l.startswith("#")] == \
        [l for l in after.splitlines() if not l.startswith("#")]
    assert "NETC" in in_ns(sandbox.host, "iptables-save").stdout
    a = container(net, "a")
    sandbox.serve(a["netns"], "a", "tcp:80")
    sh("ip", "-n", sandbox.outside, "route", "add", net["bridges"][0]["network6"], "via", HOST_IP6)
    # No IPv6 firewall: routed straight to the container, as Docker with --ip6tables=false.
    assert answered(sandbox.ask(sandbox.outside, f"tcp:{six(a['address6'])}:80")[f"tcp:{six(a['address6'])}:80"],
                    "a", OUTSIDE_IP6)
    assert sandbox.teardown(out).returncode == 0
