"""The compile command: determinism, --check, the lock, the folder it writes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, GOLDEN, netc, write_spec

SPEC = """
daemon { icc false }
container db { expose 5432 }
container web { link db:database; publish 8080:80; publish 53/udp; publish-all; expose 7000-7001 }
"""


def read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_byte_identical_from_any_directory(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b" / "deeper"
    b.mkdir(parents=True)
    for d in (a, b):
        d.mkdir(exist_ok=True)
        write_spec(d, SPEC)
    assert netc("compile", "spec.netc", "-o", "out", cwd=a).returncode == 0
    r = netc("compile", str(b / "spec.netc"), "-o", str(tmp_path / "out2"), cwd="/")
    assert r.returncode == 0, r.stderr
    first, second = read_tree(a / "out"), read_tree(tmp_path / "out2")
    assert first == second
    assert (a / "spec.lock").read_bytes() == (b / "spec.lock").read_bytes()
    for name, data in first.items():
        text = data.decode()
        assert text.endswith("\n") and not text.endswith("\n\n") and "\r" not in text, name
        assert str(tmp_path) not in text, f"{name} holds an absolute path"


def test_second_compile_is_identical_and_check_passes(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    first = read_tree(out)
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    assert read_tree(out) == first
    r = netc("compile", str(spec), "-o", str(out), "--check")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr


def test_check_catches_a_changed_file_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    rules = out / "rules.v4"
    rules.write_text(rules.read_text().replace("--dport 8080", "--dport 8081"))
    (out / "containers" / "db" / "hosts").unlink()
    before = read_tree(out)
    r = netc("compile", str(spec), "-o", str(out), "--check")
    assert r.returncode == 1
    assert "-A NETC-DNAT -p tcp -m tcp --dport 8081" in r.stdout and "+-A NETC-DNAT -p tcp -m tcp --dport 8080" in r.stdout
    assert "+++ b/containers/db/hosts" in r.stdout
    assert read_tree(out) == before


def test_check_on_a_changed_spec_fails(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    spec.write_text(SPEC.replace("8080:80", "8090:80"))
    assert netc("compile", str(spec), "-o", str(out), "--check").returncode == 1


def test_stale_files_are_removed(tmp_path):
    spec = write_spec(tmp_path, SPEC + "container extra {}\n")
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    assert (out / "containers" / "extra" / "hosts").exists()
    spec.write_text(SPEC)
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    assert not (out / "containers" / "extra").exists()


def test_refuses_a_folder_that_is_not_netc_output(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    r = netc("compile", str(spec), "-o", str(out))
    assert r.returncode == 2 and "refusing" in r.stderr
    assert (out / "notes.txt").read_text() == "mine\n"


def test_lock_is_written_and_frozen_respects_it(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    lock = tmp_path / "spec.lock"
    assert '"db": "172.17.0.2"' in lock.read_text()
    assert netc("compile", str(spec), "-o", str(out), "--frozen").returncode == 0
    spec.write_text("container first {}\n" + SPEC)
    r = netc("compile", str(spec), "-o", str(out), "--frozen")
    assert r.returncode == 2 and "--frozen" in r.stderr
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    text = lock.read_text()
    assert '"db": "172.17.0.2"' in text and '"first": "172.17.0.4"' in text


def test_scripts_are_valid_posix_sh():
    shells = [s for s in ("sh", "dash", "bash") if shutil.which(s)]
    scripts = sorted(GOLDEN.rglob("*.sh"))
    assert scripts, "no golden scripts"
    for script in scripts:
        for shell in shells:
            r = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
            assert r.returncode == 0, f"{shell} -n {script}: {r.stderr}"


def test_every_example_checks_clean():
    examples = sorted(EXAMPLES.glob("*.netc"))
    assert examples
    for spec in examples:
        r = netc("check", str(spec))
        assert r.returncode == 0, f"{spec.name}: {r.stderr}"
        assert "error" not in r.stderr


@pytest.mark.parametrize("name", [
    "a;rm", "$(reboot)", "`id`", "a b", "a'b", 'a"b', "a\\b", "-rf", "a|b", "a&b", "a>b", "..", "a/b",
])
def test_hostile_container_names_never_reach_output(tmp_path, name):
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    spec = write_spec(tmp_path, f"container {quoted} {{ publish 8080:80 }}\n")
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", [
    'container web { hostname "a\nb" }', 'container web { add-host "x\n1.2.3.4:1.2.3.4" }',
    'container web { dns-search "a.b; rm -rf /" }', 'container web { netns "/proc/1/ns/net;reboot" }',
    'container web { netns "/var/run/netns/$(id)" }', 'container web { dns-option "ndots:1\nnameserver 6.6.6.6" }',
    'host { search "evil\ncom" }', 'container web { hostname "a\x07b" }', 'container web { dns-search "a\u2028b" }', 'bridge "br$(x)" { bip 10.9.0.1/24 }',
    'p2p a b { a 10.1.1.1/32 iface "x;y"; b 10.1.1.2/32 }\ncontainer a {}\ncontainer b {}',
])
def test_hostile_values_are_rejected(tmp_path, text):
    spec = write_spec(tmp_path, text + "\n")
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert "error:" in r.stderr and "Traceback" not in r.stderr
