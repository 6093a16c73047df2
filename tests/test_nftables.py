"""The nftables backend keeps per-container data in sets and maps: the rule count is flat in N."""

from __future__ import annotations

from conftest import netc
from netc.backends import iptables, nftables
from netc.resolve.lock import Lock
from netc.pipeline import load


def spec(tmp_path, n: int) -> str:
    lines = ["daemon { bip 10.0.0.1/16; icc false }"]
    for i in range(n):
        lines.append(f"container c{i} {{ expose 5432; publish {10000 + i}:80; publish 53/udp"
                     + (f"; link c{i - 1}" if i else "") + " }")
    path = tmp_path / f"n{n}.netc"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_rule_count_is_flat_in_the_number_of_containers(tmp_path):
    small = nftables.ruleset(load(spec(tmp_path, 10), lock=Lock()).network)
    large = nftables.ruleset(load(spec(tmp_path, 1000), lock=Lock()).network)
    print(f"\nnftables: 10 containers -> {small.rule_count} rules, {small.element_count} elements; "
          f"1000 containers -> {large.rule_count} rules, {large.element_count} elements")
    assert small.rule_count == large.rule_count
    assert large.element_count > 50 * small.element_count
    ipt_small = iptables.ruleset(load(spec(tmp_path, 10), lock=Lock()).network).rule_count
    ipt_large = iptables.ruleset(load(spec(tmp_path, 1000), lock=Lock()).network).rule_count
    print(f"iptables: 10 containers -> {ipt_small} rules; 1000 containers -> {ipt_large} rules")
    assert ipt_large > 50 * ipt_small  # the iptables backend grows, as Docker's does


def test_overlapping_published_ranges_merge_into_one_interval(tmp_path):
    path = tmp_path / "s.netc"
    path.write_text("container w { publish 8000-8002:80-82; publish 9000:81; expose 83; publish-all }\n")
    rs = nftables.ruleset(load(str(path), lock=Lock()).network)
    keys = [e.key for e in rs.sets["published"]]
    assert [(str(k[1]), str(k[2])) for k in keys] == [("tcp", "80-83")]


def _rules(tmp_path, text: str, backend: str = "nftables") -> tuple[str, str]:
    """rules.nft (or rules.v4) and objects of a compiled spec."""
    path = tmp_path / "s.netc"
    path.write_text(text)
    out = tmp_path / f"out-{backend}"
    r = netc("compile", str(path), "-o", str(out), "--backend", backend)
    assert r.returncode == 0, r.stderr
    return (out / ("rules.nft" if backend == "nftables" else "rules.v4")).read_text(), (out / "objects").read_text()


def test_a_bridge_table_only_where_a_bridge_has_icc_false(tmp_path):
    spec = ("daemon { icc false }\nbridge open { bip 10.20.0.1/24; icc true }\n"
            "container a { expose 80 }\ncontainer b { link a }\ncontainer c { net open }\ncontainer d { net a }\n")
    text, objects = _rules(tmp_path, spec.replace("container d { net a }\n", ""))
    bridge = text[text.index("\ntable bridge netc {\n"):]
    # a's and b's ports go to docker0's chain; c's bridge forwards everything (no chain, no port)
    assert '"ve-a" : jump br-docker0' in bridge and '"ve-b" : jump br-docker0' in bridge and "ve-c" not in bridge
    assert "chain br-open" not in bridge and "meta protocol ip drop" in bridge
    assert "meta mark & 0x01000000 == 0x01000000 accept" in bridge
    assert "iifname @bridges ct status dnat meta mark set meta mark | 0x01000000" in text
    assert "bridge-nf-call" not in objects and "br_netfilter" not in objects
    # icc true everywhere: no bridge table (rules.nft deletes one an earlier tree made), no mark
    text, _ = _rules(tmp_path, "container a { expose 80 }\ncontainer b { link a }\n")
    assert "\ntable bridge netc {}\ndelete table bridge netc\n" in text and "\ntable bridge netc {\n" not in text
    assert "mark-translated" not in text
    # the iptables backend still needs br_netfilter, and says so as a change to the whole host
    _, objects = _rules(tmp_path, spec.replace("container d { net a }\n", ""), "iptables")
    assert "host-wide:" in objects and "bridge-nf-call-iptables" in objects


def test_hairpin_is_one_masquerade_per_bridge_and_family_with_a_publish(tmp_path):
    text, _ = _rules(tmp_path, "daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\n"
                               "bridge quiet { bip 10.30.0.1/24; ipv6 false }\n"
                               "container w { publish 8080:80; publish 9090:90 }\ncontainer q { net quiet }\n")
    hairpin = [l.strip() for l in text.splitlines() if "ct status dnat masquerade" in l]
    assert [h.split(" comment")[0] for h in hairpin] == [
        'oifname "docker0" ip saddr 172.17.0.0/16 ct status dnat masquerade',
        'oifname "docker0" ip6 saddr 2001:db8:1::/64 ct status dnat masquerade']
