"""explain, without a kernel: every behaviour of the end-to-end matrix, both backends.

That these predictions are what a kernel does is proven by `netc verify`
(tests/e2e/test_verify.py); here they are checked against the semantics.
"""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES, netc, write_spec
from netc.prove.explain import ExplainError, explain
from netc.resolve.lock import Lock
from netc.pipeline import load
from netc.prove.verify import plan

BACKENDS = ["iptables", "nftables"]
SPEC = """
daemon { icc false }
bridge other { bip 10.10.0.1/24 }
container db { expose 5432, 53/udp }
container web { link db:database; publish 8080:80; publish 127.0.0.1:8443:443; publish 5353:53/udp }
container lone {}
container far { net other; publish 9090:80 }
container side { net container:web }
container sealed { net none }
container tool { net host }
container n2 { net none }
p2p sealed n2 { sealed 10.1.1.1/32; n2 10.1.1.2/32 }
"""
GW = "172.17.42.1"
DB, WEB, LONE, FAR = "172.17.0.2", "172.17.0.3", "172.17.0.4", "10.10.0.2"

# (from, to, verdict, delivered_to, source seen (or {backend: source seen}), why)
CASES = [
    ("web", "db:5432", "accept", "db", WEB, "a link on an exposed port"),
    ("web", "db:53/udp", "accept", "db", WEB, "a link, udp"),
    ("web", "db:6000", "drop", None, None, "icc false: not exposed"),
    ("db", "web:5432", "drop", None, None, "icc false: links are one way"),
    ("lone", "db:5432", "drop", None, None, "icc false: no link"),
    ("outside", "host:8080", "accept", "web", "198.51.100.2", "a publish from outside keeps the source"),
    ("outside", "host:5353/udp", "accept", "web", "198.51.100.2", "a udp publish"),
    ("outside", "host:8443", "drop", "host", None, "127.0.0.1 only: not from outside"),
    ("host", "host:8443", "accept", "web", GW, "127.0.0.1 from the host, masqueraded"),
    ("host", "host:8080", "accept", "web", GW, "0.0.0.0 covers 127.0.0.1"),
    ("lone", "host:8080", "accept", "web", {"iptables": LONE, "nftables": GW},
     "another container's publish, under icc false (nftables: the same bridge's publishes are masqueraded)"),
    ("web", "host:8080", "accept", "web", GW, "hairpin"),
    ("far", "host:8080", "accept", "web", GW, "a publish is public, also from another bridge (masqueraded into docker0)"),
    ("web", f"{FAR}:80", "drop", None, None, "bridges are isolated"),
    ("far", f"{DB}:5432", "drop", None, None, "bridges are isolated"),
    ("outside", f"{DB}:5432", "drop", None, None, "direct routing protection"),
    ("outside", f"{WEB}:80", "drop", None, None, "direct routing protection, even a published port"),
    ("db", "outside:7777", "accept", "outside", "198.51.100.1", "egress is masqueraded"),
    ("side", "db:5432", "accept", "db", WEB, "net container: shares web's stack"),
    ("sealed", "outside:7777", "drop", None, None, "net none has no route"),
    ("sealed", "10.1.1.2:80", "accept", "n2", "10.1.1.1", "p2p"),
    ("sealed", "n2:80", "accept", "n2", "10.1.1.1", "a p2p peer by name: its address on the link"),
    ("n2", "sealed:80", "accept", "sealed", "10.1.1.2", "a p2p peer by name, the other way"),
    ("10.1.1.2", "sealed:80", "accept", "sealed", "10.1.1.2", "from a p2p address"),
    ("db", "sealed:80", "drop", None, None, "net none, and no p2p link to db"),
    ("host", f"{DB}:5432", "accept", "db", GW, "the host reaches containers"),
]


def _network(tmp_path_factory, folder: str, text: str):
    path = tmp_path_factory.mktemp(folder) / "spec.netc"
    path.write_text(text)
    return load(str(path), lock=Lock()).network


def _expect(network, backend, src, dst, verdict, to, seen, why) -> None:
    """explain's verdict, where it delivers (for an accept, or a case that names one) and the source seen."""
    a = explain(network, src, dst, backend)
    seen = seen[backend] if isinstance(seen, dict) else seen
    assert (a.verdict, a.delivered_to if verdict == "accept" or to else None, a.source_seen) == (verdict, to, seen), \
        f"{why}\n" + "\n".join(f"{s.where}: {s.text} [{s.verdict}]" for s in a.steps)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    return _network(tmp_path_factory, "explain", SPEC)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src,dst,verdict,to,seen,why", CASES, ids=[f"{c[0]}->{c[1]}" for c in CASES])
def test_explain(network, backend, src, dst, verdict, to, seen, why):
    _expect(network, backend, src, dst, verdict, to, seen, why)


def test_every_step_names_its_spec_line(network):
    a = explain(network, "web", "db:5432", "iptables")
    accepted = [s for s in a.steps if s.verdict == "accept" and s.where.startswith("filter")]
    assert accepted and "link db:database" in accepted[0].origin
    a = explain(network, "outside", "host:8080", "nftables")
    dnat = next(s for s in a.steps if s.verdict.startswith("dnat"))
    assert "publish 8080:80" in dnat.origin      # the map element's own spec line


