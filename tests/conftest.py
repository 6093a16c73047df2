"""Shared test helpers: golden files and spec compilation.

Golden files (STYLE.md, after mypy's --update-data): `pytest --update-golden`
(or `make golden`) rewrites every expected file a test compares against, and
the run still fails, so a rewrite is never mistaken for a pass; review the
diff with git before committing. A missing golden file fails too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output (the run still fails)")


class Golden:
    def __init__(self, update: bool) -> None:
        self.update = update
        self.rewritten: list[str] = []

    def check(self, path: Path, actual: str) -> None:
        path = Path(path)
        if self.update:
            old = path.read_text(encoding="utf-8") if path.exists() else None
            if old != actual:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(actual, encoding="utf-8")
                self.rewritten.append(str(path.relative_to(ROOT)))
            return
        if not path.exists():
            pytest.fail(f"missing golden file {path.relative_to(ROOT)}: run `make golden` and review it")
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{path.relative_to(ROOT)} differs (run `make golden` to rewrite it)"


@pytest.fixture
def golden(request):
    g = Golden(request.config.getoption("--update-golden"))
    yield g
    if g.rewritten:  # every file of the test is rewritten first, then the run fails
        pytest.fail(f"rewrote {len(g.rewritten)} golden file(s), e.g. {g.rewritten[0]}: review the diff and commit it")


def netc(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed `netc` command as a user would."""
    exe = Path(sys.executable).parent / "netc"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, input=input,
                          env={**os.environ, "NETC_DEBUG": ""})


def write_spec(tmp_path: Path, text: str, name: str = "spec.netc") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def sandbox():
    """A sandbox host and outside namespace (netc.sandbox), always deleted."""
    from netns import require_namespaces
    from netc.prove.sandbox import Sandbox
    require_namespaces()
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()
