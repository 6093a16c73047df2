"""The fast paths of the output stage write what the plain ones do, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from netc import pipeline
from netc.emit import fork, netjson, render as output

import oracles

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p) for p in (ROOT / "golden").glob("*/spec.netc")) + \
    sorted(str(p) for p in (ROOT / "examples").glob("*.netc"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: Path(p).parent.name + "/" + Path(p).name)
def test_network_json_is_the_plain_encoding(spec):
    import json
    network = pipeline.load(spec).network
    for backend in ("iptables", "nftables"):
        text = netjson.network_json(network, backend)
        assert text == oracles.network_json_reference(network, backend)
        data = json.loads(text)
        assert data == json.loads(json.dumps(oracles._data(network, backend)))
        # one container and one rule per line
        assert len(data["containers"]) + len(data["rules"]) <= text.count("\n")


def test_network_json_on_a_generated_spec(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import gen
    spec = tmp_path / "spec.netc"
    spec.write_text(gen.generate(300))
    network = pipeline.load(str(spec)).network
    assert netjson.network_json(network, "iptables") == oracles.network_json_reference(network, "iptables")


def _generated(tmp_path, n: int):
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import gen
    spec = tmp_path / "spec.netc"
    spec.write_text(gen.generate(n))
    return pipeline.load(str(spec)).network


def test_render_in_two_processes_is_render_in_one(tmp_path):
    network = _generated(tmp_path, 300)
    for backend in ("iptables", "nftables"):
        assert output.render(network, backend, jobs=2) == output.render(network, backend, jobs=1)


def test_render_without_its_child_computes_the_half_itself(tmp_path, monkeypatch):
    network = _generated(tmp_path, 50)
    want = output.render(network, "iptables", jobs=1)
    monkeypatch.setattr(output, "_side", lambda *a: (_ for _ in ()).throw(RuntimeError("child fails")))
    with pytest.raises(RuntimeError):   # the parent's own fallback runs _side too, and says so
        output.render(network, "iptables", jobs=2)
    monkeypatch.undo()
    forked = fork.Forked(lambda: 1 / 0)
    assert forked.result() is None          # a child that fails delivers nothing
    assert fork.Forked(lambda: ("ok", 3)).result() == ("ok", 3)
    assert output.render(network, "iptables", jobs=2) == want


def test_a_new_tree_written_by_two_processes_is_the_same_tree(tmp_path, monkeypatch):
    import os
    from netc.emit import tree
    network = _generated(tmp_path, 120)
    artifacts = output.render(network, "iptables", jobs=1)
    tree.write_tree(str(tmp_path / "one"), artifacts)
    monkeypatch.setattr(tree, "PARALLEL_WRITE_FROM", 10)
    tree.write_tree(str(tmp_path / "two"), artifacts)

    def tree(root):
        found = {}
        for folder, _, files in os.walk(root):
            for f in files:
                p = os.path.join(folder, f)
                found[os.path.relpath(p, root)] = (open(p).read(), os.stat(p).st_mode)
        return found
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    assert len(tree(tmp_path / "two")) == len(artifacts)