def test_iptables_false_and_ip_forward_false(tmp_path):
    a = load(str(write_spec(tmp_path, "daemon { iptables false }\ncontainer w { expose 80 }\ncontainer v {}\n")),
             lock=Lock()).network
    assert explain(a, "v", "w:80").verdict == "accept"
    assert explain(a, "outside", "host:80").verdict == "drop"
    b = load(str(write_spec(tmp_path, "daemon { ip-forward false }\ncontainer w { publish 8080:80 }\n", "b.netc")),
             lock=Lock()).network
    answer = explain(b, "outside", "host:8080")
    assert answer.verdict == "drop" and "forward" in answer.reason


@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*.netc")), ids=lambda p: p.stem)
def test_backends_agree_on_every_probe_of_every_example(spec):
    network = load(str(spec), lock=Lock()).network
    _, probes = plan(network)
    hairpins = 0
    for p in probes:
        a, b = (explain(network, p.source, p.target, backend) for backend in BACKENDS)
        if a.source_seen != b.source_seen and _same_bridge_publish(network, p.source, a, b):
            hairpins += 1       # the one documented difference (docs/semantics.md): nftables masquerades
            continue
        assert (a.verdict, a.delivered_to, a.source_seen, a.dnat) == (b.verdict, b.delivered_to, b.source_seen, b.dnat), \
            f"{spec.name}: {p.source} -> {p.target}"
    assert hairpins < len(probes)


def _same_bridge_publish(network, source: str, a, b) -> bool:
    """A container reaching a publish of a container of its own bridge: the iptables backend (as
    Docker without its userland proxy) keeps the source, the nftables backend (which goes without
    br_netfilter) shows the bridge's address, as Docker's userland proxy and Podman do."""
    by_name = {c.name: c for c in network.containers}
    sender, receiver = by_name.get(source), by_name.get(a.delivered_to)
    if not (sender and receiver and sender.bridge and sender.bridge == receiver.bridge and a.dnat):
        return False
    bridge = next(x for x in network.bridges if x.name == sender.bridge)
    return (a.verdict, a.delivered_to, a.dnat) == (b.verdict, b.delivered_to, b.dnat) and \
        a.source_seen in (str(sender.address), str(sender.address6)) and \
        b.source_seen in (str(bridge.address), str(bridge.address6))


