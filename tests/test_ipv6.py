"""IPv6 in the front end and resolve: allocation by Docker's MAC rule or lowest free, pins, the
lock, publishes per family, and what `netc check --emit ir` shows (LANGUAGE.md "IPv6").

Errors are golden diagnostics (golden/errors/*ipv6*, *ip6*); the kernel's side is
tests/e2e/test_matrix6.py; random dual-stack specs are tests/test_properties.py's.
"""

from __future__ import annotations

import json

from netaddr import IPAddress

from conftest import netc, write_spec
from netc.pipeline import load
from netc.resolve.lock import Lock, parse
from netc.values import Family

V6 = "daemon { bip 172.17.42.1/16; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\n"


def _net(tmp_path, text: str, lock: Lock | None = None, name: str = "spec.netc"):
    return load(str(write_spec(tmp_path, text, name)), lock=lock if lock is not None else Lock())


def test_addresses_by_the_mac_rule_and_by_lowest_free(tmp_path):
    net = _net(tmp_path, V6 + "container a {}\ncontainer b { mac 02:99:00:00:00:01 }\n"
                              "container c { ip6 2001:db8:1::242:ac11:5 }\ncontainer d {}\n").network
    got = {c.name: str(c.address6) for c in net.containers}
    # 02:42 + the IPv4 bytes in the last 48 bits; a pinned MAC counts; d's MAC (02:42:ac:11:00:05)
    # gives the address c pinned, so d takes the lowest free address instead.
    assert got == {"a": "2001:db8:1::242:ac11:2", "b": "2001:db8:1::299:0:1",
                   "c": "2001:db8:1::242:ac11:5", "d": "2001:db8:1::2"}
    assert [str(c.mac) for c in net.containers][3] == "02:42:ac:11:00:05"
    long = _net(tmp_path, "daemon { bip 10.9.0.1/24; ipv6 true; fixed-cidr-v6 fd00:9::/96 }\n"
                          "container a { ip6 fd00:9::3 }\ncontainer b {}\ncontainer c {}\n", name="b.netc").network
    assert [str(c.address6) for c in long.containers] == ["fd00:9::3", "fd00:9::2", "fd00:9::4"]
    assert long.bridge("docker0").address6 == IPAddress("fd00:9::1")


def test_the_lock_keeps_ipv6_addresses_and_ipv4_specs_keep_their_lock_text(tmp_path):
    text = "daemon { bip 10.9.0.1/24; ipv6 true; fixed-cidr-v6 fd00:9::/120 }\ncontainer a {}\ncontainer b {}\n"
    first = _net(tmp_path, text)
    assert first.lock.addresses6 == {"a": "fd00:9::2", "b": "fd00:9::3"}
    assert parse(first.lock.to_text()) == first.lock
    # A container added in front would take fd00:9::2 afresh; the lock keeps a and b where they were.
    grown = _net(tmp_path, text.replace("container a", "container new {}\ncontainer a"), first.lock, "g.netc")
    assert {c.name: str(c.address6) for c in grown.network.containers} == \
        {"new": "fd00:9::4", "a": "fd00:9::2", "b": "fd00:9::3"}
    four = _net(tmp_path, "container a {}\n", name="four.netc")
    assert "addresses6" not in four.lock.to_text()


def test_turning_ipv6_on_keeps_every_ipv4_value(tmp_path):
    text = "container a { publish 80 }\ncontainer b { publish 53/udp; publish-all; expose 99 }\n"
    before = _net(tmp_path, text)
    after = _net(tmp_path, "daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\n" + text, before.lock, "v6.netc")
    for c in before.network.containers:
        c6 = after.network.container(c.name)
        assert (c6.address, c6.mac) == (c.address, c.mac)
        v4 = [(m.host_ports, m.container_ports) for m in c6.mappings if m.family is Family.V4]
        assert v4 == [(m.host_ports, m.container_ports) for m in c.mappings]
        # ... and the IPv6 twin of each publish has the same host port.
        assert [(m.host_ports, m.container_ports) for m in c6.mappings if m.family is Family.V6] == v4
    assert after.lock.ports == before.lock.ports


def test_publishes_per_family(tmp_path):
    net = _net(tmp_path, V6 + "container w {\n publish 8080:80\n publish 0.0.0.0:8081:81\n publish [::]:8082:82\n"
                              " publish [2001:db8:ff::1]:8090:83\n publish 127.0.0.1::84\n publish [::]::85\n}\n"
                              "container v { publish 0.0.0.0:8082:82; publish [::]:8081:81 }\n").network
    got = [(str(m.host_ip), str(m.host_ports), str(m.container_ports)) for m in net.container("w").mappings]
    assert got == [("0.0.0.0", "8080", "80"), ("::", "8080", "80"), ("0.0.0.0", "8081", "81"),
                   ("::", "8082", "82"), ("2001:db8:ff::1", "8090", "83"), ("127.0.0.1", "49153", "84"),
                   ("::", "49153", "85")]
    # The families' ports are apart: v binds 0.0.0.0:8082 and [::]:8081 beside w's [::]:8082 and 0.0.0.0:8081.
    assert [(str(m.host_ip), str(m.host_ports)) for m in net.container("v").mappings] == \
        [("0.0.0.0", "8082"), ("::", "8081")]
    # ... but one IPv6 address is inside ::.
    r = netc("check", str(write_spec(tmp_path, V6 + "container w { publish 8080:80; publish [2001:db8:ff::1]:8080:81 }\n",
                                     "clash.netc")))
    assert r.returncode == 2 and "Bind for [2001:db8:ff::1]:8080/tcp failed" in r.stderr, r.stderr
    dnat6 = [r for r in net.rules if type(r).__name__ == "Dnat" and r.family is Family.V6]
    assert {r.address for r in dnat6} == {net.container("w").address6, net.container("v").address6}
    assert all(r.address.version == 6 and (r.host_ip is None or r.host_ip.version == 6) for r in dnat6)


