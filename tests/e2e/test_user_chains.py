"""The administrator's own rules (issue 14, part 2), in a real kernel, both backends.

iptables: the filter chain NETC-USER, jumped to first from NETC-FORWARD; nftables:
the chain user-forward in netc's table, jumped to first from its forward chain.
netc makes each empty where it is missing and never flushes it: a rule there
survives a re-apply, an update, a repair and a rollback; teardown keeps a
chain that holds rules (with nftables, its table) and says so.
"""

from __future__ import annotations

import pytest

from netns import in_ns
from netc.prove.sandbox import HOST_IP
from util import compile_for, container, plan

BACKENDS = ["iptables", "nftables"]
SPEC = """
container web { publish 8080:80 }
container db { expose 5432; publish 5432:5432 }
"""
MORE = SPEC + "container cache { publish 6379:6379 }\n"


def add_user_rule(box, backend: str, rule: str) -> None:
    """A rule of the administrator's: RULE is `drop PORT` (by the original host port) or
    `accept ADDRESS PORT` (after translation: the container's address and port)."""
    verb, *args = rule.split()
    if backend == "iptables":
        match = ["-m", "conntrack", "--ctorigdstport", args[0], "-p", "tcp"] if verb == "drop" else \
            ["-d", args[0], "-p", "tcp", "--dport", args[1]]
        in_ns(box.host, "iptables", "-w", "-A", "NETC-USER", *match, "-j", verb.upper())
    else:
        match = ["ct", "original", "proto-dst", args[0]] if verb == "drop" else \
            ["ip", "daddr", args[0], "tcp", "dport", args[1]]
        in_ns(box.host, "nft", "add", "rule", "inet", "netc", "user-forward", "meta", "l4proto", "tcp", *match, verb)


def user_rules(box, backend: str) -> int:
    if backend == "iptables":
        r = in_ns(box.host, "iptables", "-w", "-S", "NETC-USER", check=False)
        return sum(1 for line in r.stdout.splitlines() if line.startswith("-A "))
    r = in_ns(box.host, "nft", "list", "chain", "inet", "netc", "user-forward", check=False)
    return sum(1 for line in r.stdout.splitlines() if line.startswith("\t\t"))