def test_cli_human_and_json(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    r = netc("explain", str(spec), "--from", "outside", "--to", "host:8080")
    assert r.returncode == 0, r.stderr
    assert "[iptables]" in r.stdout and "[nftables]" in r.stdout and "verdict: accept: delivered to web" in r.stdout
    assert "spec.netc:5 container web" in r.stdout
    r = netc("explain", str(spec), "--from", "lone", "--to", "db:5432", "--json", "--backend", "nftables")
    data = json.loads(r.stdout)
    assert data["verdict"] == "drop" and data["delivered_to"] is None and data["steps"]
    r = netc("explain", str(spec), "--from", "lonely", "--to", "db:5432")
    assert r.returncode == 2 and "did you mean 'lone'" in r.stderr


def test_bad_targets():
    with pytest.raises(ExplainError):
        from netc.prove.explain import parse_target
        parse_target("db:99999")


def test_verify_probes_p2p_peers_by_name_and_by_address():
    network = load(str(EXAMPLES / "p2p.netc"), lock=Lock()).network
    _, probes = plan(network)
    seen = {(p.source, p.target.split(":")[0], p.address) for p in probes}
    for a, b, address in (("one", "two", "10.1.1.2"), ("two", "one", "10.1.1.1")):
        assert (a, b, address) in seen          # by name: the peer's address on the link
        assert (a, address, address) in seen    # by address


# ------------------------------------------------------------------ IPv6
# The same semantics in IPv6 on a dual-stack bridge (LANGUAGE.md "IPv6 (dual stack)").

SPEC6 = """
daemon { icc false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
bridge four { bip 10.10.0.1/24; ipv6 false }
bridge six { bip 10.20.0.1/24; fixed-cidr-v6 2001:db8:6::/64 }
container db { expose 5432, 53/udp }
container web {
    link db:database
    publish 8080:80
    publish 0.0.0.0:8081:81
    publish [::]:8082:82
    publish [2001:db8:ff::1]:8443:443
    publish 5353:53/udp
}
container lone {}
container far { net six; publish 9090:80 }
container old { net four }
container side { net container:web }
"""
GW6, H6, O6 = "2001:db8:1::1", "2001:db8:ff::1", "2001:db8:ff::2"
DB6, WEB6, LONE6, FAR6 = "2001:db8:1::242:ac11:2", "2001:db8:1::242:ac11:3", "2001:db8:1::242:ac11:4", \
    "2001:db8:6::242:a14:2"

CASES6 = [
    ("web", f"[{DB6}]:5432", "accept", "db", WEB6, "a link, in IPv6"),
    ("web", f"[{DB6}]:53/udp", "accept", "db", WEB6, "a link, udp, in IPv6"),
    ("web", f"[{DB6}]:6000", "drop", None, None, "icc false in IPv6: not exposed"),
    ("db", f"[{WEB6}]:5432", "drop", None, None, "icc false in IPv6: links are one way"),
    ("lone", f"[{DB6}]:5432", "drop", None, None, "icc false in IPv6: no link"),
    ("outside", f"[{H6}]:8080", "accept", "web", O6, "publish 8080:80 is in both families"),
    ("outside", "host:8080", "accept", "web", "198.51.100.2", "... and in IPv4"),
    ("outside", f"[{H6}]:8081", "drop", "host", None, "0.0.0.0: IPv4 only"),
    ("outside", "host:8081", "accept", "web", "198.51.100.2", "0.0.0.0 in IPv4"),
    ("outside", f"[{H6}]:8082", "accept", "web", O6, "[::]: IPv6"),
    ("outside", "host:8082", "drop", "host", None, "[::]: not IPv4"),
    ("outside", f"[{H6}]:8443", "accept", "web", O6, "one IPv6 host address"),
    ("outside", f"[{H6}]:5353/udp", "accept", "web", O6, "a udp publish, IPv6"),
    ("host", f"[{H6}]:8080", "accept", "web", GW6, "the host reaches an IPv6 publish, masqueraded"),
    ("host", "[::1]:8080", "drop", "host", None, "::1 is never translated: the host's own"),
    ("lone", f"[{H6}]:8080", "accept", "web", {"iptables": LONE6, "nftables": GW6},
     "another container's IPv6 publish (nftables: masqueraded on the same bridge)"),
    ("web", f"[{H6}]:8080", "accept", "web", GW6, "hairpin in IPv6"),
    ("far", f"[{H6}]:8080", "accept", "web", GW6, "from another bridge, in IPv6"),
    ("web", f"[{FAR6}]:80", "drop", None, None, "bridges are isolated in IPv6"),
    ("far", f"[{DB6}]:5432", "drop", None, None, "bridges are isolated in IPv6"),
    ("outside", f"[{DB6}]:5432", "drop", None, None, "direct routing protection in IPv6"),
    ("outside", f"[{WEB6}]:80", "drop", None, None, "direct routing protection, even a published port"),
    ("db", f"[{O6}]:7777", "accept", "outside", H6, "IPv6 egress is masqueraded"),
    ("side", f"[{DB6}]:5432", "accept", "db", WEB6, "net container: shares web's IPv6 address"),
    ("old", f"[{O6}]:7777", "drop", None, None, "an IPv4-only bridge's container has no IPv6"),
    ("outside", f"[{H6}]:9090", "accept", "far", O6, "a second dual-stack bridge publishes in IPv6"),
    (O6, "host:8080", "accept", "web", O6, "an IPv6 source address asks in IPv6"),
]


@pytest.fixture(scope="module")
def network6(tmp_path_factory):
    return _network(tmp_path_factory, "explain6", SPEC6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src,dst,verdict,to,seen,why", CASES6, ids=[f"{c[0]}->{c[1]}" for c in CASES6])
def test_explain_ipv6(network6, backend, src, dst, verdict, to, seen, why):
    _expect(network6, backend, src, dst, verdict, to, seen, why)


def test_ipv6_steps_quote_the_ipv6_rules(network6):
    a = explain(network6, "web", f"[{DB6}]:5432", "iptables")
    accepted = next(s for s in a.steps if s.verdict == "accept" and s.where.startswith("filter"))
    assert accepted.text.startswith("ip6tables -A NETC-FORWARD") and "link db:database" in accepted.origin
    a = explain(network6, "outside", f"[{H6}]:8080", "nftables")
    dnat = next(s for s in a.steps if s.verdict.startswith("dnat"))
    assert "@dnat-any6" in dnat.text and dnat.verdict == f"dnat to {WEB6}:80" and a.dnat == f"[{WEB6}]:80"


def test_ip6tables_false_leaves_ipv6_unfiltered(tmp_path):
    net = load(str(write_spec(tmp_path, "daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64; ip6tables false }\n"
                                        "container w { publish 8080:80 }\n")), lock=Lock()).network
    for backend in BACKENDS:
        assert explain(net, "outside", "[2001:db8:1::242:ac11:2]:80", backend).verdict == "accept"  # routed
        assert explain(net, "outside", f"[{H6}]:8080", backend).verdict == "drop"                  # nothing translates
        assert explain(net, "outside", "172.17.0.2:80", backend).verdict == "drop"                 # IPv4 is protected


@pytest.mark.parametrize("target", ["[2001:db8::1", "[2001:db8::1]x", "[10.0.0.1]:80", "[::1]:0", "[::1]:８０"])
def test_bad_ipv6_targets(target):
    from netc.prove.explain import parse_target
    with pytest.raises(ExplainError):
        parse_target(target)


def test_families_cannot_mix(network6):
    with pytest.raises(ExplainError, match="different families"):
        explain(network6, O6, "198.51.100.1:8080")
