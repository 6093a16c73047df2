"""The shape of the package: imports follow the pipeline, every backend lowers every
rule kind, one statement table, rule derivation is a pure function of the IR."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from netaddr import EUI, IPAddress, IPNetwork

from netc import ir
from netc.backends import ALL, REGISTRY
from netc.backends.base import Unsupported
from netc.frontend.statements import BLOCKS, STATEMENTS, TERMINALS
from netc.resolve.derive import derive
from netc.values import Family, NetKind, PortRange, Proto

V4, V6 = Family.V4, Family.V6

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "compiler"

# Stage of each top-level module or sub-package, and the stages it may import.
CORE = {"__init__", "values", "diagnostics", "kernel", "ir", "quote"}
ALLOWED = {
    "core": {"core"},
    "frontend": {"core", "frontend"},
    "resolve": {"core", "frontend", "resolve"},
    "backends": {"core", "backends"},
    "emit": {"core", "backends", "emit"},
    "pipeline": {"core", "frontend", "resolve", "backends", "emit", "pipeline"},
    "prove": {"core", "backends", "emit", "pipeline", "prove"},
    "host": {"core", "backends", "emit", "pipeline", "prove", "host"},
    "completion": {"core", "completion"},  # shell scripts, from the parser cli hands over
    "cli": {"core", "frontend", "resolve", "backends", "emit", "pipeline", "prove", "host", "completion", "cli"},
    "__main__": {"cli"},
}


def _stage(parts: tuple[str, ...]) -> str:
    head = parts[0] if parts else "__init__"  # netc itself: its __init__
    return "core" if head in CORE else head


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield path, parts


def _imports(path: Path, parts: tuple[str, ...]):
    """(line, imported module as parts within netc) for every import of netc in PATH."""
    package = parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = tuple(base) + (tuple(node.module.split(".")) if node.module else ())
            elif node.module and (node.module == "netc" or node.module.startswith("netc.")):
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            for alias in node.names:  # `from . import a`: a module, or a name of the package
                sub = tuple(target) + (alias.name,)
                found = PACKAGE.joinpath(*sub)
                yield node.lineno, sub if found.with_suffix(".py").exists() or found.is_dir() else tuple(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("netc."):
                    yield node.lineno, tuple(alias.name.split(".")[1:])


def test_imports_follow_the_pipeline():
    wrong = []
    for path, parts in _modules():
        mine = _stage(parts)
        for line, target in _imports(path, parts):
            theirs = _stage(target)
            if theirs not in ALLOWED[mine] and theirs != mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {mine} imports {'.'.join(target)} ({theirs})")
    assert not wrong, "imports against the pipeline:\n" + "\n".join(wrong)


def test_nothing_imports_the_command_line():
    for path, parts in _modules():
        if parts[0] in ("cli", "__main__"):
            continue
        for line, target in _imports(path, parts):
            assert target[:1] != ("cli",), f"{path}:{line} imports cli"


def test_every_module_is_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p, _ in _modules()}
    assert max(sizes.values()) < 400, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_one_statement_table_for_the_grammar_and_both_parsers():
    grammar = (ROOT / "grammar" / "netc.lark").read_text()
    terminals = set(re.findall(r"^([A-Z0-9]+)\.2:", grammar, re.M))
    assert terminals == set(TERMINALS)
    top = re.search(r"^_top: (.*)$", grammar, re.M).group(1)
    assert [w.strip() for w in top.split("|")] == [s for s in ("include", *BLOCKS)]
    for kind, names in BLOCKS.items():
        rule = re.search(rf"^{kind}: {kind.upper()}((?: name)*) _NL\* body$", grammar, re.M)
        assert rule and rule.group(1).count("name") == names, kind
    assert set(STATEMENTS) == set(BLOCKS) | {"include"}


# ------------------------------------------------------------------ a hand-built IR

def _o(n: int) -> ir.Origin:
    return ir.Origin("hand.netc", n, f"line {n}")


def _container(name, address, mappings=(), links=(), exposed=(), address6=None):
    return ir.Container(
        name=name, mode=NetKind.BRIDGE, bridge="br0", address=IPAddress(address), prefixlen=24,
        gateway=IPAddress("10.9.0.1"), mac=EUI("02:42:0a:09:00:02"), mtu=1500, netns=f"netc-{name}",
        netns_path=None, host_veth=f"ve-{name}", shares=None, hostname=name, exposed=tuple(exposed),
        mappings=tuple(mappings), links=tuple(links), add_hosts=(), nameservers=(), search=(), options=(),
        address6=IPAddress(address6) if address6 else None, prefixlen6=64 if address6 else None,
        gateway6=IPAddress("fd09::1") if address6 else None, origin=_o(10))


def _network(rules=(), v6=False, firewall6=True) -> ir.Network:
    """Two bridges, br0 with db and web (web publishes 8080:80 and links to db), br1 empty;
    with v6, br0 is dual stack and web's publish is in both families."""
    tcp80 = (Proto.TCP, PortRange(80, 80))
    any_ = [IPAddress("0.0.0.0")] + ([IPAddress("::")] if v6 else [])
    db = _container("db", "10.9.0.2", exposed=[tcp80], address6="fd09::2" if v6 else None)
    web = _container("web", "10.9.0.3",
                     mappings=[ir.Mapping(ip, Proto.TCP, PortRange(8080, 8080), PortRange(80, 80), False, _o(20))
                               for ip in any_],
                     links=[ir.Link("db", "db", IPAddress("10.9.0.2"), IPAddress("fd09::2") if v6 else None, _o(21))],
                     exposed=[tcp80], address6="fd09::3" if v6 else None)
    six = dict(address6=IPAddress("fd09::1"), network6=IPNetwork("fd09::/64")) if v6 else {}
    bridges = (ir.Bridge("br0", IPAddress("10.9.0.1"), IPNetwork("10.9.0.0/24"), 1500, False, False, True, _o(1),
                         icc_origin=_o(2), **six),
               ir.Bridge("br1", IPAddress("10.8.0.1"), IPNetwork("10.8.0.0/24"), 1500, True, False, False, _o(3)))
    return ir.Network(spec="hand.netc", netns_prefix="netc-", firewall=True, bridges=bridges,
                      containers=(db, web), p2ps=(), sysctls=(), rules=tuple(rules), ip_masq_origin=_o(4),
                      firewall6=firewall6)


