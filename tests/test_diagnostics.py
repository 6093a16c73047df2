"""Golden diagnostics: every mistake of LANGUAGE.md's "Errors" list, as the user sees it.

Each folder golden/errors/<case>/ holds a `spec.netc` (and any files it
includes) and `expected.txt`: the exact stderr of `netc check spec.netc`, run
in that folder, then a line `exit: N` (2; 0 for a case named warning-only-*). `pytest --update-golden` rewrites the
expected files (and fails the run); read every rewritten one before committing:
the message, the line and column, and that the caret is under the offending
word (the second of two duplicates, the bad link target, the bad address).
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from conftest import GOLDEN, netc

ERRORS = GOLDEN / "errors"
CASES = sorted(p.name for p in ERRORS.iterdir() if p.is_dir())


@lru_cache(maxsize=None)
def run(case: str) -> tuple[str, int]:
    r = netc("check", "spec.netc", cwd=ERRORS / case)
    assert r.stdout == "", "check prints diagnostics on stderr only"
    return r.stderr + f"exit: {r.returncode}\n", r.returncode


@pytest.mark.parametrize("case", CASES)
def test_error_case(case, golden):
    assert (ERRORS / case / "spec.netc").is_file(), f"golden/errors/{case} has no spec.netc"
    text, status = run(case)
    assert "Traceback" not in text and "internal error" not in text, text
    golden.check(ERRORS / case / "expected.txt", text)
    if case.startswith("warning-only-"):  # a warning alone: the spec is valid
        assert status == 0 and ": warning: " in text and ": error: " not in text, text
    else:
        assert status == 2, text
        assert ": error: " in text


def test_every_diagnostic_has_the_documented_form():
    """FILE:LINE:COL: severity: message, then the source line and a caret line, for every case."""
    import re
    head = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (error|warning|note): .+$")
    for case in CASES:
        lines = run(case)[0].splitlines()[:-1]
        i = 0
        while i < len(lines):
            m = head.match(lines[i])
            assert m, f"{case}: not a diagnostic line: {lines[i]!r}"
            number = m.group("line")
            assert lines[i + 1].startswith(f" {number} | "), f"{case}: no source line after {lines[i]!r}"
            caret = lines[i + 2]
            assert caret.startswith(" " * (len(number) + 1) + " | "), f"{case}: no caret line after {lines[i]!r}"
            column = caret.index("^") - len(f" {number} | ") + 1
            assert column == int(m.group("col")), f"{case}: caret at column {column}, message says {m.group('col')}"
            i += 3
