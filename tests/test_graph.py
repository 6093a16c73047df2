"""`netc graph`: the topology picture, laid out by Graphviz and read back.

The DOT text of every example is golden (test_golden.py); here the layout is
made by the real `dot` and checked: the SVG parses and names every container,
dot says nothing (no warnings), a spec and its compiled tree draw the same
picture, and keys the data may carry (allow-lists, IPv6) are drawn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import EXAMPLES, GOLDEN, netc, write_spec
from netc.emit import graph

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLE_SPECS = sorted(EXAMPLES.glob("*.netc"))


def need_dot() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must lay pictures out: Graphviz's dot is missing (make system installs it)")
        pytest.skip("Graphviz's dot is not installed (make system installs it)")


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def containers_of(spec) -> list[str]:
    from netc.pipeline import load
    from netc.resolve.lock import Lock
    return [c.name for c in load(str(spec), lock=Lock()).network.containers]


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=[p.stem for p in EXAMPLE_SPECS])
def test_svg_parses_and_names_every_container(spec, tmp_path):
    need_dot()
    out = tmp_path / "picture.svg"
    r = netc("graph", str(spec), "-o", str(out))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    texts = svg_texts(out.read_bytes())
    for name in containers_of(spec):
        assert name in texts, f"{spec.name}: the picture does not name container {name}"


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=[p.stem for p in EXAMPLE_SPECS])
def test_dot_lays_every_golden_graph_out_without_a_word(spec):
    need_dot()
    r = subprocess.run(["dot", "-Tsvg", str(GOLDEN / "graph" / f"{spec.stem}.dot")], capture_output=True)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()


def test_full_example_draws_what_the_issue_asks_for():
    """Bridges with subnet, gateway and icc; the external one marked; publishes host IP:PORT/PROTO;
    links with alias and ports; p2p; net modes."""
    text = (GOLDEN / "graph" / "full.dot").read_text()
    for piece in ("bridge docker0  172.17.0.0/16", "gateway 172.17.42.1", "icc off", "bridge bridge0  192.168.5.0/24",
                  "external: made by the admin", "0.0.0.0:8080/tcp", "127.0.0.1:8443/tcp  (this host only)",
                  "127.0.0.1:49153/tcp  (drawn, this host only)", "link as <b>database</b><br/>5432/tcp",
                  "p2p veth", "net container:web", "net host", "net none", "eth0  172.17.0.3/16",
                  "hostname web.example.com", "host:pub_web_0:e -> c_web:tcp_80:w"):
        assert piece in text, piece


def test_spec_and_compiled_tree_draw_the_same(tmp_path):
    spec = EXAMPLES / "full.netc"
    from_spec = netc("graph", str(spec))
    assert from_spec.returncode == 0, from_spec.stderr
    for backend in ("iptables", "nftables"):
        shutil.copy(spec, tmp_path / "full.netc")
        out = tmp_path / f"out-{backend}"
        assert netc("compile", str(tmp_path / "full.netc"), "-o", str(out), "--backend", backend).returncode == 0
        from_tree = netc("graph", str(out))
        assert from_tree.returncode == 0, from_tree.stderr
        assert from_tree.stdout == from_spec.stdout


def test_formats_and_outputs(tmp_path):
    need_dot()
    spec = EXAMPLES / "demo.netc"
    png = tmp_path / "demo.png"
    assert netc("graph", str(spec), "-o", str(png)).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    r = netc("graph", str(spec), "--format", "svg")
    assert r.returncode == 0 and "web" in svg_texts(r.stdout.encode())
    dot_file = tmp_path / "picture.gv"
    r = netc("graph", str(spec), "-o", str(dot_file), "--format", "dot")
    assert r.returncode == 0 and dot_file.read_text() == netc("graph", str(spec)).stdout
    assert not list(tmp_path.glob("*.netc-tmp"))


def test_user_errors(tmp_path):
    r = netc("graph", str(EXAMPLES / "demo.netc"), "-o", str(tmp_path / "picture.jpeg"))
    assert r.returncode == 2 and "give --format" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = netc("graph", str(empty))
    assert r.returncode == 2 and "holds no netc.json" in r.stderr
    (empty / "netc.json").write_text("[1, 2")
    r = netc("graph", str(empty))
    assert r.returncode == 2 and "is not netc's JSON" in r.stderr
    (empty / "netc.json").write_text('{"bridges": [], "containers": [{"mode": "bridge"}]}')
    r = netc("graph", str(empty))
    assert r.returncode == 2 and "a nameless entry in containers" in r.stderr
    (empty / "netc.json").write_text("[]")
    r = netc("graph", str(empty))
    assert r.returncode == 2 and "is not netc's JSON" in r.stderr
    bad = write_spec(tmp_path, "container web { link nobody }\n")
    r = netc("graph", str(bad))
    assert r.returncode == 2 and ":1:" in r.stderr and r.stdout == ""
    r = netc("graph", str(tmp_path / "missing.netc"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_hostile_names_are_quoted(tmp_path):
    """A spec file named with HTML and DOT specials, and names with dots and dashes."""
    need_dot()
    spec = write_spec(tmp_path, 'container a.b-c { hostname "x.example"; expose 80 }\n'
                                "container d_e { link a.b-c:al.ias; publish 127.0.0.1:8080:80 }\n",
                      name='we<i>rd" & odd.netc')
    r = netc("graph", str(spec), "--format", "svg")
    assert r.returncode == 0, r.stderr
    texts = svg_texts(r.stdout.encode())
    assert "a.b-c" in texts and "d_e" in texts
    assert any('we<i>rd" & odd.netc' in t for t in texts)


def test_keys_the_data_does_not_carry_yet_are_drawn_when_present():
    """Allow-lists (a mapping's "from") and IPv6 addresses: drawn when present, absent otherwise."""
    data = json.loads((GOLDEN / "examples" / "demo" / "iptables" / "netc.json").read_text())
    plain = graph.dot(data)
    assert "from " not in plain and "2001:db8" not in plain
    data["bridges"][0].update(network6="2001:db8:1::/64", gateway6="2001:db8:1::1")
    web = next(c for c in data["containers"] if c["name"] == "web")
    web["address6"] = "2001:db8:1::242:ac11:3"
    web["mappings"][0]["from"] = ["198.51.100.0/24", "2001:db8:ff::/64"]
    web["mappings"].append({**web["mappings"][0], "host_ip": "::", "from": ["0.0.0.0/0", "::/0"]})
    text = graph.dot(data)
    assert "from 198.51.100.0/24, 2001:db8:ff::/64" in text
    assert "2001:db8:1::/64" in text and "gateway 2001:db8:1::1" in text and "eth0  2001:db8:1::242:ac11:3" in text
    assert "[::]:8080/tcp" in text
    assert text.count('label="from ') == 1, "an allow-list of everyone is no allow-list"
