"""Parse: text of a spec (and the files it includes) -> syntax blocks.

The only module that imports lark. Every lark exception is translated here
into a diagnostic (`VisitError` unwrapped, end of input reported at the end
of the file); nothing from lark escapes. `include "x.netc"` is resolved here,
relative to the including file, with cycle detection, so later stages see one
flat sequence of blocks in source order.
"""

from __future__ import annotations

import os
import unicodedata
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from .diagnostics import Note, Reporter, Sources, Span, did_you_mean, quote
from .syntax import Block, Option, Word

STATEMENTS = ("host", "daemon", "bridge", "container", "p2p", "include")
MAX_INCLUDE_DEPTH = 64


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files("netc.grammar").joinpath("netc.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", strict=True, propagate_positions=True, maybe_placeholders=False)


def _span(file: str, meta_or_token) -> Span:
    m = meta_or_token
    return Span(file, m.line, m.column, m.end_line, m.end_column)


def _unquote(raw: str) -> str:
    out, i = [], 1
    while i < len(raw) - 1:
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) - 1:
            i += 1
            c = raw[i]
        out.append(c)
        i += 1
    return "".join(out)


class _Build(Transformer):
    """lark tree -> syntax nodes. Thin: the grammar already shaped the tree."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _word(self, token: Token) -> Word:
        quoted = token.type == "STRING"
        text = _unquote(token.value) if quoted else token.value
        return Word(text, _span(self.file, token), quoted)

    def word(self, children):
        return self._word(children[0])

    name = value = word

    @v_args(meta=True)
    def option(self, meta, children):
        return Option(children[0], tuple(children[1:]), _span(self.file, meta))

    def body(self, children):
        return tuple(children)

    def _block(self, kind: str, children) -> Block:
        keyword, *names, body = children
        return Block(kind, tuple(names), body, _span(self.file, keyword))

    def host(self, c):
        return self._block("host", c)

    def daemon(self, c):
        return self._block("daemon", c)

    def bridge(self, c):
        return self._block("bridge", c)

    def container(self, c):
        return self._block("container", c)

    def p2p(self, c):
        return self._block("p2p", c)

    def include(self, children):
        keyword, path = children
        return ("include", _unquote(path.value), _span(self.file, path))

    def start(self, children):
        return list(children)


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    return quote(token.value)


_EXPECT_NAMES = {
    "RBRACE": "'}'", "LBRACE": "'{'", "SEMICOLON": "';'", "_NL": "end of line", "$END": "end of file",
    "WORD": "a word", "STRING": "a string", "INCLUDE": "'include'", "HOST": "'host'", "DAEMON": "'daemon'",
    "BRIDGE": "'bridge'", "CONTAINER": "'container'", "P2P": "'p2p'",
}


def _expected(expected: set[str]) -> str:
    names = sorted({_EXPECT_NAMES.get(e, e.lower()) for e in expected})
    statements = [n for n in names if n.strip("'") in STATEMENTS]
    if len(statements) >= 5:
        rest = [n for n in names if n not in statements]
        names = ["a statement (host, daemon, bridge, container, p2p, include)"] + rest
    return ", ".join(names)


def _translate(exc: UnexpectedInput, file: str, text: str, reporter: Reporter) -> None:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1] or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = exc.expected if isinstance(exc, UnexpectedToken) else set(exc.expected)
        reporter.error(Span(file, line, col, line, col + 1),
                       f"unexpected end of file; expected {_expected(set(expected))}")
        return
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)
        msg = f"unexpected {_describe(tok)}; expected {_expected(set(exc.expected))}"
        if tok.type == "WORD" and {"CONTAINER", "BRIDGE"} <= set(exc.expected):
            msg = f"unknown statement {quote(tok.value)}{did_you_mean(tok.value, STATEMENTS) or ''}"
            if not did_you_mean(tok.value, STATEMENTS):
                msg += f"; expected {_expected(set(exc.expected))}"
        elif tok.type in ("LBRACE",) and "WORD" in exc.expected:
            msg = f"unexpected '{{': a block needs a name here"
        reporter.error(span, msg)
        return
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        if ch == '"':
            reporter.error(span, "unterminated string: a string ends with '\"' on the same line")
        else:
            reporter.error(span, f"unexpected character {quote(ch)}")
        return
    reporter.error(Span(file, 1, 1, 1, 2), f"cannot parse: {exc}")


def _check_characters(text: str, file: str, reporter: Reporter) -> bool:
    """Control characters other than tab and line ends have no place in a spec."""
    ok = True
    line, col = 1, 1
    for ch in text:
        if ch == "\n":
            line, col = line + 1, 1
            continue
        if ch not in "\t\r" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            reporter.error(Span(file, line, col, line, col + 1),
                           f"control character U+{ord(ch):04X} is not allowed in a spec")
            ok = False
        col += 1
    return ok


def parse_text(text: str, file: str, reporter: Reporter) -> list:
    """Parse one file's text into blocks and ('include', path, span) items."""
    if not _check_characters(text, file, reporter):
        return []
    try:
        tree = _parser().parse(text)
        return _Build(file).transform(tree)
    except VisitError as exc:  # an error inside a transformer method
        raise exc.orig_exc from None
    except UnexpectedInput as exc:
        _translate(exc, file, text, reporter)
        return []


def _read(path: str, display: str, reporter: Reporter, span: Span | None) -> str | None:
    try:
        data = open(path, "rb").read()
    except IsADirectoryError:
        reporter.error(span, f"cannot read {quote(display)}: it is a directory")
        return None
    except OSError as exc:
        reporter.error(span, f"cannot read {quote(display)}: {exc.strerror or exc}")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        reporter.error(Span(display, line, col, line, col + 1), "the file is not valid UTF-8")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse_file(path: str, reporter: Reporter, sources: Sources) -> tuple[Block, ...]:
    """Parse a spec and everything it includes, in source order."""
    blocks: list[Block] = []

    def visit(display: str, stack: tuple[tuple[str, str], ...], span: Span | None) -> None:
        real = os.path.realpath(display)
        for i, (seen, _) in enumerate(stack):
            if seen == real:
                chain = " -> ".join([shown for _, shown in stack[i:]] + [display])
                reporter.error(span, f"include cycle: {chain}")
                return
        if len(stack) >= MAX_INCLUDE_DEPTH:
            reporter.error(span, f"includes nest deeper than {MAX_INCLUDE_DEPTH} files")
            return
        text = _read(display, display, reporter, span)
        if text is None:
            return
        sources.add(display, text)
        for item in parse_text(text, display, reporter):
            if isinstance(item, Block):
                blocks.append(item)
                continue
            _, target, where = item
            if not target:
                reporter.error(where, "include needs a file name")
                continue
            joined = os.path.normpath(os.path.join(os.path.dirname(display), target))
            visit(joined, stack + ((real, display),), where)

    visit(path, (), None)
    return tuple(blocks)