def reach(box, *ports: int) -> list[str]:
    a = box.ask(box.outside, *(f"tcp:{HOST_IP}:{p}" for p in ports))
    return [v.split()[0] if v != "no answer" else "-" for v in a.values()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_user_rule_survives_reapply_update_repair_and_rollback(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path / "a", SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    web, db = container(net, "web"), container(net, "db")
    sandbox.serve(web["netns"], "web", "tcp:80")
    sandbox.serve(db["netns"], "db", "tcp:5432")
    assert reach(sandbox, 8080, 5432) == ["web", "db"]
    add_user_rule(sandbox, backend, "drop 8080")          # by the host port, before any netc rule
    assert reach(sandbox, 8080, 5432) == ["-", "db"]
    # An accept there decides before netc's direct-routing protection (the outside peer routes
    # the container subnet via the host, as verify's does).
    in_ns(sandbox.outside, "ip", "route", "add", "172.17.0.0/16", "via", HOST_IP)
    direct = sandbox.ask(sandbox.outside, f"tcp:{db['address']}:5432")
    assert list(direct.values()) == ["no answer"]
    add_user_rule(sandbox, backend, f"accept {db['address']} 5432")
    direct = sandbox.ask(sandbox.outside, f"tcp:{db['address']}:5432")
    assert list(direct.values())[0].startswith("db "), direct

    r = sandbox.apply(out)                                # re-apply: nothing to do, nothing lost
    assert r.returncode == 0 and user_rules(sandbox, backend) == 2, r.stderr
    # A repair: netc's rules lost behind its back are loaded again, the user's stay.
    if backend == "iptables":
        in_ns(sandbox.host, "iptables", "-w", "-t", "nat", "-F", "NETC-DNAT")
    else:
        in_ns(sandbox.host, "nft", "flush", "chain", "inet", "netc", "publish")
    assert reach(sandbox, 5432) == ["-"]
    r = sandbox.apply(out)
    assert r.returncode == 0 and user_rules(sandbox, backend) == 2, r.stderr
    assert reach(sandbox, 8080, 5432) == ["-", "db"]

    # An update that fails at every step in turn rolls back with the user's rules in place,
    # then goes through, still with them.
    out2, net2 = compile_for(sandbox, tmp_path / "b", MORE, backend)
    k = 0
    while True:
        r = sandbox.apply(out2, NETC_FAIL_AFTER_STEP=str(k))
        assert user_rules(sandbox, backend) == 2, f"after a failure at step {k + 1}: {r.stderr}"
        if r.returncode == 0:
            break
        assert "rolled back" in r.stderr, r.stderr
        assert reach(sandbox, 8080, 5432) == ["-", "db"]
        k += 1
        assert k < 60
    assert k > 0
    sandbox.serve(container(net2, "cache")["netns"], "cache", "tcp:6379")
    assert reach(sandbox, 8080, 5432, 6379) == ["-", "db", "cache"]

    sandbox.stop_servers()
    r = sandbox.teardown(out2)
    assert r.returncode == 0, r.stderr
    assert "kept" in r.stderr and "2 rule(s) of yours" in r.stderr, r.stderr
    assert user_rules(sandbox, backend) == 2
    if backend == "nftables":   # the table stays with that chain only
        listing = in_ns(sandbox.host, "nft", "list", "table", "inet", "netc").stdout
        assert listing.count("\tchain ") == 1 and "\tset " not in listing and "\tmap " not in listing, listing


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_user_chain_goes_with_teardown(sandbox, tmp_path, backend):
    before = sandbox.snapshot()
    out, _ = compile_for(sandbox, tmp_path, SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    assert user_rules(sandbox, backend) == 0
    exists = in_ns(sandbox.host, *(["iptables", "-w", "-S", "NETC-USER"] if backend == "iptables" else
                                   ["nft", "list", "chain", "inet", "netc", "user-forward"]), check=False)
    assert exists.returncode == 0
    r = sandbox.teardown(out)
    assert r.returncode == 0 and "kept" not in r.stderr, r.stderr
    assert sandbox.snapshot() == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_never_changes_a_built_in_chains_policy(sandbox, tmp_path, backend):
    """A host whose FORWARD policy is DROP (libvirt's, Docker's) keeps it through apply and teardown."""
    def policies():   # built-in chains' policies (iptables-nft makes a table's others when it is used)
        lines = [f"{tool} {l}" for tool in ("iptables-save", "ip6tables-save")
                 for l in in_ns(sandbox.host, tool).stdout.splitlines() if l.startswith(":") and " - " not in l]
        return {l.rsplit(" ", 1)[0] for l in lines}
    in_ns(sandbox.host, "iptables", "-w", "-P", "FORWARD", "DROP")
    before = policies()
    assert "iptables-save :FORWARD DROP" in before
    out, _ = compile_for(sandbox, tmp_path, SPEC, backend)
    assert sandbox.apply(out).returncode == 0
    assert before <= policies() and all(p.endswith("ACCEPT") for p in policies() - before)
    assert sandbox.teardown(out).returncode == 0
    assert before <= policies() and all(p.endswith("ACCEPT") for p in policies() - before)


def test_a_user_rule_that_refers_to_netcs_own_sets_and_chains(sandbox, tmp_path):
    """nftables: the kernel deletes no set or chain a rule refers to. A rule of the administrator's
    that uses netc's set @published (drop outside clients of every publish but one) and jumps to a
    chain of netc's keeps working across an update that changes them: apply empties and fills them
    again instead of deleting them, plan then finds nothing, traffic follows the user's rule with
    the new publishes; a tree that changes such a set's type fails before anything changes, naming
    them; teardown keeps them, emptied, with the table, and says so."""
    out, net = compile_for(sandbox, tmp_path / "a", SPEC, "nftables")
    assert sandbox.apply(out).returncode == 0
    web, db = container(net, "web"), container(net, "db")
    in_ns(sandbox.host, "nft", "add rule inet netc user-forward iifname ext0 ip daddr . meta l4proto . th dport "
                               f"@published ip daddr != {web['address']} drop")
    in_ns(sandbox.host, "nft", "add rule inet netc user-forward iifname lo jump fwd-in-docker0")
    sandbox.serve(web["netns"], "web", "tcp:80")
    sandbox.serve(db["netns"], "db", "tcp:5432")
    assert reach(sandbox, 8080, 5432) == ["web", "-"]
    more, net2 = compile_for(sandbox, tmp_path / "b", MORE, "nftables")
    r = sandbox.apply(more)
    assert r.returncode == 0, r.stderr
    cache = container(net2, "cache")
    sandbox.serve(cache["netns"], "cache", "tcp:6379")
    assert reach(sandbox, 8080, 5432, 6379) == ["web", "-", "-"]     # the new publish is in @published too
    p = plan(sandbox, more)
    assert p.returncode == 0, p.stdout + p.stderr
    # A tree that changes the type of a set the rule uses (a port range makes @published an interval
    # set) cannot load while the rule is there: apply says so and changes nothing.
    ranged, _ = compile_for(sandbox, tmp_path / "c", MORE + "container r { publish 9000-9001:9000-9001 }\n", "nftables")
    before = sandbox.snapshot()
    r = sandbox.apply(ranged)
    assert r.returncode == 1 and "refers to netc's own fwd-in-docker0 published" in r.stderr, r.stderr
    assert "nothing was changed" in r.stderr and sandbox.snapshot() == before
    sandbox.stop_servers()
    r = sandbox.teardown(more)
    assert r.returncode == 0 and "fwd-in-docker0 published" in r.stderr, r.stderr
    left = in_ns(sandbox.host, "nft", "list", "table", "inet", "netc").stdout
    assert "set published" in left and "elements" not in left and "chain fwd-in-docker0" in left
    assert "chain filter-forward" not in left and "dnat" not in left        # netc's rules are gone
    in_ns(sandbox.host, "nft", "delete", "table", "inet", "netc")
