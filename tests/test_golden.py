"""Golden output trees: every golden case and every example, compiled and compared;
and the topology picture of every example (golden/graph/<example>.dot).

`pytest --update-golden` (or `make golden`) rewrites them and fails the run;
review the diff with git before committing. A missing or orphaned golden file
fails. The kernel's acceptance of each golden rules file is test_kernel_accepts.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import EXAMPLES, GOLDEN, ROOT
from netc.backends import REGISTRY
from netc.resolve.lock import Lock
from netc.emit import graph
from netc.pipeline import compile as compile_spec, load

CASES = sorted(p.parent for p in GOLDEN.glob("*/spec.netc"))
SPECS = [(c.name, c / "spec.netc", c) for c in CASES] + \
        [(f"example-{p.stem}", p, GOLDEN / "examples" / p.stem) for p in sorted(EXAMPLES.glob("*.netc"))]
BACKENDS = sorted(REGISTRY)


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


# netc-lib.sh (the functions apply.sh and teardown.sh share) is the same for
# every spec and backend: one golden copy, compared with every tree's.
SHARED = {"netc-lib.sh": GOLDEN / "netc-lib.sh"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,spec,where", SPECS, ids=[s[0] for s in SPECS])
def test_golden_tree(name, spec, where, backend, golden):
    artifacts, _ = compile_spec(str(spec.relative_to(ROOT)), backend=backend, lock=Lock())
    folder = where / backend
    for artifact, text in artifacts.items():
        golden.check(SHARED.get(artifact, folder / artifact), text)
    orphans = tree(folder) - (set(artifacts) - set(SHARED))
    if orphans and golden.update:
        for orphan in orphans:
            (folder / orphan).unlink()
        pytest.fail(f"removed orphaned golden files {sorted(orphans)}")
    assert not orphans, f"golden files netc no longer writes: {sorted(orphans)} (run `make golden`)"


GRAPHS = sorted(EXAMPLES.glob("*.netc"))


@pytest.mark.parametrize("spec", GRAPHS, ids=[p.stem for p in GRAPHS])
def test_golden_graph(spec, golden):
    """`netc graph` of every example, as DOT text (the layout is Graphviz's; test_graph.py renders it)."""
    loaded = load(str(spec.relative_to(ROOT)), lock=Lock())
    golden.check(GOLDEN / "graph" / f"{spec.stem}.dot", graph.dot(graph.from_network(loaded.network)))


def _owner(path: Path) -> str | None:
    """What test compares PATH (a file under golden/), or None when nothing does."""
    parts = path.relative_to(GOLDEN).parts
    if parts == ("netc-lib.sh",):
        return "every output tree"
    if parts[0] == "errors":  # a case folder: its spec.netc, files it includes, expected.txt
        return "test_diagnostics" if len(parts) >= 3 and (GOLDEN / "errors" / parts[1] / "spec.netc").is_file() else None
    if parts[0] == "graph":
        return "test_golden_graph" if len(parts) == 2 and (EXAMPLES / parts[1]).with_suffix(".netc").is_file() else None
    if parts[0] == "examples":
        ok = len(parts) >= 4 and (EXAMPLES / f"{parts[1]}.netc").is_file() and parts[2] in BACKENDS
        return "test_golden_tree" if ok else None
    case = GOLDEN / parts[0]
    if (case / "spec.netc").is_file() and (parts[1:] == ("spec.netc",) or (len(parts) >= 3 and parts[1] in BACKENDS)):
        return "test_golden_tree"
    return None


def test_no_orphaned_golden_files():
    """Every file under golden/ is compared by some test (a per-tree check finds stale files within a tree)."""
    stale = [str(p.relative_to(GOLDEN)) for p in sorted(GOLDEN.rglob("*")) if p.is_file() and _owner(p) is None]
    assert not stale, f"golden files no test compares (remove them, or run `make golden`): {stale}"
