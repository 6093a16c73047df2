"""Hostile file and folder names: nothing from outside netc reaches a script unquoted.

Spec names, include names and output folders with newlines, $( ), backticks, quotes,
';', '\\', a leading '-', UTF-8 and bytes that are not UTF-8 compile to trees whose
scripts pass `sh -n` (and dash's and bash's), whose rules the kernel loads, and which,
applied in a sandbox, run nothing but netc's commands: every payload would create a
canary file in the current folder (each command here runs in the test's folder), and
none exists afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netns import require_namespaces

NETC = str(Path(sys.executable).parent / "netc")
SHELLS = [s for s in ("sh", "dash", "bash") if shutil.which(s)]
CANARY = "netc-pwned"   # every payload would create it in the current folder (no '/': a name holds none)
PAYLOADS = [
    f"w\ntouch {CANARY}; echo INJ >&2;x",          # the name
    f"$(touch {CANARY})", f"`touch {CANARY}`", f"a'$(touch {CANARY})'b", f'a"$(touch {CANARY})"b',
    f"a;touch {CANARY};b", "a\\b\\", "-rf", "--help", f"\r\n# \ntouch {CANARY}\n", "\u2028x\u202e",
    "日本語", "\x1b]0;title\x07", "a\tb", "*", "~", "$HOME", "a\"; -j DROP #",
]
SPEC = """
container db { expose 5432 }
container web { link db:database; publish 8080:80 }
container sealed { net none }
p2p sealed db {
    sealed 10.1.1.1/32
    db 10.1.1.2/32
}
"""


def _bytes_name(draw_bytes: bytes) -> str:
    return os.fsdecode(draw_bytes)


NAMES = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=40),
    st.binary(min_size=1, max_size=30).filter(lambda b: b"/" not in b and b"\0" not in b).map(_bytes_name),
).filter(lambda n: n not in (".", "..") and len(os.fsencode(n)) < 200)


def _compile(tmp: Path, spec_name: str, out_name: str, include_name: str, backend: str = "iptables",
             *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    folder = tmp / "w"
    (folder / "inc").mkdir(parents=True)
    inc = folder / "inc" / (include_name + ".netc")
    inc.write_text("container extra { expose 9000 }\n")
    include = "inc/" + inc.name.replace("\\", "\\\\").replace('"', '\\"')
    spec = folder / (spec_name + ".netc")
    # An include name a spec can write (no control characters in a spec): else include a plain name.
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in include):
        plain = folder / "inc" / "plain.netc"
        inc.rename(plain)
        include = "inc/plain.netc"
    spec.write_text(SPEC + f'include "{include}"\n')
    out = folder / out_name / "out"
    r = subprocess.run([NETC, "compile", os.fsencode(spec), "-o", os.fsencode(out), "--backend", backend, *extra],
                       capture_output=True, env={**os.environ, "NETC_DEBUG": ""}, cwd=tmp)
    return r, out


def _pwned(tmp: Path) -> list[str]:
    return [str(p) for p in tmp.rglob(CANARY)]


def _check_tree(out: Path) -> None:
    for script in ("apply.sh", "teardown.sh"):   # netc-lib.sh holds no name: the same in every tree
        data = (out / script).read_bytes()
        data.decode("utf-8")                                    # valid UTF-8: no raw bytes of a name
        for shell in SHELLS:
            r = subprocess.run([shell, "-n", os.fsencode(out / script)], capture_output=True)
            assert r.returncode == 0, (script, shell, r.stderr)
        # The header's comment is one line: the spec's name cannot end it.
        assert data.split(b"\n")[2].startswith(b"#")
    for name in ("rules.v4", "rules.nft", "netc.json", "objects", "manifest"):
        if (out / name).exists():
            (out / name).read_bytes().decode("utf-8")


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_name=NAMES, out_name=NAMES, include_name=NAMES)
def test_hostile_names_compile_to_scripts_that_parse(tmp_path_factory, spec_name, out_name, include_name):
    tmp = tmp_path_factory.mktemp("h")
    r, out = _compile(tmp, spec_name, out_name, include_name)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"Traceback" not in r.stderr
    _check_tree(out)
    assert _pwned(tmp) == []
    shutil.rmtree(tmp)


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
@pytest.mark.parametrize("case", range(4))
def test_a_tree_with_hostile_names_applies_and_runs_only_netcs_commands(sandbox, tmp_path, backend, case):
    """The payloads as spec, include and folder names, applied and torn down for real."""
    require_namespaces()
    names = PAYLOADS[case * 4:case * 4 + 3] + [os.fsdecode(b"\xff\xfe")]
    spec_name, out_name, include_name = names[0], names[1] + names[3], names[2]
    r, out = _compile(tmp_path, spec_name, out_name, include_name, backend, "--netns-prefix", sandbox.prefix)
    assert r.returncode == 0, r.stderr
    _check_tree(out)
    before = sandbox.snapshot()
    try:
        applied = subprocess.run(["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--", "sh",
                                  os.fsencode(out / "apply.sh")], capture_output=True, env=sandbox.env(), cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr.decode(errors="replace")
        assert b"INJ" not in applied.stderr
        down = subprocess.run(["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--", "sh",
                               os.fsencode(out / "teardown.sh")], capture_output=True, env=sandbox.env(), cwd=tmp_path)
        assert down.returncode == 0, down.stderr.decode(errors="replace")
        assert sandbox.snapshot() == before
    finally:
        assert _pwned(tmp_path) == [] and not os.path.exists(CANARY), "a payload ran"


def test_a_folder_whose_name_ends_in_a_newline_sources_its_own_library(sandbox, tmp_path):
    """$(...) drops trailing newlines: apply.sh in 'o\\n' once sourced o/netc-lib.sh, a
    decoy beside it. It finds its own folder, whatever the name."""
    require_namespaces()
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "netc-lib.sh").write_text(f"touch {CANARY}; echo INJ >&2\nnetc_apply() {{ :; }}\n"
                                                 "netc_teardown() { :; }\n")
    spec = tmp_path / "spec.netc"
    spec.write_text(SPEC)
    out = tmp_path / "o\n"
    r = subprocess.run([NETC, "compile", str(spec), "-o", str(out), "--netns-prefix", sandbox.prefix],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = sandbox.snapshot()
    for script in ("apply.sh", "teardown.sh"):
        done = subprocess.run(["nsenter", f"--net=/var/run/netns/{sandbox.host}", "--", "sh", str(out / script)],
                              capture_output=True, text=True, env=sandbox.env(), cwd=tmp_path)
        assert done.returncode == 0 and "INJ" not in done.stderr, done.stderr
        if script == "apply.sh":
            assert sandbox.snapshot() != before          # it applied, with its own library
    assert sandbox.snapshot() == before
    assert _pwned(tmp_path) == []
