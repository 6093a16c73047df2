"""The nftables backend keeps per-container data in sets and maps: the rule count is flat in N."""

from __future__ import annotations

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
