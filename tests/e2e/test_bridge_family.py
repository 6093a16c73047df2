"""No global side effects (issue 14, part 3 of its list): with the nftables backend, traffic
between containers of one bridge is filtered in netc's `bridge` family table, so a host
whose net.bridge.bridge-nf-call-iptables is 0 keeps 0 and every icc and link expectation
still holds, in IPv4 and IPv6; explain says the same as the kernel."""

from __future__ import annotations

import pytest

from netns import in_ns
from netc.pipeline import load
from netc.prove.explain import explain
from netc.resolve.lock import Lock
from util import compile_for, container

SPEC = """
daemon { icc false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }
bridge open { bip 10.20.0.1/24; ipv6 false; icc true }
container db { expose 5432, 53/udp }
container web { link db:database; expose 80 }
container other { expose 80 }
container x { net open; expose 80 }
container y { net open; expose 80 }
"""
KEYS = ("net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables")


def sysctls(box) -> list[str]:
    return [in_ns(box.host, "cat", f"/proc/sys/{k}").stdout.strip() for k in KEYS]


def test_icc_and_links_hold_without_bridge_nf_call(sandbox, tmp_path):
    for k in KEYS:
        in_ns(sandbox.host, "sh", "-c", f"echo 0 > /proc/sys/{k}")
    out, net = compile_for(sandbox, tmp_path, SPEC, "nftables")
    assert "bridge-nf-call" not in (out / "objects").read_text()
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    assert sysctls(sandbox) == ["0", "0"]
    c = {n: container(net, n) for n in ("db", "web", "other", "x", "y")}
    sandbox.serve(c["db"]["netns"], "db", "tcp:5432", "udp:53", "tcp:80")
    sandbox.serve(c["web"]["netns"], "web", "tcp:80")
    sandbox.serve(c["other"]["netns"], "other", "tcp:80")
    sandbox.serve(c["y"]["netns"], "y", "tcp:80")
    network = load(str(tmp_path / "spec.netc"), netns_prefix=sandbox.prefix, lock=Lock()).network
    # (from, to): a link (both families, tcp and udp), icc false elsewhere, icc true on `open`.
    cases = [("web", "db", "5432", "tcp"), ("web", "db", "53", "udp"), ("web", "db", "80", "tcp"),
             ("db", "web", "80", "tcp"), ("other", "db", "5432", "tcp"), ("x", "y", "80", "tcp")]
    seen = {}
    for src, dst, port, proto in cases:
        for key in ("address", "address6"):
            address = c[dst].get(key)
            if not address:
                continue
            dial = f"[{address}]" if ":" in address else address
            answer = sandbox.ask(c[src]["netns"], f"{proto}:{dial}:{port}")[f"{proto}:{dial}:{port}"]
            got = answer.split()[0] if answer != "no answer" else "-"
            predicted = explain(network, src, f"{dial}:{port}/{proto}", "nftables")
            want = predicted.delivered_to if predicted.verdict == "accept" else "-"
            assert got == want, (src, dst, port, proto, key, answer, [(s.where, s.text) for s in predicted.steps])
            seen[(src, dst, port, key)] = got
    assert seen[("web", "db", "5432", "address")] == "db" and seen[("web", "db", "5432", "address6")] == "db"
    assert seen[("web", "db", "53", "address")] == "db"
    assert seen[("web", "db", "80", "address")] == "-" and seen[("db", "web", "80", "address6")] == "-"
    assert seen[("other", "db", "5432", "address")] == "-"
    assert seen[("x", "y", "80", "address")] == "y"
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0
    assert sysctls(sandbox) == ["0", "0"]