def test_an_ipv4_only_bridge_publishes_in_ipv4_only(tmp_path):
    head = V6 + "bridge b4 { bip 10.4.0.1/24; ipv6 false }\ncontainer w { net b4; publish 8080:80 }\n"
    net = _net(tmp_path, head + "container x { publish [::]:8080:81 }\n").network
    assert [str(m.host_ip) for m in net.container("w").mappings] == ["0.0.0.0"]
    assert net.container("w").address6 is None
    assert [str(m.host_ip) for m in net.container("x").mappings] == ["::"]  # no clash: another family
    # x's `publish 8080:81` binds 0.0.0.0:8080 as well, which w holds.
    r = netc("check", str(write_spec(tmp_path, head + "container x { publish 8080:81 }\n", "clash.netc")))
    assert r.returncode == 2 and "Bind for 0.0.0.0:8080/tcp failed" in r.stderr, r.stderr


def test_daemon_ip_may_be_ipv6(tmp_path):
    net = _net(tmp_path, "daemon { ip ::; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\ncontainer w { publish 8080:80 }\n"
                         "container v { publish 0.0.0.0:8080:80 }\n").network
    assert [str(m.host_ip) for m in net.container("w").mappings] == ["::"]
    r = netc("check", str(write_spec(tmp_path, "daemon { ip :: }\ncontainer w { publish 8080:80 }\n", "x.netc")))
    assert r.returncode == 2 and "has no IPv6" in r.stderr and "the daemon's ip is set here" in r.stderr


def test_check_emit_ir_shows_both_families(tmp_path):
    spec = write_spec(tmp_path, V6 + "container db { expose 5432 }\ncontainer web { link db; publish 8080:80 }\n")
    r = netc("check", str(spec), "--emit", "ir")
    assert r.returncode == 0, r.stderr
    ir = json.loads(r.stdout)
    (bridge,) = ir["bridges"]
    assert (bridge["network"], bridge["network6"], bridge["address6"]) == \
        ("172.17.0.0/16", "2001:db8:1::/64", "2001:db8:1::1")
    web = next(c for c in ir["containers"] if c["name"] == "web")
    assert (web["address6"], web["gateway6"], web["prefixlen6"]) == ("2001:db8:1::242:ac11:3", "2001:db8:1::1", 64)
    assert web["links"][0]["address6"] == "2001:db8:1::242:ac11:2"
    assert [m["host_ip"] for m in web["mappings"]] == ["0.0.0.0", "::"]
    kinds = {(r["kind"], r["family"]) for r in ir["rules"]}
    assert {("LinkAccept", 4), ("LinkAccept", 6), ("Dnat", 4), ("Dnat", 6), ("Neighbours", 6)} <= kinds
    assert {s["key"] for s in ir["sysctls"]} >= {"net.ipv6.conf.all.forwarding", "net.bridge.bridge-nf-call-ip6tables"}


def test_ip_forward_false_and_ip6tables_false(tmp_path):
    net = _net(tmp_path, "daemon { ip-forward false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64; ip6tables false }\n"
                         "container w { publish 8080:80 }\n").network
    keys = {s.key for s in net.sysctls}
    assert "net.ipv6.conf.all.forwarding" not in keys and "net.bridge.bridge-nf-call-ip6tables" not in keys
    assert {r.family for r in net.rules} == {Family.V4}
    assert [str(m.host_ip) for m in net.container("w").mappings] == ["0.0.0.0"]


def test_doctor_reads_each_publish_in_its_family(tmp_path):
    """netc doctor checks the flows of each publish in the family it publishes in (netc.json's
    mappings are per family), so an IPv4-only publish is not judged in IPv6."""
    from netc.host.compiled import read_out
    spec = write_spec(tmp_path, V6 + "container w { publish 8080:80; publish 0.0.0.0:8081:81; publish [::]:8082:82 }\n")
    assert netc("compile", str(spec), "-o", str(tmp_path / "out")).returncode == 0
    got = sorted((p.host_ports[0], p.address.version) for p in read_out(str(tmp_path / "out")).publishes)
    assert got == [(8080, 4), (8080, 6), (8081, 4), (8082, 6)]