def test_rules_derive_from_a_hand_built_network():
    rules = derive(_network())
    kinds = [type(r).__name__ for r in rules]
    assert kinds == ["Reply", "Isolate", "Protect", "PublishAccept", "LinkAccept", "Icc",
                     "Reply", "Isolate", "Protect", "Icc", "Outgoing", "Outgoing", "Dnat",
                     "MasqueradeLocal", "MasqueradeLocal", "Masquerade", "Masquerade", "Hairpin"]
    assert {r.family for r in rules} == {V4}
    (link,) = [r for r in rules if isinstance(r, ir.LinkAccept)]
    assert (link.parent, link.child, link.ports) == (IPAddress("10.9.0.3"), IPAddress("10.9.0.2"), PortRange(80, 80))
    icc = [r for r in rules if isinstance(r, ir.Icc)]
    assert [(r.bridge, r.accept, r.origin.line) for r in icc] == [("br0", False, 2), ("br1", True, 3)]
    assert all(r.origin.line == 4 for r in rules if isinstance(r, ir.Masquerade))
    assert derive(_no_firewall()) == ()


def test_rules_derive_per_family_on_a_dual_stack_bridge():
    rules = derive(_network(v6=True))
    kinds = [(type(r).__name__, int(r.family)) for r in rules]
    assert kinds == [("Reply", 4), ("Isolate", 4), ("Protect", 4), ("PublishAccept", 4), ("LinkAccept", 4), ("Icc", 4),
                     ("Reply", 6), ("Isolate", 6), ("Protect", 6), ("PublishAccept", 6), ("LinkAccept", 6),
                     ("Neighbours", 6), ("Icc", 6),
                     ("Reply", 4), ("Isolate", 4), ("Protect", 4), ("Icc", 4),
                     ("Outgoing", 4), ("Outgoing", 6), ("Outgoing", 4), ("Dnat", 4), ("Dnat", 6),
                     ("MasqueradeLocal", 4), ("MasqueradeLocal", 6), ("MasqueradeLocal", 4),
                     ("Masquerade", 4), ("Masquerade", 6), ("Masquerade", 4), ("Hairpin", 4), ("Hairpin", 6)]
    link6 = next(r for r in rules if isinstance(r, ir.LinkAccept) and r.family is V6)
    assert (link6.parent, link6.child) == (IPAddress("fd09::3"), IPAddress("fd09::2"))
    dnat6 = next(r for r in rules if isinstance(r, ir.Dnat) and r.family is V6)
    assert (dnat6.host_ip, dnat6.address) == (None, IPAddress("fd09::3"))
    masq6 = next(r for r in rules if isinstance(r, ir.Masquerade) and r.family is V6)
    assert masq6.network == IPNetwork("fd09::/64")
    # ip6tables false: IPv6 gets no rules at all.
    assert {r.family for r in derive(_network(v6=True, firewall6=False))} == {V4}


