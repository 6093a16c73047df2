"""The kernel accepts every golden rules file, inside a throwaway namespace:
rules.v4 by iptables-restore, rules.v6 by ip6tables-restore, rules.nft by nft."""

from __future__ import annotations

import pytest

from conftest import GOLDEN
from netns import in_ns, namespace, require_namespaces

RULES = sorted(GOLDEN.rglob("rules.v4")) + sorted(GOLDEN.rglob("rules.v6"))
TOOL = {".v4": "iptables", ".v6": "ip6tables"}


@pytest.mark.parametrize("rules", RULES, ids=[str(r.relative_to(GOLDEN)) for r in RULES])
def test_iptables_restore_accepts(rules):
    require_namespaces()
    text = rules.read_text()
    tool = TOOL[rules.suffix]
    with namespace("nk") as ns:
        # apply makes the administrator's chain NETC-USER (rules.v4 jumps to it, never declares it)
        in_ns(ns, tool, "-w", "-t", "filter", "-N", "NETC-USER")
        r = in_ns(ns, f"{tool}-restore", "--test", "--noflush", input=text, check=False)
        assert r.returncode == 0, r.stderr
        # And it really loads, and loads twice without duplicating anything.
        in_ns(ns, f"{tool}-restore", "--noflush", input=text)
        first = in_ns(ns, f"{tool}-save").stdout
        in_ns(ns, f"{tool}-restore", "--noflush", input=text)
        second = in_ns(ns, f"{tool}-save").stdout
        strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
        assert strip(first) == strip(second)
        assert sum(l.startswith("-A NETC-") for l in strip(first)) == sum(l.startswith("-A ") for l in text.splitlines())


NFT = sorted(GOLDEN.rglob("rules.nft"))


def nft_load(ns: str, rules) -> None:
    """Load RULES as apply does: the engine's nft_load (netc-lib.sh) puts the deletion of netc's
    own chains, sets and maps, as the table holds them, in front of it, in one transaction."""
    import tempfile
    with tempfile.TemporaryDirectory() as w:
        in_ns(ns, "sh", "-c", f'. "$1"; W={w}; nft_load "$2"', "sh", str(GOLDEN / "netc-lib.sh"), str(rules))


@pytest.mark.parametrize("rules", NFT, ids=[str(r.relative_to(GOLDEN)) for r in NFT])
def test_nft_accepts(rules):
    require_namespaces()
    with namespace("nk") as ns:
        r = in_ns(ns, "nft", "-c", "-f", str(rules), check=False)
        assert r.returncode == 0, r.stderr
        nft_load(ns, rules)                           # loads, and loads again atomically
        first = in_ns(ns, "nft", "list", "table", "inet", "netc").stdout
        in_ns(ns, "nft", "add", "rule", "inet", "netc", "user-forward", "tcp", "dport", "9", "drop")
        nft_load(ns, rules)
        again = in_ns(ns, "nft", "list", "table", "inet", "netc").stdout
        # The same table (its chains may list in another order), with the administrator's rule kept.
        from netc.prove.sandbox import _in_order
        assert _in_order(again.replace("\t\ttcp dport 9 drop\n", "")) == _in_order(first)
        assert "tcp dport 9 drop" in again
        # and a bridge table where a bridge has icc false (docs/semantics.md)
        bridged = ["table", "bridge", "netc"] if "\ntable bridge netc {\n" in rules.read_text() else []
        assert in_ns(ns, "nft", "list", "tables").stdout.split() == ["table", "inet", "netc"] + bridged


def test_nft_replaces_the_ip_table_of_an_earlier_netc():
    """An upgrade: netc's old `table ip netc` goes in the same transaction that loads the inet one."""
    require_namespaces()
    rules = GOLDEN / "publish" / "nftables" / "rules.nft"
    with namespace("nk") as ns:
        in_ns(ns, "nft", "add table ip netc; add chain ip netc old { type filter hook forward priority 0; }")
        in_ns(ns, "nft", "add table ip other")
        in_ns(ns, "nft", "-f", str(rules))
        assert in_ns(ns, "nft", "list", "tables").stdout.split() == ["table", "ip", "other", "table", "inet", "netc"]
