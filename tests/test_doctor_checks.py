"""netc doctor's checks without a kernel: each check over a host snapshot built by hand
(or parsed from a ruleset its owner really writes: tests/data/doctor/) and a real
compiled output. tests/e2e/test_doctor.py proves the reading and the breakage in
namespaces; these cover what a namespace cannot hold (firewalld, ufw, Docker,
br_netfilter, router advertisements) and the corners of each check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from netaddr import IPNetwork

from conftest import netc, write_spec
from netc.host import doctor
from netc.host.iptables_save import parse_iptables_save
from netc.host.nft_ruleset import nft_rule_texts, parse_nft_json
from netc.host.ruleset import Addr, Packet, World, walk
from netc.host.snapshot import Host, Link, Listener, Route, parse_shell_vars, parse_ss
from netc.pipeline import compile as compile_spec

DATA = Path(__file__).parent / "data" / "doctor"

SPEC = """container db { expose 5432 }
container web {
    publish 8080:80
    link db
}
"""


def compiled(tmp_path: Path, text: str = SPEC, backend: str = "iptables", edit=None) -> doctor.Out:
    """Compile a spec and read its output tree as doctor does (edit: change netc.json first)."""
    spec = write_spec(tmp_path, text)
    artifacts, _ = compile_spec(str(spec), backend=backend)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    data = json.loads(artifacts["netc.json"])
    if edit:
        edit(data)
    (out / "netc.json").write_text(json.dumps(data))
    return doctor.read_out(str(out))


UPLINK = Link("eth0", "", None, True, (IPNetwork("198.51.100.1/24"),))
LO = Link("lo", "", None, True, (IPNetwork("127.0.0.1/8"),))


def host(*tables, **kw) -> Host:
    kw.setdefault("links", (LO, UPLINK))
    kw.setdefault("iptables", "nft")
    return Host(tables=tuple(t for group in tables for t in group), **kw)


def legacy(text: str, family: str = "ip"):
    return parse_iptables_save(text, "iptables-legacy", family, "iptables-legacy")


def ipt_nft(text: str):
    return parse_iptables_save(text, "iptables-nft", "ip", "iptables")


def nft(script_json: dict, texts: str = ""):
    return parse_nft_json(script_json, texts=nft_rule_texts(texts))


def ids(found) -> list[str]:
    return [f.id for f in found]


FORWARD_DROP = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


# ------------------------------------------------------------------ forward drops

def test_legacy_forward_policy_drop_names_the_chain_the_flows_and_the_fix(tmp_path):
    out = compiled(tmp_path)
    found = doctor.check(host(legacy(FORWARD_DROP)), out)
    assert ids(found) == ["forward-drop"]
    f = found[0]
    assert f.severity == "error"
    assert f.where == "iptables-legacy table filter, chain FORWARD (hook forward, priority 0, policy drop)"
    assert f.lines == ("spec.netc:4", "spec.netc:3")   # the link, the publish
    assert any(b.startswith("publish 8080/tcp -> web:80 from outside") for b in f.breaks)
    assert "egress from bridge docker0 (172.17.0.0/16) to outside (netc default: bridge docker0)" in f.breaks
    assert f.fix[1:3] == ("iptables-legacy -t filter -I FORWARD -i docker0 -j ACCEPT",
                          "iptables-legacy -t filter -I FORWARD -o docker0 -j ACCEPT")
    assert "iptables-legacy -t filter -P FORWARD ACCEPT" in f.fix


def test_the_documented_fix_is_recognised(tmp_path):
    out = compiled(tmp_path)
    fixed = FORWARD_DROP.replace("COMMIT", "-A FORWARD -o docker0 -j ACCEPT\n-A FORWARD -i docker0 -j ACCEPT\nCOMMIT")
    assert doctor.check(host(legacy(fixed)), out) == []
    # Only one of the two: what still breaks is named, and only that.
    half = FORWARD_DROP.replace("COMMIT", "-A FORWARD -o docker0 -j ACCEPT\nCOMMIT")
    f, = doctor.check(host(legacy(half)), out)
    assert f.breaks == ("egress from bridge docker0 (172.17.0.0/16) to outside (netc default: bridge docker0)",
                        "replies of publish 8080/tcp -> web:80 (spec.netc:3 container web: publish 8080:80)")


def test_a_drop_rule_that_may_match_is_a_warning_and_one_that_cannot_is_nothing(tmp_path):
    out = compiled(tmp_path)
    rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.0/8 -j DROP\nCOMMIT\n"
    f, = doctor.check(host(legacy(rules)), out)
    assert f.severity == "warning" and f.what.endswith("may drop forwarded packets of this network")
    assert all(not b.startswith("egress") for b in f.breaks)   # the containers' sources are not in 10/8
    assert "iptables-legacy -t filter -D FORWARD -s 10.0.0.0/8 -j DROP" in f.fix
    rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.0/8 -d 10.0.0.0/8 -j DROP\nCOMMIT\n"
    assert doctor.check(host(legacy(rules)), out) == []


def test_netc_iptables_flavour_is_judged_only_before_netc_jump(tmp_path):
    out = compiled(tmp_path)
    # iptables is iptables-legacy here: the legacy tables are netc's own, and its jump goes first.
    applied = ("*filter\n:FORWARD DROP [0:0]\n:NETC-FORWARD - [0:0]\n-A FORWARD -j NETC-FORWARD\n"
               "-A FORWARD -j DROP\nCOMMIT\n")
    assert doctor.check(host(legacy(applied), iptables="legacy"), out) == []
    assert doctor.check(host(legacy(FORWARD_DROP), iptables="legacy"), out) == []   # not applied yet
    # Something that put itself before netc's jump is judged.
    before = applied.replace("-A FORWARD -j NETC-FORWARD", "-A FORWARD -o docker0 -j DROP\n-A FORWARD -j NETC-FORWARD")
    f, = doctor.check(host(legacy(before), iptables="legacy"), out)
    assert f.severity == "error" and "-A FORWARD -o docker0 -j DROP" in f.why
    # With iptables-nft as `iptables`, the same legacy table is another owner's.
    assert ids(doctor.check(host(legacy(applied), iptables="nft"), out)) == ["forward-drop"]


def test_docker_with_iptables_legacy_beside_netc(tmp_path):
    out = compiled(tmp_path, "daemon { bridge netc0; bip 10.55.0.1/24 }\n" + SPEC)
    found = doctor.check(host(legacy((DATA / "docker-legacy.rules").read_text())), out)
    assert sorted(ids(found)) == ["forward-drop", "publish-dnat-conflict"]
    drop = next(f for f in found if f.id == "forward-drop")
    assert drop.severity == "error" and "(made by Docker)" in drop.where
    dnat = next(f for f in found if f.id == "publish-dnat-conflict")
    assert dnat.severity == "error" and "to 172.17.0.2:80" in dnat.what and "(tcp/8080)" in dnat.what
    assert "either the publish goes to 172.17.0.2:80" in dnat.why
    assert dnat.where.startswith("iptables-legacy table nat (made by Docker), chain DOCKER, from PREROUTING (hook "
                                 "prerouting, priority -100, policy accept) and OUTPUT (hook output, ")
    assert dnat.fix[0] == ("iptables-legacy -t nat -D DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 "
                           "-j DNAT --to-destination 172.17.0.2:80")
    # Docker's masquerade of its own subnet is no finding for netc's flows.
    assert "foreign-snat" not in ids(found)


def test_docker_with_iptables_nft_shares_netc_tables(tmp_path):
    out = compiled(tmp_path, "daemon { bridge netc0; bip 10.55.0.1/24 }\n" + SPEC)
    text = (DATA / "docker-legacy.rules").read_text()
    found = doctor.check(host(ipt_nft(text)), out)
    # The same tables as netc's iptables backend: netc's jump goes first in FORWARD, so
    # Docker's policy is no finding; its DNAT on the same port runs after netc's.
    f, = found
    assert f.id == "publish-dnat-conflict" and "runs after netc's" in f.why
    assert f.fix[0].startswith("iptables -t nat -D DOCKER")
    # For the nftables backend those tables belong to another owner.
    out = compiled(tmp_path, "daemon { bridge netc0; bip 10.55.0.1/24 }\n" + SPEC, "nftables")
    assert sorted(ids(doctor.check(host(ipt_nft(text)), out))) == ["forward-drop", "publish-dnat-conflict"]


def test_firewalld_nftables_rules(tmp_path):
    tables = nft(json.loads((DATA / "firewalld.json").read_text()), (DATA / "firewalld.nft.txt").read_text())
    out = compiled(tmp_path)
    f, = doctor.check(host(tables), out)
    assert f.id == "forward-drop" and f.severity == "error"
    assert f.where.startswith("nft table inet firewalld (made by firewalld), chain filter_FORWARD (hook forward, "
                              "priority 10, policy accept)")
    assert "reject with icmpx admin-prohibited (chain filter_FORWARD)" in f.why
    # firewalld lets translated (published) connections and replies through; the rest is rejected.
    assert not any("from outside" in b or b.startswith("replies") for b in f.breaks)
    assert any(b.startswith("egress") for b in f.breaks) and any(b.startswith("container to container")
                                                                 for b in f.breaks)
    assert f.fix[1:] == ("firewall-cmd --permanent --zone=trusted --add-interface=docker0", "firewall-cmd --reload")


def test_firewalld_and_ufw_services(tmp_path):
    out = compiled(tmp_path)
    f, = doctor.check(host(services={"firewalld": "active"}, firewalld_backend="iptables"), out)
    assert f.id == "firewalld-active" and "flushes the built-in chains" in f.why
    assert doctor.check(host(services={"firewalld": "inactive"}), out) == []
    ufw = {"ENABLED": "yes", "DEFAULT_FORWARD_POLICY": "DROP"}
    f, = doctor.check(host(ufw=ufw), out)
    assert f.id == "ufw-forward-drop" and f.fix[:2] == ("ufw route allow in on docker0", "ufw route allow out on docker0")
    assert doctor.check(host(ufw={**ufw, "DEFAULT_FORWARD_POLICY": "ACCEPT"}), out) == []
    assert doctor.check(host(ufw={**ufw, "ENABLED": "no"}), out) == []
    assert parse_shell_vars('# c\nENABLED=yes\nDEFAULT_FORWARD_POLICY="DROP"\n') == \
        {"ENABLED": "yes", "DEFAULT_FORWARD_POLICY": "DROP"}


def test_ufw_rules_and_its_route_allow_fix(tmp_path):
    out = compiled(tmp_path)
    text = (DATA / "ufw.rules").read_text()
    ufw = {"ENABLED": "yes", "DEFAULT_FORWARD_POLICY": "DROP"}
    f, = doctor.check(host(legacy(text), ufw=ufw), out)   # its rules are loaded: the chain check names them
    assert f.id == "forward-drop" and f.severity == "error" and "(made by ufw)" in f.where
    assert not any(b.startswith("replies") for b in f.breaks)   # ufw accepts established traffic
    assert f.fix[1:] == ("ufw route allow in on docker0", "ufw route allow out on docker0")
    # What `ufw route allow in/out on docker0` adds to ufw-user-forward.
    fixed = text.replace("COMMIT", "-A ufw-user-forward -i docker0 -j ACCEPT\n-A ufw-user-forward -o docker0 -j ACCEPT"
                                   "\nCOMMIT")
    assert doctor.check(host(legacy(fixed), ufw=ufw), out) == []


def test_an_nft_table_with_accepts_for_the_bridges_is_clean(tmp_path):
    out = compiled(tmp_path, backend="nftables")
    data = {"nftables": [
        {"table": {"family": "inet", "name": "other", "handle": 1}},
        {"chain": {"family": "inet", "table": "other", "name": "guard", "handle": 1, "type": "filter",
                   "hook": "forward", "prio": 10, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "other", "chain": "guard", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "docker0"}}, {"accept": None}]}},
        {"rule": {"family": "inet", "table": "other", "chain": "guard", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "docker*"}}, {"accept": None}]}},
        # netc's own table is never judged
        {"table": {"family": "ip", "name": "netc", "handle": 2}},
        {"chain": {"family": "ip", "table": "netc", "name": "x", "handle": 1, "type": "filter",
                   "hook": "forward", "prio": 0, "policy": "drop"}}]}
    assert doctor.check(host(nft(data)), out) == []
    data["nftables"].pop(3)
    f, = doctor.check(host(nft(data)), out)
    assert f.fix[1:3] == ("nft insert rule inet other guard iifname '\"docker0\"' accept",
                          "nft insert rule inet other guard oifname '\"docker0\"' accept")


def _nat_table(priority: int) -> dict:
    return {"nftables": [
        {"table": {"family": "ip", "name": "proxy", "handle": 1}},
        {"chain": {"family": "ip", "table": "proxy", "name": "pre", "handle": 1, "type": "nat",
                   "hook": "prerouting", "prio": priority, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "proxy", "chain": "pre", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": {"set": [22, {"range": [8000, 8100]}]}}},
            {"redirect": {"port": 9999}}]}}]}


@pytest.mark.parametrize("priority,order", [(-150, "runs before netc's"), (-100, "either the publish"),
                                            (0, "runs after netc's")])
def test_a_foreign_dnat_on_a_published_port_and_which_one_wins(tmp_path, priority, order):
    out = compiled(tmp_path)
    f, = doctor.check(host(nft(_nat_table(priority))), out)
    assert f.id == "publish-dnat-conflict" and f.severity == "error" and order in f.why
    assert f.what == "nft table ip proxy sends connections to a port this network publishes (tcp/8080) " \
                     "to port 9999 of this host"
    assert f.fix[0] == "nft delete rule ip proxy pre handle 4"
    # The same rule on other ports is no finding.
    assert doctor.check(host(nft(_nat_table(priority))), compiled(tmp_path, SPEC.replace("8080", "7070"))) == []


def test_a_foreign_masquerade_of_flows_the_spec_keeps(tmp_path):
    rules = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o docker0 -j MASQUERADE\nCOMMIT\n"
    f, = doctor.check(host(legacy(rules)), compiled(tmp_path))
    assert f.id == "foreign-snat" and f.severity == "warning"
    assert any("from outside" in b for b in f.breaks)
    # An uplink masquerade hides nothing the spec keeps, unless ip-masq is false.
    rules = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n"
    assert doctor.check(host(legacy(rules)), compiled(tmp_path)) == []
    f, = doctor.check(host(legacy(rules)), compiled(tmp_path, "daemon { ip-masq false }\n" + SPEC))
    assert f.breaks == ("egress from bridge docker0 (172.17.0.0/16) to outside (netc default: bridge docker0)",)


def test_generic_checks_without_out():
    f, = doctor.check(host(legacy(FORWARD_DROP)), None)
    assert f.id == "forward-drop" and f.severity == "error"
    assert f.breaks == ("forwarded connections (of any container network)",)
    f, = doctor.check(host(legacy((DATA / "docker-legacy.rules").read_text())), None)
    assert f.severity == "warning"
    assert doctor.check(host(), None) == []


# ------------------------------------------------------------------ listeners, routes, addresses

@pytest.mark.parametrize("listener,conflict", [
    (Listener("tcp", "0.0.0.0", 8080, "nginx (pid 7)"), True),
    (Listener("tcp", "*", 8080), True),
    (Listener("tcp", "::", 8080), True),                 # dual-stack
    (Listener("tcp", "127.0.0.1", 8080), True),          # netc's DNAT takes 127.0.0.1 too
    (Listener("tcp", "fe80::1", 8080), False),           # IPv6 only: netc publishes IPv4
    (Listener("udp", "0.0.0.0", 8080), False),
    (Listener("tcp", "0.0.0.0", 8081), False),
])
def test_listeners_on_published_ports(tmp_path, listener, conflict):
    found = doctor.check(host(listeners=(listener,)), compiled(tmp_path))
    assert ids(found) == (["publish-port-in-use"] if conflict else [])
    if conflict and listener.process:
        assert found[0].where == "tcp 0.0.0.0:8080 (nginx (pid 7))" and found[0].lines == ("spec.netc:3",)


def test_listeners_and_a_publish_to_one_address(tmp_path):
    out = compiled(tmp_path, SPEC.replace("8080:80", "127.0.0.1:8000-8002:80-82"))
    assert ids(doctor.check(host(listeners=(Listener("tcp", "127.0.0.1", 8001),)), out)) == ["publish-port-in-use"]
    assert doctor.check(host(listeners=(Listener("tcp", "198.51.100.1", 8001),)), out) == []


def test_parse_ss():
    text = ('tcp   LISTEN 0  128   0.0.0.0:22   0.0.0.0:*  users:(("sshd",pid=812,fd=3))\n'
            'tcp   LISTEN 0  4096  [::]:8080    [::]:*     users:(("docker-proxy",pid=99,fd=4))\n'
            'udp   UNCONN 0  0     127.0.0.53%lo:53  0.0.0.0:*\n'
            'tcp   LISTEN 0  5     *:9000       *:*\n')
    assert parse_ss(text) == (Listener("tcp", "0.0.0.0", 22, "sshd (pid 812)"),
                              Listener("tcp", "::", 8080, "docker-proxy (pid 99)"),
                              Listener("udp", "127.0.0.53", 53), Listener("tcp", "*", 9000))


def _routes(*routes: tuple[str, str | None]) -> tuple[Route, ...]:
    return tuple(Route(IPNetwork(dst), dev, protocol="kernel") for dst, dev in routes)


def test_routes_on_the_spec_subnets(tmp_path):
    out = compiled(tmp_path)   # docker0 172.17.0.0/16, db 172.17.0.2, web 172.17.0.3
    podman = Link("cni-podman0", "bridge", None, True, (IPNetwork("172.17.0.254/16"),))
    f, = doctor.check(host(links=(LO, UPLINK, podman), routes=_routes(("172.17.0.0/16", "cni-podman0"))), out)
    assert f.id == "subnet-overlap" and f.severity == "error" and "Podman" in f.what
    assert f.fix[0] == "ip addr del 172.17.0.254/16 dev cni-podman0"
    assert len(f.breaks) == 2   # both containers
    # A more specific route takes the containers inside it.
    f, = doctor.check(host(routes=(Route(IPNetwork("172.17.0.2/32"), "tun0", gateway="10.8.0.1"),)), out)
    assert f.severity == "error" and f.breaks[0].startswith("traffic to container db")
    assert f.fix[0] == "ip route del 172.17.0.2/32 via 10.8.0.1 dev tun0"
    # A wider route loses part of its range to the bridge.
    f, = doctor.check(host(routes=(Route(IPNetwork("172.16.0.0/12"), "wg0"),)), out)
    assert f.severity == "warning"
    # The default route, netc's own bridge and other subnets are no finding.
    assert doctor.check(host(routes=_routes(("0.0.0.0/0", "eth0"), ("172.17.0.0/16", "docker0"),
                                            ("172.18.0.0/16", "br-x"))), out) == []


def test_addresses_of_the_spec_in_use(tmp_path):
    out = compiled(tmp_path)
    lo = Link("lo", "", None, True, (IPNetwork("127.0.0.1/8"), IPNetwork("172.17.0.3/32")))
    f, = doctor.check(host(links=(lo, UPLINK)), out)
    assert f.id == "address-in-use" and "container web" in f.what
    assert f.breaks[0].startswith("publish 8080/tcp -> web:80") and f.fix[0] == "ip addr del 172.17.0.3/32 dev lo"
    gw = Link("dummy0", "dummy", None, True, (IPNetwork("172.17.42.1/32"),))
    f, = doctor.check(host(links=(LO, UPLINK, gw)), out)
    assert "preflight refuses" in f.why
    # The bridge holding its own gateway (after apply, or an external bridge) is no finding.
    mine = Link("docker0", "bridge", None, True, (IPNetwork("172.17.42.1/16"),))
    assert doctor.check(host(links=(LO, UPLINK, mine), routes=_routes(("172.17.0.0/16", "docker0"))), out) == []


# ------------------------------------------------------------------ sysctls, modules

def test_rp_filter(tmp_path):
    out = compiled(tmp_path)
    ext1 = Link("ext1", "", None, True, (IPNetwork("203.0.113.1/24"),))
    asym = Route(IPNetwork("198.51.100.2/32"), "ext1", gateway="203.0.113.2")
    strict = {"net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.eth0.rp_filter": "0"}
    f, = doctor.check(host(links=(LO, UPLINK, ext1), routes=(asym,), sysctls=strict), out)
    assert f.id == "rp-filter-strict" and f.severity == "error" and "eth0" in f.what
    assert f.fix[0] == "sysctl -w net.ipv4.conf.eth0.rp_filter=2" and f.lines == ("spec.netc:3",)
    # Loose on the interface wins over strict in all (the kernel takes the larger value).
    loose = {**strict, "net.ipv4.conf.eth0.rp_filter": "2"}
    assert doctor.check(host(links=(LO, UPLINK, ext1), routes=(asym,), sysctls=loose), out) == []
    # Strict on an interface without the default route: a warning.
    default = Route(IPNetwork("0.0.0.0/0"), "ext1", gateway="203.0.113.254")
    f, = doctor.check(host(links=(LO, UPLINK, ext1), routes=(default,), sysctls=strict), out)
    assert f.severity == "warning" and "eth0" in f.what
    # A VLAN's name in sysctl keys takes '/' for its dot.
    vlan = Link("eth0.100", "vlan", None, True, (IPNetwork("192.0.2.1/24"),))
    f, = doctor.check(host(links=(LO, vlan, ext1), routes=(default,), sysctls=strict), out)
    assert f.fix[0] == "sysctl -w net.ipv4.conf.eth0/100.rp_filter=2"


def test_br_netfilter(tmp_path):
    f, = doctor.check(host(br_netfilter=False), compiled(tmp_path))
    assert f.id == "br-netfilter-missing" and f.severity == "error" and f.fix[0] == "modprobe br_netfilter"
    assert doctor.check(host(br_netfilter=False), compiled(tmp_path, "daemon { iptables false }\n" + SPEC)) == []
    f, = doctor.check(host(br_netfilter=False), None)
    assert f.severity == "warning"


def _forwarding6(data: dict) -> None:
    data["sysctls"].append({"key": "net.ipv6.conf.all.forwarding", "origin": "spec.netc:1 ipv6", "value": "1"})


def test_accept_ra_lost_when_forwarding_turns_on(tmp_path):
    out = compiled(tmp_path, edit=_forwarding6)
    eth = Link("eth0", "", None, True, (IPNetwork("198.51.100.1/24"), IPNetwork("2001:db8::5/64")),
               dynamic=(IPNetwork("2001:db8::5/64"),))
    ra = Route(IPNetwork("::/0"), "eth0", gateway="fe80::1", protocol="ra")
    sysctls = {"net.ipv6.conf.eth0.accept_ra": "1", "net.ipv6.conf.eth0.forwarding": "0"}
    f, = doctor.check(host(links=(LO, eth), routes=(ra,), sysctls=sysctls), out)
    assert f.id == "accept-ra-lost" and f.fix[0] == "sysctl -w net.ipv6.conf.eth0.accept_ra=2"
    assert doctor.check(host(links=(LO, eth), routes=(ra,), sysctls={**sysctls, "net.ipv6.conf.eth0.accept_ra": "2"}),
                        out) == []
    assert doctor.check(host(links=(LO, eth), routes=(ra,), sysctls=sysctls), compiled(tmp_path)) == []


# ------------------------------------------------------------------ OUT, IPv6, the walk, the output

def test_ipv6_fields_in_netc_json_are_read_and_break_nothing(tmp_path):
    def ipv6(data):
        data["bridges"][0]["network6"] = "fd00:42::/64"
        data["bridges"][0]["address6"] = "fd00:42::1"
        for c in data["containers"]:
            c["address6"] = "fd00:42::" + c["address"].rsplit(".", 1)[1]
            for m in c["mappings"]:
                m["host_ip"] = "::"
    out = compiled(tmp_path, edit=ipv6)
    assert IPNetwork("fd00:42::/64") in out.subnets
    assert {str(p.address) for p in out.publishes} == {"172.17.0.3", "fd00:42::3"}
    six = parse_iptables_save(FORWARD_DROP, "iptables-legacy", "ip6", "ip6tables-legacy")
    f, = doctor.check(host(six), out)   # an ip6 table meets only the IPv6 flows
    assert f.where.startswith("ip6tables-legacy table filter") and all("172.17" not in b for b in f.breaks)
    assert any("fd00:42::/64" in b for b in f.breaks)
    assert doctor.check(host(), out) == []


def test_read_out_errors(tmp_path):
    with pytest.raises(doctor.DoctorError, match="is not a folder"):
        doctor.read_out(str(tmp_path / "nope"))
    with pytest.raises(doctor.DoctorError, match="not an output tree of netc compile"):
        doctor.read_out(str(tmp_path))
    (tmp_path / "netc.json").write_text('{"bridges": 3}')
    with pytest.raises(doctor.DoctorError, match="not the netc.json"):
        doctor.read_out(str(tmp_path))
    (tmp_path / "netc.json").write_text('{"netc": "0.1.0", "bridges": [{"nom": 1}]}')
    with pytest.raises(doctor.DoctorError, match="KeyError"):
        doctor.read_out(str(tmp_path))
    (tmp_path / "netc.json").write_text('{"netc": "0.1.0", "bridges": [{"name": "b", "network": 5}]}')
    with pytest.raises(doctor.DoctorError, match="bridge b has no subnet"):
        doctor.read_out(str(tmp_path))
    good = json.loads(compile_spec(str(write_spec(tmp_path, SPEC)), backend="iptables")[0]["netc.json"])
    good["containers"][1]["mappings"][0]["host_ip"] = "banana"
    (tmp_path / "netc.json").write_text(json.dumps(good))
    with pytest.raises(doctor.DoctorError, match="banana"):
        doctor.read_out(str(tmp_path))


def test_iptables_save_parsing():
    text = ('*filter\n:FORWARD ACCEPT [0:0]\n:MINE - [0:0]\n'
            '-A FORWARD -i veth+ ! -o eth0 -p udp -m multiport --dports 53,5000:5010 -m comment '
            '--comment "a \\"quoted\\" note" -j MINE\n'
            '-A FORWARD -m mark --mark 0x1 -j DROP\n'
            '-A FORWARD -j LOG --log-prefix "x: "\n'
            '-A MINE -m conntrack ! --ctstate NEW -g OTHER\nCOMMIT\n')
    t, = legacy(text)
    fwd = t.chain("FORWARD")
    assert fwd.hook == "forward" and fwd.policy == "accept" and t.chain("MINE").hook is None
    r = fwd.rules[0]
    assert r.verdict == "jump" and r.target == "MINE"
    assert [(c.kind, c.values, c.negate) for c in r.conds] == [
        ("iif", ("veth*",), False), ("oif", ("eth0",), True), ("proto", ("udp",), False),
        ("dport", ((53, 53), (5000, 5010)), False)]
    assert [c.kind for c in fwd.rules[1].conds] == ["other", "other"] and fwd.rules[1].verdict == "drop"
    assert fwd.rules[2].verdict == "continue"          # LOG is no chain: the packet goes on
    assert t.chain("MINE").rules[0].verdict == "continue"  # a goto to a chain that is not there


def test_iptables_save_quoting_is_not_shell_quoting():
    from netc.host.iptables_save import split_words
    line = r'-A FORWARD -p tcp -m comment --comment "it\'s \"odd\" \\ " -j REJECT'
    assert split_words(line) == ["-A", "FORWARD", "-p", "tcp", "-m", "comment", "--comment", "it's \"odd\" \\ ",
                                 "-j", "REJECT"]
    t, = legacy(f"*filter\n:FORWARD ACCEPT [0:0]\n{line}\nCOMMIT\n")
    # printed for a shell: the shell hands iptables the comment as it is
    assert t.chain("FORWARD").rules[0].delete[-3] == "it's \"odd\" \\ "


def test_nft_named_sets_verdict_maps_and_other_families():
    """tests/data/doctor/rich.json: what nft -j prints for sets, maps, vmaps, concatenations,
    limits, quotas, marks, and bridge, netdev and arp tables (made from a ruleset loaded in a
    namespace)."""
    tables = nft(json.loads((DATA / "rich.json").read_text()), (DATA / "rich.nft.txt").read_text())
    rich = next(t for t in tables if t.name == "rich")
    world = World((IPNetwork("172.17.0.0/16"),), ("eth0",))

    def to(port, proto="tcp", src=Addr("net", (IPNetwork("172.17.0.2/32"),))):
        return Packet("4", proto, (port, port), src, Addr("outside"), "docker0", None, "new", False, False)

    def verdicts(chain, p):
        return {(o.verdict, o.certain) for o in walk(rich, chain, p, world)}
    assert verdicts("f1", to(22)) == {("accept", True)}                 # tcp dport vmap @ports: 22 : accept
    assert verdicts("f1", to(23)) == {("drop", True)}                   # 23 : drop
    assert ("drop", False) in verdicts("f1", to(53, "udp"))             # udp 53 : jump s1 (ip6 only), then quota...
    assert ("drop", True) not in verdicts("f1", to(53, "udp"))
    ten = Addr("net", (IPNetwork("10.1.2.3/32"),))
    assert verdicts("p0", to(80, src=ten)) == {("accept", True)}        # ip saddr @allowed accept
    assert [r.text for r in rich.chain("f1").rules[:2]] == ["tcp dport vmap @ports"] * 2
    assert {t.family for t in tables} == {"inet", "bridge", "netdev", "arp"}


def test_bridge_family_chains_and_br_netfilter_priority_zero(tmp_path):
    out = compiled(tmp_path)
    data = {"nftables": [
        {"table": {"family": "bridge", "name": "eb", "handle": 1}},
        {"chain": {"family": "bridge", "table": "eb", "name": "f", "handle": 1, "type": "filter",
                   "hook": "forward", "prio": 0, "policy": "drop"}}]}
    f, = doctor.check(host(nft(data)), out)
    # br_netfilter may skip a bridge chain of priority 0 at forward: a maybe
    assert f.severity == "warning" and f.what == "nft table bridge eb may drop bridged packets of this network"
    assert [b.split(" (")[0] for b in f.breaks] == ["container to container on bridge docker0",
                                                     "link 172.17.0.3 -> 172.17.0.2 tcp/5432"]
    assert f.fix[1] == "nft insert rule bridge eb f iifname '\"ve-*\"' accept"
    f, _ = doctor.check(host(nft(data), br_netfilter=False), out)   # (and br-netfilter-missing)
    assert f.id == "forward-drop" and f.severity == "error"
    data["nftables"].append({"rule": {"family": "bridge", "table": "eb", "chain": "f", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "ve-*"}}, {"accept": None}]}})
    assert doctor.check(host(nft(data)), out) == []


def test_walk_jumps_gotos_returns_and_unknowns():
    text = ('*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n'
            '-A FORWARD -j A\n-A FORWARD -o br0 -j ACCEPT\n'
            '-A A -p udp -j RETURN\n-A A -p tcp -g B\n'
            '-A B -m mark --mark 1 -j ACCEPT\nCOMMIT\n')
    t, = legacy(text)
    world = World((IPNetwork("10.0.0.0/24"),), ("eth0",))
    p = Packet("4", "tcp", (80, 80), Addr("outside"), Addr("net", (IPNetwork("10.0.0.2/32"),)), None, "br0",
               "new", True, False)
    got = {(o.verdict, o.chain, o.certain) for o in walk(t, "FORWARD", p, world)}
    # tcp goes to B (goto): a mark doctor cannot judge may accept; if not, B falls back to
    # FORWARD's caller's next rule: -o br0 accepts for sure. The policy is never reached.
    assert got == {("accept", "B", False), ("accept", "FORWARD", False)}
    udp = Packet("4", "udp", (53, 53), Addr("outside"), Addr("net"), None, "eth0", "new", False, False)
    assert {(o.verdict, o.chain, o.certain) for o in walk(t, "FORWARD", udp, world)} == {("drop", "FORWARD", True)}


def test_render_and_json(tmp_path):
    out = compiled(tmp_path)
    found = doctor.check(host(legacy(FORWARD_DROP)), out)
    text = doctor.render(found)
    assert text.startswith("error: iptables-legacy table filter drops forwarded packets of this network "
                           "[forward-drop]\n    where:  iptables-legacy table filter, chain FORWARD")
    assert "\n    fix:    # accept the bridges' traffic first in FORWARD" in text
    assert doctor.render(found, prefix="netc: warning: ").startswith(
        "netc: warning: iptables-legacy table filter drops forwarded packets of this network [forward-drop, error]")
    report = doctor.Report(out, tuple(found), ("nft: not installed",))
    data = json.loads(doctor.to_json(report))
    assert data["findings"][0]["id"] == "forward-drop" and data["skipped"] == ["nft: not installed"]
    assert set(data["findings"][0]) == {"id", "severity", "what", "where", "why", "breaks", "lines", "fix"}
    assert doctor.render_report(doctor.Report(out, (), ())).startswith("netc doctor: no findings for ")


def test_doctor_needs_root_and_says_so(tmp_path, monkeypatch):
    out = compiled(tmp_path)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(doctor.DoctorError, match="doctor needs root"):
        doctor.run(out.path)


def test_apply_strict_without_netc_json_changes_nothing(tmp_path):
    import os
    if os.geteuid() != 0:
        pytest.skip("apply runs doctor as root only")
    out = tmp_path / "out"
    out.mkdir()
    (out / "apply.sh").write_text(f"touch {tmp_path / 'ran'}\n")
    r = netc("apply", str(out), "--strict")
    assert r.returncode == 2 and "apply --strict: doctor cannot check this host" in r.stderr
    assert "nothing was changed" in r.stderr and not (tmp_path / "ran").exists()
    r = netc("apply", str(out))   # not a netc tree: applied unchecked, as before doctor
    assert r.returncode == 0 and r.stderr == "" and (tmp_path / "ran").exists()


def test_doctor_command_line(tmp_path):
    r = netc("doctor", "--help")
    assert r.returncode == 0 and "without changing anything" in " ".join(r.stdout.split())
    r = netc("doctor", str(tmp_path / "missing"), "--json")
    assert r.returncode == 2 and r.stderr == f"netc: error: {tmp_path / 'missing'} is not a folder: give the " \
                                             "folder `netc compile -o` wrote\n"
    r = netc("apply", "--help")
    assert "--strict" in r.stdout
