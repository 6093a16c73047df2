"""Diagnostics: one type for every message netc gives about a spec, and its renderers.

Every stage reports problems through a `Reporter`; nothing raises past the CLI.
A diagnostic renders as

    spec.netc:12:5: error: unknown option 'pubish' in container 'web'; did you mean 'publish'?
       12 |     pubish 8080:80
          |     ^~~~~~
    spec.netc:3:1: note: first defined here

Positions are 1-based lines and columns counted in characters. The renderer
needs the text of each file, which the parser registers in `Sources`.

For tools (`--format`): `render_json` writes one JSON array of objects (file,
line, column, end_column, severity, message, notes, suggestion), and
`render_github` GitHub Actions workflow commands (`::error file=...::message`)
that annotate the very line of a spec in CI.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Iterable

from .quote import printable


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of a source file. Carried by nodes, never compared by them."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class Note:
    span: Span | None
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    message: str
    span: Span | None = None
    notes: tuple[Note, ...] = ()

    @property
    def suggestion(self) -> str | None:
        """The word a "did you mean" offers (did_you_mean below writes it), else None."""
        m = _SUGGESTION.search(self.message)
        return m.group(1) if m else None

    def sort_key(self, files: dict[str, int] | None = None) -> tuple:
        s = self.span
        rank = (files or {}).get(s.file, len(files or ())) if s else 0
        return (s is None, rank, s.file if s else "", s.line if s else 0, s.col if s else 0, self.message)


class Sources:
    """The text of every file read, for rendering source lines under messages."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def add(self, name: str, text: str) -> None:
        self._lines[name] = text.split("\n")

    def line(self, name: str, number: int) -> str | None:
        lines = self._lines.get(name)
        if lines is None or not 1 <= number <= len(lines):
            return None
        return lines[number - 1].rstrip("\r")


