"""Unit tests of the front end (parse, build, resolve) through `netc.pipeline.load`.

One test per construct and per allocation rule of LANGUAGE.md. The exact
wording and position of error messages is covered by the golden files in
golden/errors/ (test_diagnostics.py); here an error is checked by a fragment
of its message and its line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from netaddr import EUI, IPAddress, IPNetwork

from netc.diagnostics import CompileFailed
from netc.resolve.lock import Lock
from netc.values import NetKind, PortRange, Proto
from netc.pipeline import load


def spec(tmp_path: Path, text: str, name: str = "spec.netc") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def ok(tmp_path: Path, text: str, **kw):
    """Load a spec that must compile; returns the Loaded result."""
    try:
        return load(spec(tmp_path, text), **kw)
    except CompileFailed as exc:
        pytest.fail("unexpected errors:\n" + "\n".join(f"{d.span}: {d.message}" for d in exc.diagnostics))


def errors(tmp_path: Path, text: str, **kw) -> list[tuple[int, str]]:
    """Load a spec that must fail; returns (line, message) of every error."""
    with pytest.raises(CompileFailed) as info:
        load(spec(tmp_path, text), **kw)
    return [(d.span.line if d.span else 0, d.message) for d in info.value.diagnostics if d.severity == "error"]


def warnings(loaded) -> list[tuple[int, str]]:
    return [(d.span.line if d.span else 0, d.message) for d in loaded.diagnostics if d.severity == "warning"]


def has(found: list[tuple[int, str]], line: int, fragment: str) -> bool:
    return any(ln == line and fragment in msg for ln, msg in found)


def mappings(container) -> list[tuple[str, str, str, int, int]]:
    """(host ip, proto, 'drawn'/'fixed', host port, container port), one per port."""
    out = []
    for m in container.mappings:
        for hp, cp in zip(m.host_ports, m.container_ports):
            out.append((str(m.host_ip), str(m.proto), "drawn" if m.drawn else "fixed", hp, cp))
    return out


# ---------------------------------------------------------------- statements and options

EVERY_OPTION = """\
host {
    nameserver 192.0.2.53
    nameserver 127.0.0.53
    search corp.example lab.example
    options ndots:2 timeout:1
    route 10.0.0.0/8
}
daemon {
    bridge docker0
    bip 172.17.42.1/16
    fixed-cidr 172.17.0.0/17
    mtu 1400
    icc false
    iptables true
    ip-forward true
    ip-masq false
    ip 0.0.0.0
    port-range 50000-50100
    dns 198.51.100.53
    dns-search example.com
}
bridge br1 {
    bip 192.168.7.1/24
    fixed-cidr 192.168.7.128/25
    mtu 9000
    icc true
}
bridge br2 {
    bip 192.168.8.1/24
    external
}
container db {
    expose 5432/tcp
}
container web {
    net bridge
    hostname web.example.com
    ip 172.17.0.10
    mac 02:42:ac:11:00:99
    expose 7000-7002,9000/udp
    publish 8080:80
    publish-all
    link db:database
    dns 192.0.2.1
    dns-search svc.example
    dns-option edns0
    add-host registry:192.0.2.10
}
container app { net br1 }
container legacy { net br2; netns /var/run/netns/legacy }
container a { net none }
container b { net none }
p2p a b {
    a 10.1.1.1/32 iface p2p0
    b 10.1.1.2/32
}
"""


def test_every_statement_and_option(tmp_path):
    net = ok(tmp_path, EVERY_OPTION).network
    docker0, br1, br2 = net.bridge("docker0"), net.bridge("br1"), net.bridge("br2")
    assert (docker0.address, docker0.network, docker0.mtu, docker0.icc, docker0.default) == \
        (IPAddress("172.17.42.1"), IPNetwork("172.17.0.0/16"), 1400, False, True)
    assert (br1.address, br1.mtu, br1.icc, br1.external) == (IPAddress("192.168.7.1"), 9000, True, False)
    assert br2.external and br2.icc is False and br2.mtu == 1400  # icc and mtu come from the daemon
    assert net.firewall is True
    assert not any(type(r).__name__ == "Masquerade" for r in net.rules)  # ip-masq false
    assert any(s.key == "net.ipv4.ip_forward" for s in net.sysctls)

    web = net.container("web")
    assert web.address == IPAddress("172.17.0.10") and web.mac == EUI("02:42:ac:11:00:99")
    assert web.hostname == "web.example.com"
    assert web.nameservers == (IPAddress("192.0.2.1"),) and web.search == ("svc.example",)
    assert web.options == ("edns0",)
    assert web.add_hosts == (("registry", IPAddress("192.0.2.10")),)
    # fixed-cidr 172.17.0.0/17 hands out its network+1 first
    assert [(l.target, l.alias, l.address) for l in web.links] == [("db", "database", IPAddress("172.17.0.1"))]
    assert mappings(web) == [
        ("0.0.0.0", "tcp", "fixed", 8080, 80),
        ("0.0.0.0", "tcp", "drawn", 50000, 7000),
        ("0.0.0.0", "tcp", "drawn", 50001, 7001),
        ("0.0.0.0", "tcp", "drawn", 50002, 7002),
        ("0.0.0.0", "udp", "drawn", 50000, 9000),
    ]
    app = net.container("app")
    assert app.bridge == "br1" and app.address == IPAddress("192.168.7.129") and app.mtu == 9000
    legacy = net.container("legacy")
    assert legacy.netns == "legacy" and legacy.netns_path == "/var/run/netns/legacy"
    (p2p,) = net.p2ps
    assert (p2p.a.container, p2p.a.iface, str(p2p.a.address), p2p.a.peer) == \
        ("a", "p2p0", "10.1.1.1/32", IPAddress("10.1.1.2"))
    assert (p2p.b.container, p2p.b.iface, p2p.b.peer) == ("b", "p2p-a", IPAddress("10.1.1.1"))


def test_iptables_false_and_ip_forward_false(tmp_path):
    net = ok(tmp_path, "daemon { iptables false; ip-forward false }\ncontainer a {}\n").network
    assert net.firewall is False and net.rules == ()
    assert not any(s.key == "net.ipv4.ip_forward" for s in net.sysctls)


def test_one_line_blocks_semicolons_and_comments(tmp_path):
    text = ("# a comment on its own line\n"
            "container db { expose 5432 }   # a comment after a block\n"
            "container web { link db; publish 8080:80 ; hostname web }; container x {}\n"
            "\n;;\n"
            "container y {\n  # a comment inside a block\n  expose 80 # and after an option\n}\n")
    net = ok(tmp_path, text).network
    assert [c.name for c in net.containers] == ["db", "web", "x", "y"]
    assert net.container("web").hostname == "web"
    assert net.container("y").exposed == ((Proto.TCP, PortRange(80, 80)),)


def test_quoted_strings(tmp_path):
    text = 'container "web" { hostname "web.example.com"; netns "/var/run/netns/a-b" }\n' \
           'container db { link "web:alias" }\n'
    net = ok(tmp_path, text).network
    assert net.container("web").hostname == "web.example.com"
    assert net.container("web").netns_path == "/var/run/netns/a-b"
    assert net.container("db").links[0].alias == "alias"


def test_a_hash_inside_a_string_is_not_a_comment(tmp_path):
    found = errors(tmp_path, 'container a { hostname "a#b" }\n')
    assert has(found, 1, "invalid hostname 'a#b'")


def test_keywords_are_words_inside_blocks(tmp_path):
    # `host`, `bridge`, `container` are keywords only where a statement starts.
    text = "container host { net bridge }\ncontainer bridge {}\ncontainer p2p { net container:host }\n"
    net = ok(tmp_path, text).network
    assert net.container("p2p").shares == "host"


def test_crlf_line_ends_and_bom(tmp_path):
    path = tmp_path / "spec.netc"
    path.write_bytes(b"\xef\xbb\xbfcontainer a {\r\n  expose 80\r\n}\r\ncontainer b {}\r\n")
    net = load(str(path)).network
    assert [c.name for c in net.containers] == ["a", "b"]


def test_empty_spec_still_has_docker0(tmp_path):
    net = ok(tmp_path, "# nothing here\n").network
    assert [b.name for b in net.bridges] == ["docker0"] and net.containers == ()


def test_keywords_are_case_sensitive(tmp_path):
    found = errors(tmp_path, "Container a {}\n")
    assert has(found, 1, "unknown statement 'Container'; did you mean 'container'?")


# ---------------------------------------------------------------- include

def test_include_is_relative_to_the_including_file(tmp_path):
    spec(tmp_path, 'include "common/base.netc"\ncontainer web { link db }\n')
    spec(tmp_path, 'include "db.netc"\ndaemon { icc false }\n', "common/base.netc")
    spec(tmp_path, "container db { expose 5432 }\n", "common/db.netc")
    net = load(str(tmp_path / "spec.netc")).network
    assert [c.name for c in net.containers] == ["db", "web"]  # source order: the include splices in place
    assert net.bridge("docker0").icc is False


def test_include_cycle_is_an_error(tmp_path):
    spec(tmp_path, 'include "b.netc"\n', "a.netc")
    spec(tmp_path, 'include "a.netc"\n', "b.netc")
    with pytest.raises(CompileFailed) as info:
        load(str(tmp_path / "a.netc"))
    (d,) = info.value.diagnostics
    assert "include cycle" in d.message and d.span.file.endswith("b.netc") and d.span.line == 1


def test_include_of_a_missing_file_is_an_error(tmp_path):
    found = errors(tmp_path, 'container a {}\ninclude "nope.netc"\n')
    assert has(found, 2, "nope.netc': No such file or directory")


def test_including_a_file_twice_is_an_error(tmp_path):
    spec(tmp_path, "container a {}\n", "a.netc")
    found = errors(tmp_path, 'include "a.netc"\ninclude "./a.netc"\n')
    assert [line for line, _ in found] == [2] and has(found, 2, "a.netc' is already included")


def test_errors_in_included_files_name_that_file(tmp_path):
    spec(tmp_path, "container b {\n  pubish 80\n}\n", "inc/b.netc")
    with pytest.raises(CompileFailed) as info:
        load(spec(tmp_path, 'include "inc/b.netc"\ncontainer a { frob }\n'))
    where = [(Path(d.span.file).name, d.span.line) for d in info.value.diagnostics]
    assert where == [("spec.netc", 2), ("b.netc", 2)]  # the main spec first, then in the order files were read


# ---------------------------------------------------------------- addresses

def test_first_container_of_docker0(tmp_path):
    net = ok(tmp_path, "container a {}\ncontainer b {}\n").network
    a, b = net.container("a"), net.container("b")
    assert net.bridge("docker0").cidr == "172.17.42.1/16"
    assert (a.address, a.prefixlen, a.gateway) == (IPAddress("172.17.0.2"), 16, IPAddress("172.17.42.1"))
    assert str(a.mac) == "02:42:ac:11:00:02" and a.mac == EUI("02:42:ac:11:00:02")
    assert b.address == IPAddress("172.17.0.3") and str(b.mac) == "02:42:ac:11:00:03"
    assert a.mtu == 1500 and a.host_veth == "ve-a" and a.netns == "netc-a"


def test_addresses_in_source_order_after_pinned_ones(tmp_path):
    net = ok(tmp_path, "container a {}\ncontainer b { ip 172.17.0.2 }\ncontainer c {}\n").network
    assert [str(c.address) for c in net.containers] == ["172.17.0.3", "172.17.0.2", "172.17.0.4"]


def test_fixed_cidr_starts_at_its_network_plus_one(tmp_path):
    net = ok(tmp_path, "daemon { fixed-cidr 172.17.5.0/24 }\ncontainer a {}\ncontainer b {}\n").network
    assert [str(c.address) for c in net.containers] == ["172.17.5.1", "172.17.5.2"]


def test_the_gateway_is_never_handed_out(tmp_path):
    # network+2 is the gateway here: the first container gets network+3.
    net = ok(tmp_path, "daemon { bip 10.20.0.2/24 }\ncontainer a {}\n").network
    assert net.container("a").address == IPAddress("10.20.0.3")
    # fixed-cidr's network+1 is the gateway: skipped as well.
    net = ok(tmp_path, "daemon { bip 10.30.0.1/16; fixed-cidr 10.30.0.0/24 }\ncontainer a {}\n").network
    assert net.container("a").address == IPAddress("10.30.0.2")


def test_the_broadcast_address_is_never_handed_out(tmp_path):
    # 10.9.0.0/30: .1 is the gateway, .2 the only address, .3 the broadcast.
    found = errors(tmp_path, "daemon { bip 10.9.0.1/30 }\ncontainer a {}\ncontainer b {}\n")
    assert has(found, 3, "no free address for container 'b'")


def test_pinned_mac_and_mac_per_address(tmp_path):
    net = ok(tmp_path, "daemon { bip 10.1.2.1/24 }\ncontainer a {}\ncontainer b { mac 02:00:00:00:00:01 }\n").network
    assert str(net.container("a").mac) == "02:42:0a:01:02:02"
    assert str(net.container("b").mac) == "02:00:00:00:00:01"


# ---------------------------------------------------------------- bridge subnets

@pytest.mark.parametrize("host,expected", [
    ("", "172.17.42.1/16"),
    ("route 172.17.0.0/16", "10.0.42.1/16"),
    ("route 172.17.128.0/24", "10.0.42.1/16"),          # a smaller route inside the candidate
    ("route 172.0.0.0/8", "10.0.42.1/16"),              # a larger route around it
    ("nameserver 172.17.0.1", "10.0.42.1/16"),          # a nameserver inside the candidate
    ("nameserver 172.17.0.1; route 10.0.0.0/16", "10.1.42.1/16"),
    ("route 172.16.0.0/12; route 10.0.0.0/8", "192.168.42.1/24"),
    ("nameserver 192.0.2.53; route 198.51.100.0/24", "172.17.42.1/16"),  # unrelated facts
])
def test_bip_candidates_skip_host_routes_and_nameservers(tmp_path, host, expected):
    net = ok(tmp_path, f"host {{ {host} }}\ncontainer a {{}}\n").network
    assert net.bridge("docker0").cidr == expected


def test_no_free_bip_candidate(tmp_path):
    found = errors(tmp_path, "host { route 0.0.0.0/0 }\n")
    assert has(found, 1, "could not find a free IP address range for bridge 'docker0'")


def test_second_bridge_takes_the_next_free_candidate(tmp_path):
    net = ok(tmp_path, "bridge br1 {}\nbridge br2 {}\ncontainer a { net br2 }\n").network
    assert [b.cidr for b in net.bridges] == ["172.17.42.1/16", "10.0.42.1/16", "10.1.42.1/16"]
    assert net.container("a").address == IPAddress("10.1.0.2")


def test_bridges_inherit_daemon_icc_and_mtu_but_not_bip_or_fixed_cidr(tmp_path):
    text = "daemon { bip 10.50.0.1/16; fixed-cidr 10.50.1.0/24; icc false; mtu 1450 }\n" \
           "bridge br1 {}\ncontainer a { net br1 }\n"
    net = ok(tmp_path, text).network
    br1 = net.bridge("br1")
    assert (br1.icc, br1.mtu, br1.cidr) == (False, 1450, "172.17.42.1/16")
    assert net.container("a").address == IPAddress("172.17.0.2")


def test_a_bridge_block_named_like_the_daemon_bridge_configures_it(tmp_path):
    net = ok(tmp_path, "daemon { bridge br0 }\nbridge br0 { bip 10.3.0.1/24 }\ncontainer a {}\n").network
    assert [(b.name, b.cidr, b.default) for b in net.bridges] == [("br0", "10.3.0.1/24", True)]
    assert net.container("a").bridge == "br0"


# ---------------------------------------------------------------- host ports

def test_drawn_ports_per_host_ip_and_protocol(tmp_path):
    text = ("container a {\n"
            "  publish 80\n"               # 0.0.0.0 tcp: 49153
            "  publish 53/udp\n"           # 0.0.0.0 udp: 49153 (another protocol)
            "  publish 127.0.0.1::81\n"    # 127.0.0.1 tcp: 49153 is taken on 0.0.0.0, which overlaps: 49154
            "  publish 127.0.0.2::82\n"    # 127.0.0.2 tcp: 49154 as well (127.0.0.1 is another address)
            "}\n")
    net = ok(tmp_path, text).network
    assert mappings(net.container("a")) == [
        ("0.0.0.0", "tcp", "drawn", 49153, 80),
        ("0.0.0.0", "udp", "drawn", 49153, 53),
        ("127.0.0.1", "tcp", "drawn", 49154, 81),
        ("127.0.0.2", "tcp", "drawn", 49154, 82),   # 49153 is taken on 0.0.0.0; 127.0.0.1 does not overlap
    ]


def test_specific_addresses_first_then_any(tmp_path):
    text = "container a {\n  publish 127.0.0.1::81\n  publish 127.0.0.2::82\n  publish 80\n}\n"
    net = ok(tmp_path, text).network
    assert mappings(net.container("a")) == [
        ("127.0.0.1", "tcp", "drawn", 49153, 81),
        ("127.0.0.2", "tcp", "drawn", 49153, 82),
        ("0.0.0.0", "tcp", "drawn", 49154, 80),    # 0.0.0.0 overlaps both
    ]


def test_explicit_host_ports_are_reserved_before_drawing(tmp_path):
    text = "container a { publish 80 }\ncontainer b { publish 49153:80; publish 127.0.0.1:49154:81 }\n"
    net = ok(tmp_path, text).network
    assert mappings(net.container("a")) == [("0.0.0.0", "tcp", "drawn", 49155, 80)]


def test_port_range_bounds_drawing(tmp_path):
    net = ok(tmp_path, "daemon { port-range 60000-60001 }\ncontainer a { publish 80; publish 81 }\n").network
    assert [m[3] for m in mappings(net.container("a"))] == [60000, 60001]
    found = errors(tmp_path, "daemon { port-range 60000-60001 }\ncontainer a { publish 80; publish 81; publish 82 }\n")
    assert has(found, 2, "all ports are allocated")


def test_daemon_ip_is_the_default_host_address(tmp_path):
    text = "daemon { ip 198.51.100.1 }\ncontainer a { publish 8080:80; publish 0.0.0.0:8081:81; publish 82 }\n"
    net = ok(tmp_path, text).network
    assert mappings(net.container("a")) == [
        ("198.51.100.1", "tcp", "fixed", 8080, 80),
        ("0.0.0.0", "tcp", "fixed", 8081, 81),
        ("198.51.100.1", "tcp", "drawn", 49153, 82),
    ]


def test_publish_ranges_map_port_by_port(tmp_path):
    net = ok(tmp_path, "container a { publish 8000-8002:80-82 }\n").network
    assert mappings(net.container("a")) == [("0.0.0.0", "tcp", "fixed", 8000 + i, 80 + i) for i in range(3)]
    assert net.container("a").exposed == ((Proto.TCP, PortRange(80, 82)),)


def test_publish_all_order_skips_explicit_publishes(tmp_path):
    text = ("container a {\n"
            "  expose 9000/udp\n"
            "  expose 9000/tcp,80\n"
            "  expose 8000-8001\n"
            "  expose 443/udp\n"
            "  publish 8080:80\n"          # 80/tcp published explicitly: publish-all leaves it
            "  publish 8443:443/tcp\n"     # 443/tcp, not 443/udp
            "  publish-all\n"
            "}\n")
    net = ok(tmp_path, text).network
    drawn = [(m[1], m[4], m[3]) for m in mappings(net.container("a")) if m[2] == "drawn"]
    # ascending container port, tcp before udp for the same port
    assert drawn == [("udp", 443, 49153), ("tcp", 8000, 49153), ("tcp", 8001, 49154),
                     ("tcp", 9000, 49155), ("udp", 9000, 49154)]


def test_publish_all_false_and_flag_forms(tmp_path):
    net = ok(tmp_path, "container a { expose 80; publish-all false }\ncontainer b { expose 80; publish-all true }\n").network
    assert mappings(net.container("a")) == []
    assert mappings(net.container("b")) == [("0.0.0.0", "tcp", "drawn", 49153, 80)]


# ---------------------------------------------------------------- the lock

def test_lock_keeps_addresses_and_ports_when_a_container_is_inserted_first(tmp_path):
    first = ok(tmp_path, "container a { publish 80 }\ncontainer b { expose 90; publish-all }\n")
    assert first.lock.addresses == {"a": "172.17.0.2", "b": "172.17.0.3"}
    assert first.lock.ports == {"a": {"tcp:0.0.0.0:80": 49153}, "b": {"tcp:0.0.0.0:90": 49154}}
    assert first.lock.bridges == {"docker0": "172.17.42.1/16"}
    second = ok(tmp_path, "container new { publish 80 }\ncontainer a { publish 80 }\n"
                          "container b { expose 90; publish-all }\n", lock=first.lock)
    net = second.network
    assert net.container("a").address == IPAddress("172.17.0.2")
    assert net.container("b").address == IPAddress("172.17.0.3")
    assert net.container("new").address == IPAddress("172.17.0.4")
    assert mappings(net.container("a")) == [("0.0.0.0", "tcp", "drawn", 49153, 80)]
    assert mappings(net.container("b")) == [("0.0.0.0", "tcp", "drawn", 49154, 90)]
    assert mappings(net.container("new")) == [("0.0.0.0", "tcp", "drawn", 49155, 80)]


def test_lock_keeps_addresses_when_a_container_is_removed(tmp_path):
    first = ok(tmp_path, "container a {}\ncontainer b {}\n")
    second = ok(tmp_path, "container b {}\ncontainer c {}\n", lock=first.lock)
    assert [str(c.address) for c in second.network.containers] == ["172.17.0.3", "172.17.0.2"]
    assert "a" not in second.lock.addresses


def test_lock_gives_way_to_a_pinned_address_and_an_explicit_port(tmp_path):
    first = ok(tmp_path, "container a { publish 80 }\n")
    second = ok(tmp_path, "container b { ip 172.17.0.2; publish 49153:80 }\ncontainer a { publish 80 }\n",
                lock=first.lock)
    a = second.network.container("a")
    assert a.address == IPAddress("172.17.0.3")
    assert mappings(a) == [("0.0.0.0", "tcp", "drawn", 49154, 80)]


def test_lock_value_out_of_range_is_reallocated(tmp_path):
    lock = Lock(addresses={"a": "10.99.0.5"}, ports={"a": {"tcp:0.0.0.0:80": 80}})
    net = ok(tmp_path, "container a { publish 80 }\n", lock=lock).network
    assert net.container("a").address == IPAddress("172.17.0.2")
    assert mappings(net.container("a")) == [("0.0.0.0", "tcp", "drawn", 49153, 80)]


def test_lock_file_beside_the_spec_is_read(tmp_path):
    (tmp_path / "spec.lock").write_text(Lock(addresses={"a": "172.17.0.9"}).to_text())
    net = ok(tmp_path, "container a {}\n").network
    assert net.container("a").address == IPAddress("172.17.0.9")


def test_frozen_fails_when_the_lock_would_change(tmp_path):
    first = ok(tmp_path, "container a { publish 80 }\n")
    text = "container a { publish 80 }\ncontainer b {}\n"
    with pytest.raises(CompileFailed) as info:
        load(spec(tmp_path, text), lock=first.lock, frozen=True)
    (d,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert "--frozen" in d.message and "address of b: (none) -> 172.17.0.3" in d.message


def test_frozen_passes_when_the_lock_is_current(tmp_path):
    first = ok(tmp_path, "container a { publish 80 }\ncontainer b {}\n")
    again = load(spec(tmp_path, "container a { publish 80 }\ncontainer b {}\n"), lock=first.lock, frozen=True)
    assert again.lock == first.lock
    # frozen with no lock at all fails: everything would be new
    with pytest.raises(CompileFailed):
        load(spec(tmp_path, "container a {}\n"), lock=Lock(), frozen=True)


def test_frozen_passes_when_nothing_is_allocated(tmp_path):
    loaded = load(spec(tmp_path, "daemon { bip 10.4.0.1/24 }\ncontainer a { ip 10.4.0.5; publish 8080:80 }\n"),
                  lock=Lock(), frozen=True)
    assert loaded.lock == Lock()


# ---------------------------------------------------------------- resolv.conf, hostname

def resolver(c) -> tuple[list[str], list[str], list[str]]:
    return [str(n) for n in c.nameservers], list(c.search), list(c.options)


HOST = "host { nameserver 127.0.0.53; nameserver ::1; nameserver 192.0.2.1; search corp.example; options ndots:3 }\n"


def test_resolv_conf_container_dns_wins(tmp_path):
    net = ok(tmp_path, HOST + "daemon { dns 192.0.2.2; dns-search d.example }\n"
                              "container a { dns 192.0.2.3; dns-search c.example; dns-option edns0 }\n").network
    assert resolver(net.container("a")) == (["192.0.2.3"], ["c.example"], ["edns0"])


def test_resolv_conf_daemon_dns_next(tmp_path):
    net = ok(tmp_path, HOST + "daemon { dns 192.0.2.2; dns 192.0.2.4; dns-search d.example }\ncontainer a {}\n").network
    assert resolver(net.container("a")) == (["192.0.2.2", "192.0.2.4"], ["d.example"], ["ndots:3"])


def test_resolv_conf_host_without_localhost_next(tmp_path):
    net = ok(tmp_path, HOST + "container a {}\n").network
    assert resolver(net.container("a")) == (["192.0.2.1"], ["corp.example"], ["ndots:3"])


def test_resolv_conf_falls_back_to_google(tmp_path):
    net = ok(tmp_path, "host { nameserver 127.0.0.1; nameserver ::1 }\ncontainer a {}\n").network
    assert resolver(net.container("a")) == (["8.8.8.8", "8.8.4.4"], [], [])
    net = ok(tmp_path, "container a {}\n").network  # no host block: hermetic
    assert resolver(net.container("a")) == (["8.8.8.8", "8.8.4.4"], [], [])


def test_localhost_nameservers_are_dropped_with_only_dns_search_or_option(tmp_path):
    """docs/choices.md: where netc departs from Docker, which keeps the host's unreachable
    127.0.0.53 when the container gives only dns-search or dns-option."""
    host = "host { nameserver 127.0.0.53; nameserver 127.0.0.1 }\n"
    net = ok(tmp_path, host + "container a { dns-search corp.example }\ncontainer b { dns-option ndots:2 }\n"
                              "container c { dns 127.0.0.53 }\n").network
    assert resolver(net.container("a")) == (["8.8.8.8", "8.8.4.4"], ["corp.example"], [])
    assert resolver(net.container("b")) == (["8.8.8.8", "8.8.4.4"], [], ["ndots:2"])
    assert resolver(net.container("c"))[0] == ["127.0.0.53"]   # asked for by name: kept


def test_dns_search_dot_means_none(tmp_path):
    net = ok(tmp_path, HOST + "daemon { dns-search d.example }\ncontainer a { dns-search . }\n"
                              "container b { dns-search example.org. }\n").network
    assert net.container("a").search == ()
    assert net.container("b").search == ("example.org",)  # a trailing dot is dropped, as Docker does
    net = ok(tmp_path, HOST + "daemon { dns-search . }\ncontainer a {}\n").network
    assert net.container("a").search == ()


def test_hostname_defaults_to_the_container_name(tmp_path):
    net = ok(tmp_path, "container web {}\ncontainer db { hostname db.example.com }\n").network
    assert net.container("web").hostname == "web"
    assert net.container("db").hostname == "db.example.com"


# ---------------------------------------------------------------- net modes

def test_net_container_shares_the_owners_stack(tmp_path):
    text = ("container web { hostname www.example.com; dns 192.0.2.9; add-host r:192.0.2.10; netns /var/run/netns/w }\n"
            "container side { net container:web }\n"
            "container side2 { net container:side }\n")
    net = ok(tmp_path, text).network
    web, side, side2 = net.container("web"), net.container("side"), net.container("side2")
    for c in (side, side2):
        assert c.mode is NetKind.CONTAINER and c.shares == "web"
        assert (c.address, c.netns, c.netns_path, c.hostname) == (web.address, "w", "/var/run/netns/w", "www.example.com")
        assert c.nameservers == (IPAddress("192.0.2.9"),) and c.add_hosts == web.add_hosts
        assert c.host_veth is None and c.mac is None
    assert len([c for c in net.containers if c.host_veth]) == 1


def test_net_none_and_host(tmp_path):
    net = ok(tmp_path, "container n { net none }\ncontainer h { net host }\n").network
    n, h = net.container("n"), net.container("h")
    assert (n.mode, n.address, n.netns, n.host_veth, n.bridge) == (NetKind.NONE, None, "netc-n", None, None)
    assert (h.mode, h.address, h.netns, h.host_veth) == (NetKind.HOST, None, None, None)


def test_net_none_keeps_its_own_files_settings(tmp_path):
    loaded = ok(tmp_path, "container n { net none; hostname box; dns 192.0.2.5; add-host r:192.0.2.10; "
                          "netns /var/run/netns/existing }\n")
    n = loaded.network.container("n")
    assert (n.hostname, n.nameservers, n.add_hosts, n.netns) == \
        ("box", (IPAddress("192.0.2.5"),), (("r", IPAddress("192.0.2.10")),), "existing")
    assert warnings(loaded) == []


def test_netns_prefix(tmp_path):
    net = ok(tmp_path, "container a {}\ncontainer b { netns /proc/1234/ns/net }\n", netns_prefix="t1-").network
    assert net.container("a").netns == "t1-a"
    assert (net.container("b").netns, net.container("b").netns_path) == ("t1-b", "/proc/1234/ns/net")


@pytest.mark.parametrize("mode,option,line_text", [
    ("none", "publish", "publish 80"),
    ("none", "publish-all", "publish-all"),
    ("none", "mac", "mac 02:42:00:00:00:01"),
    ("host", "publish", "publish 8080:80"),
    ("host", "publish-all", "publish-all"),
    ("host", "mac", "mac 02:42:00:00:00:01"),
    ("host", "add-host", "add-host r:192.0.2.10"),
    ("host", "dns-search", "dns-search example.com"),
    ("host", "dns-option", "dns-option edns0"),
    ("container:x", "dns-search", "dns-search example.com"),
    ("container:x", "dns-option", "dns-option edns0"),
])
def test_warnings_for_ignored_options(tmp_path, mode, option, line_text):
    loaded = ok(tmp_path, f"container x {{}}\ncontainer c {{\n  net {mode}\n  {line_text}\n}}\n")
    assert [(line, msg.split(": ")[0]) for line, msg in warnings(loaded)] == \
        [(4, f"{option} has no effect with net {mode}")]


def test_link_from_net_none_writes_only_a_hosts_line(tmp_path):
    loaded = ok(tmp_path, "container db { expose 5432 }\ncontainer n { net none; link db }\n")
    assert [line for line, _ in warnings(loaded)] == [2]
    n = loaded.network.container("n")
    assert [(l.target, l.address) for l in n.links] == [("db", IPAddress("172.17.0.2"))]
    assert not any(type(r).__name__ == "LinkAccept" for r in loaded.network.rules)


def test_net_host_resolver_is_the_hosts_own(tmp_path):
    net = ok(tmp_path, HOST + "daemon { dns 192.0.2.2 }\ncontainer h { net host; dns-search x.example }\n").network
    assert resolver(net.container("h")) == (["127.0.0.53", "::1", "192.0.2.1"], ["corp.example"], ["ndots:3"])


@pytest.mark.parametrize("mode,line_text,fragment", [
    ("none", "ip 172.17.0.9", "ip cannot be used with net none"),
    ("host", "ip 172.17.0.9", "ip cannot be used with net host"),
    ("host", "hostname h", "hostname cannot be used with net host"),
    ("host", "dns 192.0.2.1", "dns cannot be used with net host"),
    ("host", "link x", "link cannot be used with net host"),
    ("host", "netns /var/run/netns/x", "netns cannot be used with net host"),
    ("container:x", "publish 80", "publish cannot be used with net container:x"),
    ("container:x", "publish-all", "publish-all cannot be used with net container:x"),
    ("container:x", "link x", "link cannot be used with net container:x"),
    ("container:x", "hostname h", "hostname cannot be used with net container:x"),
    ("container:x", "dns 192.0.2.1", "dns cannot be used with net container:x"),
    ("container:x", "ip 172.17.0.9", "ip cannot be used with net container:x"),
    ("container:x", "mac 02:42:00:00:00:01", "mac cannot be used with net container:x"),
    ("container:x", "add-host r:192.0.2.1", "add-host cannot be used with net container:x"),
    ("container:x", "netns /var/run/netns/x", "netns cannot be used with net container:x"),
])
def test_options_docker_refuses_per_net_mode(tmp_path, mode, line_text, fragment):
    found = errors(tmp_path, f"container x {{}}\ncontainer c {{\n  net {mode}\n  {line_text}\n}}\n")
    assert [(line, msg[:len(fragment)]) for line, msg in found] == [(4, fragment)]


def test_no_follow_on_messages_after_an_unknown_net_target(tmp_path):
    found = errors(tmp_path, "container c {\n  net container:nope\n  link d\n  publish 80\n}\ncontainer d {}\n")
    assert [line for line, _ in found] == [2]


# ---------------------------------------------------------------- links, p2p, interfaces

def test_link_alias_defaults_to_the_name(tmp_path):
    net = ok(tmp_path, "container db { expose 5432 }\ncontainer web { link db }\n").network
    (link,) = net.container("web").links
    assert (link.target, link.alias) == ("db", "db")


def test_link_to_a_net_container_uses_the_owners_address(tmp_path):
    text = "container db {}\ncontainer side { net container:db; expose 9000 }\ncontainer web { link side:s }\n"
    net = ok(tmp_path, text).network
    (link,) = net.container("web").links
    assert (link.target, link.alias, link.address) == ("side", "s", IPAddress("172.17.0.2"))


def test_link_across_bridges_is_an_error(tmp_path):
    found = errors(tmp_path, "bridge br1 {}\ncontainer db { net br1 }\ncontainer web { link db }\n")
    assert has(found, 3, "cannot link to 'db': it is on bridge 'br1'")


def test_veth_names(tmp_path):
    text = "container a {}\ncontainer twelve-chars {}\ncontainer a-very-long-container-name {}\n"
    net = ok(tmp_path, text).network
    names = [c.host_veth for c in net.containers]
    assert names[:2] == ["ve-a", "ve-twelve-chars"]
    assert names[2].startswith("ve-a-very") and len(names[2]) == 15
    assert len(set(names)) == 3


def test_p2p_default_interface_names_are_cut_to_15(tmp_path):
    text = ("container short { net none }\ncontainer a-rather-long-name { net none }\n"
            "p2p short a-rather-long-name {\n  short 10.1.1.1/32\n  a-rather-long-name 10.1.1.2/32\n}\n")
    (p2p,) = ok(tmp_path, text).network.p2ps
    assert p2p.a.iface == "p2p-a-rather-lo" and p2p.b.iface == "p2p-short"


def test_p2p_between_bridged_containers(tmp_path):
    text = "container a {}\ncontainer b {}\np2p a b {\n  b 10.1.1.2/32\n  a 10.1.1.1/32\n}\n"
    (p2p,) = ok(tmp_path, text).network.p2ps
    assert (p2p.a.container, p2p.a.netns, str(p2p.a.address)) == ("a", "netc-a", "10.1.1.1/32")


# ---------------------------------------------------------------- errors (fragments; golden files have the rest)

@pytest.mark.parametrize("text,line,fragment", [
    ("container a { pubish 80 }\n", 1, "unknown option 'pubish' in container 'a'; did you mean 'publish'?"),
    ("container a {\n  hostname x\n  hostname y\n}\n", 3, "'hostname' is given twice"),
    ("container a {}\ncontainer a {}\n", 2, "container 'a' is declared twice"),
    ("container a { link b }\n", 1, "link to unknown container 'b'"),
    ("container a { link a }\n", 1, "links to itself"),
    ("container a { net container:b }\ncontainer b { net container:a }\n", 1, "makes a cycle"),
    ("container a { ip 10.0.0.1 }\n", 1, "outside the subnet"),
    ("daemon { bip 172.17.0.0/16 }\n", 1, "network address"),
    ("daemon { bip 172.17.255.255/16 }\n", 1, "broadcast address"),
    ("daemon { fixed-cidr 10.0.0.0/24 }\n", 1, "fixed-cidr 10.0.0.0/24 is outside bip"),
    ("container a { publish 0:80 }\n", 1, "host port 0 is out of range"),
    ("container a { publish 80:65536 }\n", 1, "container port 65536 is out of range"),
    ("container a { publish 8000-8001:80-82 }\n", 1, "differ in length"),
    ("bridge abcdefghijklmnop { bip 10.9.0.1/24 }\n", 1, "Linux allows at most 15"),
    ("container a { hostname -x }\n", 1, "invalid hostname '-x'"),
    ("daemon { icc false; iptables false }\n", 1, "icc false needs iptables"),
    ("container h { net host }\ncontainer s { net container:h }\n", 2, "which is net host; write net host"),
    ("daemon { bridge none }\n", 1, "a bridge cannot be named 'none'"),
    ("container a {}\ncontainer n { net none }\np2p n a {\n  n 172.17.42.1/32\n  a 10.1.1.2/32\n}\n", 4,
     "p2p address 172.17.42.1 is already the gateway of bridge 'docker0'"),
    ("bridge host { bip 10.5.0.1/24 }\n", 1, "a bridge cannot be named 'host'"),
    ("container a {}\ncontainer b { net container:a }\np2p a b {\n  a 10.1.1.1/32\n  b 10.1.1.2/32\n}\n", 3,
     "both ends of p2p a b are in the namespace 'netc-a'"),
])
def test_errors(tmp_path, text, line, fragment):
    found = errors(tmp_path, text)
    assert has(found, line, fragment), found


def test_several_errors_are_reported_together_in_file_order(tmp_path):
    found = errors(tmp_path, "container a {\n  pubish 80\n}\ncontainer b { hostname -x }\ncontainer a {}\n")
    assert [line for line, _ in found] == [2, 4, 5]


# ---------------------------------------------------------------- examples

EXAMPLE_SPECS = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.netc"))


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=[p.stem for p in EXAMPLE_SPECS])
def test_examples_check_clean(path):
    loaded = load(str(path), lock=Lock())
    assert loaded.diagnostics == [], [d.message for d in loaded.diagnostics]
    first = path.read_text(encoding="utf-8").lstrip().splitlines()[0]
    assert first.startswith("#"), "an example starts with a comment saying what it shows"


def test_full_example_is_languages_complete_example():
    """examples/full.netc is LANGUAGE.md's "A complete example", kept verbatim in tests/data
    (the contract lives outside this repository; update both together)."""
    here = Path(__file__).resolve().parent
    vendored = (here / "data" / "language-example.netc").read_text(encoding="utf-8")
    assert (here.parent / "examples" / "full.netc").read_text(encoding="utf-8") == vendored
