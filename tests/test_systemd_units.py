"""The systemd units of the output tree (issue 14, part 4: survive other tools and reboots):
systemd-analyze accepts them, install-units installs them and names their instances.
What they run is tested against a simulated reload in tests/e2e/test_units.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import netc, write_spec

UNITS = ["netc-apply@.service", "netc-firewalld@.service", "netc-reapply@.service"]


@pytest.fixture
def out(tmp_path):
    spec = write_spec(tmp_path, "container web { publish 8080:80 }\n")
    r = netc("compile", str(spec), "-o", str(tmp_path / "my out"))
    assert r.returncode == 0, r.stderr
    return tmp_path / "my out"


def test_the_tree_carries_the_units(out):
    assert sorted(p.name for p in (out / "systemd").iterdir()) == UNITS
    assert "systemd/netc-apply@.service" in (out / "manifest").read_text()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_every_unit(out, tmp_path):
    dest = tmp_path / "units"
    r = netc("install-units", str(out), "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    instance = subprocess.run(["systemd-escape", "--path", str(out)], capture_output=True, text=True).stdout.strip()
    for unit in UNITS:   # an instance next to its template, as systemd finds it
        shutil.copy(dest / unit, dest / unit.replace("@.", f"@{instance}."))
    paths = [str(dest / u.replace("@.", f"@{instance}.")) for u in UNITS]
    r = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True)
    assert r.returncode == 0 and "rror" not in r.stderr, r.stderr
    # The check can fail: a unit systemd would refuse is refused.
    bad = dest / f"broken@{instance}.service"
    bad.write_text((dest / UNITS[0]).read_text().replace('ExecStart=/bin/sh', 'ExecStart=sh-relative'))
    r = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 or "rror" in r.stderr or "not absolute" in r.stderr


def test_install_units_names_the_instances(out, tmp_path):
    dest = tmp_path / "units"
    r = netc("install-units", str(out), "--dest", str(dest))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dest.iterdir()) == UNITS
    assert (dest / UNITS[0]).read_text() == (out / "systemd" / UNITS[0]).read_text()
    escaped = subprocess.run(["systemd-escape", "--path", str(out)], capture_output=True, text=True).stdout.strip() \
        if shutil.which("systemd-escape") else None
    from netc.cli.host import escape_path
    if escaped:
        assert escape_path(str(out)) == escaped
    assert f"systemctl enable --now netc-apply@{escape_path(str(out))}.service" in r.stderr
    assert "\\x20out" in escape_path(str(out))
    r = netc("install-units", str(tmp_path / "nothing"), "--dest", str(dest))
    assert r.returncode == 2 and "holds no units" in r.stderr


def test_escape_path_matches_systemd():
    from netc.cli.host import escape_path
    cases = {"/": "-", "/srv/out": "srv-out", "/srv//out/": "srv-out", "/a b/.c": "a\\x20b-.c",
             "/.x": "\\x2ex", "/ü": "\\xc3\\xbc", "/a-b": "a\\x2db"}
    for path, want in cases.items():
        assert escape_path(path) == want, path
        if shutil.which("systemd-escape"):
            got = subprocess.run(["systemd-escape", "--path", path], capture_output=True, text=True).stdout.strip()
            assert got == want, (path, got)
