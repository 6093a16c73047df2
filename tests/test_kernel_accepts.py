"""The kernel accepts every golden rules file, inside a throwaway namespace."""

from __future__ import annotations

import pytest

from conftest import GOLDEN
from netns import in_ns, namespace, require_namespaces

RULES = sorted(GOLDEN.rglob("rules.v4"))


@pytest.mark.parametrize("rules", RULES, ids=[str(r.relative_to(GOLDEN)) for r in RULES])
def test_iptables_restore_accepts(rules):
    require_namespaces()
    text = rules.read_text()
    with namespace("nk") as ns:
        r = in_ns(ns, "iptables-restore", "--test", "--noflush", input=text, check=False)
        assert r.returncode == 0, r.stderr
        # And it really loads, and loads twice without duplicating anything.
        in_ns(ns, "iptables-restore", "--noflush", input=text)
        first = in_ns(ns, "iptables-save").stdout
        in_ns(ns, "iptables-restore", "--noflush", input=text)
        second = in_ns(ns, "iptables-save").stdout
        strip = lambda s: [l for l in s.splitlines() if not l.startswith("#")]
        assert strip(first) == strip(second)
        assert sum(l.startswith("-A NETC-") for l in strip(first)) == sum(l.startswith("-A ") for l in text.splitlines())


NFT = sorted(GOLDEN.rglob("rules.nft"))


@pytest.mark.parametrize("rules", NFT, ids=[str(r.relative_to(GOLDEN)) for r in NFT])
def test_nft_accepts(rules):
    require_namespaces()
    with namespace("nk") as ns:
        r = in_ns(ns, "nft", "-c", "-f", str(rules), check=False)
        assert r.returncode == 0, r.stderr
        in_ns(ns, "nft", "-f", str(rules))            # loads, and loads again atomically
        first = in_ns(ns, "nft", "list", "table", "ip", "netc").stdout
        in_ns(ns, "nft", "-f", str(rules))
        assert in_ns(ns, "nft", "list", "table", "ip", "netc").stdout == first
        assert in_ns(ns, "nft", "list", "tables").stdout.split() == ["table", "ip", "netc"]
