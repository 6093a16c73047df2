"""A fast path for parsing well-formed specs, beside the lark parser.

Parsing a 10,000-container spec with lark (tree building, position
propagation, a Transformer pass) took seconds. This module recognises exactly
the language of grammar/netc.lark with one regular expression and a small
hand-written loop, and builds the same syntax nodes (syntax.py), with the same
spans, as parse.py's lark transformer does.

It only handles text that is free of errors: at the first thing it does not
expect it returns None, and parse.py parses the text again with lark, which
reports the error. So every diagnostic still comes from one place, and a
valid spec never pays for lark (nor for building its parser).
tests/test_properties.py checks that both parsers agree, spans included.
"""

from __future__ import annotations

import re

from ..diagnostics import Span
from .statements import BLOCKS, STATEMENTS
from .syntax import Block, Option, Word

# The terminals of netc.lark. Only a '\n' ends a line (a '\r' before it is
# white space, as in lark, where WS comes first); nothing else spans lines.
_TOKEN = re.compile(r'''
    (?P<nl>\n)
  | [ \t\f\r]+ | \#[^\r\n]*
  | (?P<string>"(?:[^"\\\r\n]|\\.)*")
  | (?P<word>[^\s;{}#"]+)
  | (?P<semi>;) | (?P<open>\{) | (?P<close>\})
  | (?P<bad>[\s\S])
''', re.VERBOSE)

_NAMES = BLOCKS  # statement -> names it takes
_KEYWORDS = frozenset(STATEMENTS)


class _Fail(Exception):
    pass


def unquote(raw: str) -> str:
    """A STRING token's text: drop the quotes, and the backslash of each escape (lark's path too)."""
    out, i = [], 1
    while i < len(raw) - 1:
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) - 1:
            i += 1
            c = raw[i]
        out.append(c)
        i += 1
    return "".join(out)


_NL, _SEMI, _OPEN, _CLOSE, _END = ("nl", None, None), ("semi", None, None), ("open", None, None), \
    ("close", None, None), ("end", None, None)
_PUNCT = {"semi": _SEMI, "open": _OPEN, "close": _CLOSE}


def _tokens(text: str, file: str) -> list:
    """(kind, text, span) for each token; kind is word, string, nl, semi, open, close or end."""
    line, start = 1, 0  # start: offset of the current line
    out = []
    append = out.append
    for mt in _TOKEN.finditer(text):
        kind = mt.lastgroup
        if kind is None:
            continue  # white space or a comment
        if kind == "word" or kind == "string":
            value = mt.group()
            col = mt.start() - start + 1
            append((kind, value, Span(file, line, col, line, col + len(value))))
        elif kind == "nl":
            append(_NL)
            line += 1
            start = mt.end()
        elif kind == "bad":
            raise _Fail
        else:
            append(_PUNCT[kind])
    append(_END)
    return out


def parse(text: str, file: str) -> list | None:
    """Blocks and ('include', path, span) items, as parse.parse_text gives; None if there is any error."""
    try:
        return _parse(_tokens(text, file), file)
    except _Fail:
        return None


def _word(token) -> Word:
    kind, value, span = token
    if kind == "string":
        return Word(unquote(value), span, True)
    return Word(value, span, False)


def _parse(tokens: list, file: str) -> list:
    items: list = []
    i = 0
    while tokens[i][0] in ("nl", "semi"):
        i += 1
    while tokens[i][0] != "end":
        kind, value, span = tokens[i]
        if kind != "word" or value not in _KEYWORDS:
            raise _Fail
        i += 1
        if value == "include":
            if tokens[i][0] != "string":
                raise _Fail
            items.append(("include", unquote(tokens[i][1]), tokens[i][2]))
            i += 1
        else:
            names = []
            for _ in range(_NAMES[value]):
                if tokens[i][0] not in ("word", "string"):
                    raise _Fail
                names.append(_word(tokens[i]))
                i += 1
            while tokens[i][0] == "nl":
                i += 1
            if tokens[i][0] != "open":
                raise _Fail
            i += 1
            options = []
            while True:
                while tokens[i][0] in ("nl", "semi"):
                    i += 1
                if tokens[i][0] == "close":
                    i += 1
                    break
                if tokens[i][0] != "word":
                    raise _Fail
                name = _word(tokens[i])
                i += 1
                args = []
                while tokens[i][0] in ("word", "string"):
                    args.append(_word(tokens[i]))
                    i += 1
                if tokens[i][0] not in ("nl", "semi", "close"):
                    raise _Fail
                last = (args[-1] if args else name).span
                first = name.span
                options.append(Option(name, tuple(args),
                                      Span(file, first.line, first.col, last.end_line, last.end_col)))
            items.append(Block(value, tuple(names), tuple(options), span))
        # A statement ends at the end of the file or at a separator.
        if tokens[i][0] == "end":
            break
        if tokens[i][0] not in ("nl", "semi"):
            raise _Fail
        while tokens[i][0] in ("nl", "semi"):
            i += 1
    return items