def _no_firewall() -> ir.Network:
    import dataclasses
    return dataclasses.replace(_network(), firewall=False)


def _kinds(family: Family) -> list:
    """One rule of every kind, in FAMILY (Neighbours is IPv6's only)."""
    a = {V4: ("10.9.0.3", "10.9.0.2", "10.9.0.0/24"), V6: ("fd09::3", "fd09::2", "fd09::/64")}[family]
    n = 30 if family is V4 else 60
    return [
        ir.Reply("br0", family, _o(n)), ir.Isolate("br1", "br0", family, _o(n + 1)),
        ir.Protect("br0", family, _o(n + 2)),
        ir.PublishAccept("br0", IPAddress(a[0]), Proto.TCP, PortRange(80, 80), family, _o(n + 3)),
        ir.LinkAccept("br0", IPAddress(a[0]), IPAddress(a[1]), Proto.TCP, PortRange(80, 80), family, _o(n + 4)),
        ir.Icc("br0", False, family, _o(n + 5)), ir.Outgoing("br0", family, _o(n + 6)),
        ir.Dnat("br0", None, Proto.TCP, PortRange(8080, 8080), IPAddress(a[0]), PortRange(80, 80), family, _o(n + 7)),
        ir.MasqueradeLocal("br0", family, _o(n + 8)), ir.Masquerade("br0", IPNetwork(a[2]), family, _o(n + 9)),
        ir.Hairpin(IPAddress(a[0]), Proto.TCP, PortRange(80, 80), family, _o(n + 10)),
        ir.Guard(None, Proto.TCP, PortRange(8080, 8080), (IPNetwork(a[2]),), family, _o(n + 12)),
    ] + ([ir.Neighbours("br0", family, _o(n + 11))] if family is V6 else [])


RULE_KINDS = _kinds(V4) + _kinds(V6)


def test_the_rule_kinds_listed_here_are_every_kind_of_the_ir():
    assert {type(r) for r in RULE_KINDS} == set(ir.Rule.__args__)


@pytest.mark.parametrize("backend", sorted(REGISTRY))
@pytest.mark.parametrize("rule", RULE_KINDS, ids=lambda r: f"{type(r).__name__}-{r.family}")
def test_every_backend_lowers_every_rule_kind(backend, rule):
    """Each IR rule shows up in the backend's ruleset (a rule or an element carrying its origin), in its family."""
    # A kind's lowering may need its bridge's Reply (nftables lays a bridge's chains out from it).
    reply = ir.Reply(getattr(rule, "bridge", "br0"), rule.family, _o(99))
    rules = (rule,) if isinstance(rule, ir.Reply) else (reply, rule)
    rs = ALL[backend].ruleset(_network(rules, v6=rule.family is V6))
    lowered = [r for c in rs.chains.values() for r in c.rules if r.origin == rule.origin]
    for r in lowered:  # in that family's table (iptables, ip6tables), or limited to the family (inet)
        assert r.family == rule.family or (r.family is None and r.match.implied_family() == rule.family), r
    in_sets = {n for n, es in rs.sets.items() for e in es if e.origin == rule.origin}
    for name in in_sets - {"bridges", "forward-in", "forward-out"}:  # per-address sets: IPv6's end in 6
        assert name.endswith("6") == (rule.family is V6), name
    assert lowered or in_sets
    rendered = ALL[backend].render(_network(rules, v6=rule.family is V6))
    assert rendered.files and rendered.count >= 1


def test_a_backend_refuses_a_kind_it_cannot_lower():
    class Strange:
        origin = _o(1)
        bridge = "br0"
        family = V4
    for backend in REGISTRY.values():
        with pytest.raises(Unsupported):
            backend.ruleset(_network((ir.Reply("br0", V4, _o(1)), Strange())))


def test_the_none_backend_writes_nothing():
    none = ALL["none"]
    assert none.render(_no_firewall()).files == {} and none.ruleset(_no_firewall()).rule_count == 0