class Reporter:
    """Collects diagnostics from every stage; `errors` tells whether to stop."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.files: dict[str, int] = {}  # file -> the order it was read in (the main spec first)
        self.included_at: dict[str, Span] = {}  # an included file -> its `include` statement

    def read(self, file: str, included_at: Span | None = None) -> None:
        """Note that a file was read, so that its diagnostics sort after earlier files'
        and, for an included file, end with a note pointing at the include."""
        self.files.setdefault(file, len(self.files))
        if included_at is not None:
            self.included_at.setdefault(file, included_at)

    def error(self, span: Span | None, message: str, notes: Iterable[Note] = ()) -> None:
        self.diagnostics.append(Diagnostic("error", message, span, tuple(notes)))

    def warning(self, span: Span | None, message: str, notes: Iterable[Note] = ()) -> None:
        self.diagnostics.append(Diagnostic("warning", message, span, tuple(notes)))

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")

    def sorted(self) -> list[Diagnostic]:
        # Deduplicate (an include spliced twice must not double its messages).
        seen: dict[tuple, Diagnostic] = {}
        for d in self.diagnostics:
            seen.setdefault((d.severity, d.message, d.span, d.notes), d)
        out = []
        for d in seen.values():
            site = self.included_at.get(d.span.file) if d.span else None
            if site is not None:
                d = Diagnostic(d.severity, d.message, d.span, d.notes + (Note(site, f"{printable(d.span.file)} is included here"),))
            out.append(d)
        return sorted(out, key=lambda d: d.sort_key(self.files))


class CompileFailed(Exception):
    """Raised by the pure entry points when a spec has errors."""

    def __init__(self, diagnostics: list[Diagnostic], sources: Sources) -> None:
        super().__init__(f"{sum(d.severity == 'error' for d in diagnostics)} error(s)")
        self.diagnostics = diagnostics
        self.sources = sources


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# What did_you_mean appends, read back for Diagnostic.suggestion.
_SUGGESTION = re.compile(r"; did you mean '([^']*)'\?$")


def quote(text: str) -> str:
    """User input quoted for a message: one line, printable, in single quotes."""
    return f"'{printable(text)}'"


def _excerpt(sources: Sources, span: Span) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    # Show tabs as single spaces so that the caret lines up on any terminal.
    shown = "".join(" " if c == "\t" else (c if c.isprintable() else "?") for c in text)
    width = len(str(span.line))
    start = min(span.col - 1, len(shown))
    end = span.end_col - 1 if span.end_line == span.line else len(shown)
    length = max(1, min(end, len(shown)) - start)
    marker = " " * start + "^" + "~" * (length - 1)
    return [f" {span.line} | {shown}", f" {' ' * width} | {marker}"]


def render(diagnostic: Diagnostic, sources: Sources) -> str:
    lines = []
    d = diagnostic
    # A file name may hold any bytes: shown escaped, on one line.
    prefix = f"{printable(d.span.file)}:{d.span.line}:{d.span.col}: " if d.span else "netc: "
    lines.append(f"{prefix}{d.severity}: {d.message}")
    if d.span:
        lines.extend(_excerpt(sources, d.span))
    for note in d.notes:
        where = f"{printable(note.span.file)}:{note.span.line}:{note.span.col}: " if note.span else "netc: "
        lines.append(f"{where}note: {note.message}")
        if note.span:
            lines.extend(_excerpt(sources, note.span))
    return "\n".join(lines) + "\n"


def render_all(diagnostics: Iterable[Diagnostic], sources: Sources) -> str:
    return "".join(render(d, sources) for d in diagnostics)


# ------------------------------------------------------------------ for tools

FORMATS = ("text", "json", "github")


def _end_column(sources: Sources, span: Span) -> int:
    """The column just past the span on its first line (a span running on ends with that line)."""
    if span.end_line == span.line:
        return max(span.end_col, span.col + 1)
    text = sources.line(span.file, span.line)
    return max(len(text) + 1 if text is not None else span.col + 1, span.col + 1)


def _where(span: Span | None) -> dict:
    if span is None:
        return {"file": None, "line": None, "column": None}
    return {"file": printable(span.file), "line": span.line, "column": span.col}  # a name in any bytes: escaped


def to_json(diagnostic: Diagnostic, sources: Sources) -> dict:
    d = diagnostic
    return {
        **_where(d.span),
        "end_column": _end_column(sources, d.span) if d.span else None,
        "severity": d.severity,
        "message": d.message,
        "notes": [{**_where(n.span), "message": n.message} for n in d.notes],
        "suggestion": d.suggestion,
    }


def _json_array(objects: list[dict]) -> str:
    items = [json.dumps(o, ensure_ascii=False) for o in objects]
    return "[\n  " + ",\n  ".join(items) + "\n]\n" if items else "[]\n"


def render_json(diagnostics: Iterable[Diagnostic], sources: Sources) -> str:
    """Every diagnostic as one JSON array (an empty one when there are none), one object a line."""
    return _json_array([to_json(d, sources) for d in diagnostics])


def _github_data(text: str) -> str:
    # The escapes GitHub's runner undoes in a workflow command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(severity: str, message: str, *, file: str | None = None, line: int | None = None,
                      col: int | None = None, end_col: int | None = None) -> str:
    """One GitHub Actions workflow command: `::error file=F,line=L,col=C,endColumn=E::message`."""
    command = "error" if severity == "error" else "warning"
    props = [f"{key}={_github_property(str(value))}" for key, value in
             (("file", file), ("line", line), ("col", col), ("endColumn", end_col)) if value is not None]
    return f"::{command} {','.join(props)}::" + _github_data(message) if props else \
        f"::{command}::" + _github_data(message)


def render_github(diagnostics: Iterable[Diagnostic], sources: Sources) -> str:
    """GitHub Actions workflow commands, one a line, each note after the message on a line
    of its own (a newline is %0A in a workflow command)."""
    lines = []
    for d in diagnostics:
        text = d.message
        for note in d.notes:
            where = f"{printable(note.span.file)}:{note.span.line}:{note.span.col}: " if note.span else ""
            text += f"\n{where}note: {note.message}"
        s = d.span
        lines.append(github_annotation(d.severity, text, file=printable(s.file) if s else None,
                                       line=s.line if s else None,
                                       col=s.col if s else None, end_col=_end_column(sources, s) if s else None))
    return "".join(line + "\n" for line in lines)


def render_as(fmt: str, diagnostics: Iterable[Diagnostic], sources: Sources) -> str:
    return {"text": render_all, "json": render_json, "github": render_github}[fmt](list(diagnostics), sources)


def render_runs(fmt: str, runs: Iterable[tuple[Iterable[Diagnostic], Sources]]) -> str:
    """The diagnostics of several specs, each with its sources: one after the other, and for
    json one array holding them all."""
    runs = list(runs)
    if fmt == "json":
        return _json_array([to_json(d, sources) for diagnostics, sources in runs for d in diagnostics])
    return "".join(render_as(fmt, diagnostics, sources) for diagnostics, sources in runs)
