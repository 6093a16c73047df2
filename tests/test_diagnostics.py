"""Golden diagnostics: every mistake of LANGUAGE.md's "Errors" list, as the user sees it.

Each folder golden/errors/<case>/ holds a `spec.netc` (and any files it
includes) and `expected.txt`: the exact stderr of `netc check spec.netc`, run
in that folder, then a line `exit: N` (2; 0 for a case named warning-only-*); beside it `expected.json` and
`expected.github`, the standard output of `--format json` and `--format github`. `pytest --update-golden` rewrites the
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


@lru_cache(maxsize=None)
def diagnostics_of(case: str):
    """What `netc check spec.netc` finds, in that folder, computed in this process."""
    import os
    from netc.diagnostics import CompileFailed
    from netc.pipeline import load
    cwd = os.getcwd()
    os.chdir(ERRORS / case)
    try:
        loaded = load("spec.netc")
        return loaded.diagnostics, loaded.sources
    except CompileFailed as exc:
        return exc.diagnostics, exc.sources
    finally:
        os.chdir(cwd)


def run_as(case: str, fmt: str) -> str:
    from netc.diagnostics import render_as
    return render_as(fmt, *diagnostics_of(case))


@pytest.mark.parametrize("fmt", ["json", "github"])
@pytest.mark.parametrize("case", CASES)
def test_error_case_for_tools(case, fmt, golden):
    """The same diagnostics for tools (the command line's wiring: test_cli_formats_match_the_golden)."""
    golden.check(ERRORS / case / f"expected.{fmt}", run_as(case, fmt))


@pytest.mark.parametrize("fmt", ["json", "github"])
@pytest.mark.parametrize("case", ["error-in-included-file", "warning-and-error", "option-misspelt"])
def test_cli_formats_match_the_golden(case, fmt):
    """`netc check --format F`: the golden text on standard output, nothing on standard error, exit 2."""
    r = netc("check", "spec.netc", "--format", fmt, cwd=ERRORS / case)
    assert r.stderr == "" and r.returncode == 2, r.stderr
    assert r.stdout == (ERRORS / case / f"expected.{fmt}").read_text()


def _text(case: str) -> str:
    """The text form, `netc check`'s standard error and its `exit: N` line, as the golden file holds
    it: test_error_case holds the command's output to that file, so the tests of the other forms
    read it there instead of starting netc again for every case (in every worker)."""
    return (ERRORS / case / "expected.txt").read_text(encoding="utf-8")


def _headings(case: str) -> list[tuple]:
    """(file, line, column, severity, message) of each diagnostic of the text form."""
    import re
    head = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): (?P<msg>.+)$")
    return [(m["file"], int(m["line"]), int(m["col"]), m["sev"], m["msg"])
            for m in map(head.match, _text(case).splitlines()) if m]


@pytest.mark.parametrize("case", CASES)
def test_json_says_what_the_text_says(case):
    import json
    items = json.loads(run_as(case, "json"))
    assert isinstance(items, list) and items
    for item in items:
        assert set(item) == {"file", "line", "column", "end_column", "severity", "message", "notes", "suggestion"}
        assert item["end_column"] > item["column"]
        for note in item["notes"]:
            assert set(note) == {"file", "line", "column", "message"}
        if "did you mean" in item["message"]:
            assert item["suggestion"] and item["message"].endswith(f"did you mean '{item['suggestion']}'?")
        else:
            assert item["suggestion"] is None
    first_lines = [(i["file"], i["line"], i["column"], i["severity"], i["message"].split("\n")[0]) for i in items]
    assert first_lines == _headings(case)


@pytest.mark.parametrize("case", CASES)
def test_github_annotations_are_one_line_each(case):
    lines = run_as(case, "github").splitlines()
    assert len(lines) == len(_headings(case))
    for line, (file, number, col, sev, _) in zip(lines, _headings(case)):
        assert line.startswith(f"::{sev} file={file},line={number},col={col},endColumn="), line


def test_github_escapes_what_the_runner_unescapes():
    from netc.diagnostics import Diagnostic, Note, Sources, Span, render_github
    sources = Sources()
    sources.add("a,b:c.netc", "container web {\n")
    span = Span("a,b:c.netc", 1, 11, 1, 14)
    d = Diagnostic("warning", "100% sure\r\nsecond line", span, (Note(None, "a note"),))
    assert render_github([d], sources) == (
        "::warning file=a%2Cb%3Ac.netc,line=1,col=11,endColumn=14::100%25 sure%0D%0Asecond line%0Anote: a note\n")
    assert render_github([Diagnostic("error", "no place")], sources) == "::error::no place\n"


def test_compile_formats(tmp_path):
    """compile: warnings as JSON with exit 0; --check under github annotates each differing file,
    and under json keeps standard output for the array."""
    import json
    spec = tmp_path / "spec.netc"
    spec.write_text("daemon { iptables false }\ncontainer web { publish 8080:80 }\n")
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"), "--format", "json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert [i["severity"] for i in items] == ["warning"] and items[0]["line"] == 2
    (tmp_path / "out" / "containers" / "web" / "hostname").write_text("changed\n")
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"), "--check", "--format", "github")
    assert r.returncode == 1
    assert f"::error file={tmp_path}/out/containers/web/hostname::differs" in r.stdout
    assert "::warning file=" in r.stdout and "+web" in r.stdout
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"), "--check", "--format", "json")
    assert r.returncode == 1 and json.loads(r.stdout)[0]["severity"] == "warning" and "+web" in r.stderr
    r = netc("check", str(spec), "--format", "json", "--emit", "ir")
    assert r.returncode == 2 and "give one of them" in r.stderr
    r = netc("check", str(tmp_path / "missing.netc"), "--format", "json")
    assert r.returncode == 2 and json.loads(r.stdout)[0]["file"] is None
    ok = tmp_path / "ok.netc"
    ok.write_text("container web {}\n")
    assert netc("check", str(ok), "--format", "json").stdout == "[]\n"
    assert netc("check", str(ok), "--format", "github").stdout == ""


def test_every_diagnostic_has_the_documented_form():
    """FILE:LINE:COL: severity: message, then the source line and a caret line, for every case
    (in the golden text, which test_error_case holds netc's output to)."""
    import re
    head = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (error|warning|note): .+$")
    for case in CASES:
        lines = _text(case).splitlines()[:-1]
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
