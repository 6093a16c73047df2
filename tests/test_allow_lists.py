"""Allow-lists without a kernel (LANGUAGE.md "Exposure"): what the front end and resolve make
of `publish ... from` and `publish-from`, and what explain says, both backends. The kernel
proves the same in tests/e2e/test_exposure.py."""

from __future__ import annotations

import pytest
from netaddr import IPNetwork

from netc import ir
from netc.pipeline import load
from netc.prove.explain import explain
from netc.prove.verify import plan
from netc.prove.world import outside_sources
from netc.resolve.lock import Lock

BACKENDS = ["iptables", "nftables"]

SPEC = """
daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64; publish-from 10.0.0.0/8 }
container web {
    publish 443:443 from 0.0.0.0/0, ::/0
    publish 127.0.0.1:9000:9000
    publish 8080:80 from 198.51.100.0/24, 2001:db8:ff::/64
    publish 5353:53/udp from 192.0.2.0/24
    publish 198.51.100.1:8083:83 from 172.17.0.0/16
    publish 8000-8001:8000-8001 from 0.0.0.0/0, 2001:db8:ee::/64
}
container other {}
"""


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("exposure") / "spec.netc"
    path.write_text(SPEC)
    loaded = load(str(path), lock=Lock())
    assert loaded.network is not None, loaded.diagnostics
    return loaded.network


def allows(network) -> dict:
    web = network.container("web")
    return {(str(m.host_ip), m.host_ports.lo, m.proto.value): m.allow for m in web.mappings}


def test_each_mapping_carries_its_familys_list(network):
    a = allows(network)
    v4, v6 = IPNetwork("198.51.100.0/24"), IPNetwork("2001:db8:ff::/64")
    assert a[("0.0.0.0", 443, "tcp")] is None and a[("::", 443, "tcp")] is None   # /0 in both: public
    assert a[("127.0.0.1", 9000, "tcp")] is None        # the daemon's list leaves loopback publishes alone
    assert a[("0.0.0.0", 8080, "tcp")] == (v4,) and a[("::", 8080, "tcp")] == (v6,)
    assert a[("0.0.0.0", 5353, "udp")] == (IPNetwork("192.0.2.0/24"),)
    assert a[("::", 5353, "udp")] == ()                 # an IPv4-only list: nobody in IPv6
    assert a[("198.51.100.1", 8083, "tcp")] == (IPNetwork("172.17.0.0/16"),)
    # 0.0.0.0/0 with an IPv6 network: IPv4 is open, IPv6 has its list.
    assert a[("0.0.0.0", 8000, "tcp")] is None and a[("::", 8000, "tcp")] == (IPNetwork("2001:db8:ee::/64"),)


def test_a_guard_per_listed_mapping(network):
    guards = [r for r in network.rules if isinstance(r, ir.Guard)]
    assert sorted((str(g.host_ip), g.host_ports.lo, g.family.value) for g in guards) == sorted([
        ("None", 8080, 4), ("None", 8080, 6), ("None", 5353, 4), ("None", 5353, 6),
        ("198.51.100.1", 8083, 4), ("None", 8000, 6)])


# (from, to, verdict, delivered to, why)
CASES = [
    ("outside", "host:8080", "accept", "web", "198.51.100.2 is in 198.51.100.0/24"),
    ("outside", "[2001:db8:ff::1]:8080", "accept", "web", "2001:db8:ff::2 is in 2001:db8:ff::/64"),
    ("outside", "host:5353/udp", "drop", None, "198.51.100.2 is not in 192.0.2.0/24"),
    ("192.0.2.1", "198.51.100.1:5353/udp", "accept", "web", "a client in 192.0.2.0/24"),
    ("192.0.2.1", "198.51.100.1:8080", "drop", None, "a client outside 198.51.100.0/24"),
    ("outside", "[2001:db8:ff::1]:5353/udp", "drop", None, "no IPv6 network: nobody in IPv6"),
    ("outside", "host:443", "accept", "web", "public"),
    ("outside", "host:8083", "drop", None, "only the containers' subnet"),
    ("other", "host:8083", "accept", "web", "a container in 172.17.0.0/16"),
    ("other", "host:8080", "drop", None, "a container outside the list"),
    ("web", "host:8083", "accept", "web", "hairpin, listed"),
    ("host", "host:8080", "drop", None, "the host (127.0.0.1) is not in the list"),
    ("host", "198.51.100.1:8080", "accept", "web", "the host from 198.51.100.1 is"),
    ("host", "host:9000", "accept", "web", "loopback publish: the daemon's list does not apply"),
    ("outside", "host:8000", "accept", "web", "0.0.0.0/0 in IPv4"),
    ("outside", "[2001:db8:ff::1]:8000", "drop", None, "2001:db8:ff::2 is not in 2001:db8:ee::/64"),
    ("2001:db8:ee::1", "[2001:db8:ff::1]:8000", "accept", "web", "2001:db8:ee::1 is"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src,dst,verdict,to,why", CASES, ids=[f"{c[0]}->{c[1]}" for c in CASES])
def test_explain_allow_lists(network, backend, src, dst, verdict, to, why):
    a = explain(network, src, dst, backend)
    got = (a.verdict, a.delivered_to if a.verdict == "accept" else None)
    assert got == (verdict, to), f"{why}\n" + "\n".join(f"{s.where}: {s.text} [{s.verdict}]" for s in a.steps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_dropping_rule_names_the_publish(network, backend):
    a = explain(network, "outside", "host:5353/udp", backend)
    drop = [s for s in a.steps if s.verdict == "drop"]
    assert len(drop) == 1 and "publish 5353:53/udp from 192.0.2.0/24" in drop[0].origin, a.steps
    assert drop[0].where.startswith("mangle prerouting")
    assert ("NETC-GUARD" in drop[0].text) if backend == "iptables" else ("@allow-any" in drop[0].text)
    a = explain(network, "host", "host:8080", backend)
    assert a.steps[-1].where.startswith("mangle output") and "publish 8080:80" in a.steps[-1].origin


def test_verify_probes_from_inside_and_outside_every_list(network):
    # One address in each listed network outside the host's subnets, and a stranger per family
    # where no list holds it (here both are listed).
    assert [str(a) for a in outside_sources(network)] == ["192.0.2.1", "2001:db8:ee::1"]
    _, probes = plan(network)
    mine = {(p.source, p.target) for p in probes if p.bind}
    assert ("192.0.2.1", "198.51.100.1:5353/udp") in mine and ("192.0.2.1", "198.51.100.1:8080/tcp") in mine
    assert ("2001:db8:ee::1", "[2001:db8:ff::1]:8080/tcp") in mine and \
        ("2001:db8:ee::1", "[2001:db8:ff::1]:8000/tcp") in mine


def test_strangers_where_no_list_holds_them(tmp_path):
    path = tmp_path / "spec.netc"
    path.write_text("daemon { publish-from 10.0.0.0/8 }\ncontainer web { publish 8080:80 }\n")
    network = load(str(path), lock=Lock()).network
    assert [str(a) for a in outside_sources(network)] == ["10.0.0.1", "192.0.2.254"]


def test_no_list_no_guard_and_no_extra_probes(tmp_path):
    path = tmp_path / "spec.netc"
    path.write_text("container web { publish 8080:80 from 0.0.0.0/0 }\n")
    network = load(str(path), lock=Lock()).network
    assert not any(isinstance(r, ir.Guard) for r in network.rules)
    assert outside_sources(network) == ()
