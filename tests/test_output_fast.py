"""The fast paths of the output stage write what the plain ones do, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from netc import output, pipeline

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p) for p in (ROOT / "golden").glob("*/spec.netc")) + \
    sorted(str(p) for p in (ROOT / "examples").glob("*.netc"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: Path(p).parent.name + "/" + Path(p).name)
def test_network_json_is_the_plain_encoding(spec):
    import json
    network = pipeline.load(spec).network
    for backend in ("iptables", "nftables"):
        text = output.network_json(network, backend)
        assert text == output.network_json_reference(network, backend)
        data = json.loads(text)
        assert data == json.loads(json.dumps(output._data(network, backend)))
        # one container and one rule per line
        assert len(data["containers"]) + len(data["rules"]) <= text.count("\n")


def test_network_json_on_a_generated_spec(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import gen
    spec = tmp_path / "spec.netc"
    spec.write_text(gen.generate(300))
    network = pipeline.load(str(spec)).network
    assert output.network_json(network, "iptables") == output.network_json_reference(network, "iptables")
