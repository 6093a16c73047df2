"""Parse with lark: the grammar in grammar/netc.lark, LALR, positions kept.

The only module that imports lark, and only imported (by parse.py) when the
fast scanner (scan.py) hands a text over, which it does for every text that
is not well formed. Every lark exception is translated here into a
diagnostic (`VisitError` unwrapped, end of input reported at the end of the
file); nothing from lark escapes.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..diagnostics import Note, Reporter, Span, did_you_mean, quote
from .scan import unquote as _unquote
from .statements import BLOCKS, STATEMENTS, TERMINALS
from .syntax import Block, Option, Word



@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files("netc.grammar").joinpath("netc.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", strict=True, propagate_positions=True, maybe_placeholders=False)


def _span(file: str, meta_or_token) -> Span:
    m = meta_or_token
    return Span(file, m.line, m.column, m.end_line, m.end_column)


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

    def __default__(self, data, children, meta):
        if data in BLOCKS:  # host, daemon, bridge, container, p2p: the grammar's rule names
            return self._block(data, children)
        return super().__default__(data, children, meta)

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
    "WORD": "a word", "STRING": "a string", **{t: f"'{s}'" for t, s in TERMINALS.items()},
}


def _expected(expected: set[str]) -> str:
    # Where a word may stand, the statement keywords are words too: list "a word" once.
    if "WORD" in expected:
        expected = {e for e in expected if e not in _KEYWORDS}
    names = sorted({_EXPECT_NAMES.get(e, e.lower()) for e in expected})
    statements = [n for n in names if n.strip("'") in STATEMENTS]
    if len(statements) >= 5:
        rest = [n for n in names if n not in statements]
        names = [f"a statement ({', '.join(STATEMENTS)})"] + rest
    return ", ".join(names)


_KEYWORDS = set(TERMINALS)
_SEPARATORS = {"SEMICOLON", "_NL", "$END"}


def _open_block(exc: UnexpectedToken, file: str) -> tuple[str, Span] | None:
    """The block whose '{' is still open when the parser stopped: (what, span of the '{')."""
    parser = getattr(exc, "interactive_parser", None)
    stack = list(parser.parser_state.value_stack) if parser is not None else []
    for i in range(len(stack) - 1, -1, -1):
        item = stack[i]
        if isinstance(item, Token) and item.type == "LBRACE":
            words = []
            for before in stack[:i]:
                if isinstance(before, Token) and before.type in _KEYWORDS:
                    words = [before.value]
                elif isinstance(before, Tree) and before.data == "name" and before.children:
                    words.append(_unquote(before.children[0]) if before.children[0].type == "STRING"
                                 else before.children[0].value)
            what = " ".join(words[:1] + [quote(w) for w in words[1:]]) or "a block"
            return what, _span(file, item)
    return None


def _statement_in_block(exc: UnexpectedToken) -> Token | None:
    """The statement keyword that begins the option being read inside a block, if any."""
    parser = getattr(exc, "interactive_parser", None)
    stack = list(parser.parser_state.value_stack) if parser is not None else []
    for item in reversed(stack):
        if isinstance(item, Token) and item.type == "LBRACE":
            return None
        if isinstance(item, Tree) and item.data == "word":
            first = item.children[0] if item.children else None
            return first if isinstance(first, Token) and first.type in _KEYWORDS else None
    return None


def _statement_head(exc: UnexpectedToken) -> tuple[Token, list[str]] | None:
    """The statement being read before its '{': its keyword and the names given so far."""
    parser = getattr(exc, "interactive_parser", None)
    stack = list(parser.parser_state.value_stack) if parser is not None else []
    names: list[str] = []
    for item in reversed(stack):
        if isinstance(item, Tree) and item.data == "name" and item.children:
            item = item.children[0]
        if isinstance(item, Token) and item.type in ("WORD", "STRING"):  # a name not reduced yet
            names.insert(0, _unquote(item.value) if item.type == "STRING" else item.value)
            continue
        if isinstance(item, Token) and item.type in _KEYWORDS:
            return item, names
        if (isinstance(item, Tree) and str(item.data).startswith("__")) or \
                (isinstance(item, Token) and item.type == "_NL"):  # line ends before the '{'
            continue
        return None
    return None


def _unexpected_token(exc: UnexpectedToken, file: str) -> tuple[Span, str, list[Note]]:
    tok = exc.token
    expected = set(exc.expected)
    span = Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)
    seen = _describe(tok)
    head = _statement_head(exc)
    block = _open_block(exc, file)
    if head is not None and head[0].type == "INCLUDE":
        if not head[1]:
            return span, f"unexpected {seen}: include takes a quoted file name, like include \"other.netc\"", []
        head = None
    if head is not None:
        kind, names = head[0].value, head[1]
        wanted = BLOCKS[kind]
        shown = " ".join([kind] + [quote(n) for n in names])
        if tok.type in ("WORD", "STRING") and len(names) >= wanted:
            if wanted == 0:
                return span, f"a {kind} block has no name: write `{kind} {{ ... }}`", []
            count = "two container names" if wanted == 2 else "one name"
            return span, f"unexpected {seen}: expected '{{' after {shown} ({kind} takes {count})", []
        if tok.type not in ("WORD", "STRING") and len(names) < wanted:
            if kind == "p2p":
                return span, "a p2p block needs two container names, like `p2p a b {`", []
            return span, f"a {kind} block needs a name, like `{kind} web {{`", []
        if tok.type != "LBRACE":
            return span, f"unexpected {seen}: expected '{{' to open the block of {shown}", []
    if tok.type in ("WORD", "STRING") and "WORD" not in expected and {"CONTAINER", "BRIDGE"} <= expected:
        hint = did_you_mean(_unquote(tok.value) if tok.type == "STRING" else tok.value, STATEMENTS)
        return span, (f"unknown statement {quote(tok.value)}"
                      + (hint or f"; expected {', '.join(STATEMENTS[:-1])} or {STATEMENTS[-1]}")), []
    if tok.type == "STRING" and block is not None and "RBRACE" in expected:
        return span, f"an option's name is a plain word, not a string: write {_unquote(tok.value) or '...'} " \
                     f"without quotes", []
    if tok.type == "LBRACE":
        statement = _statement_in_block(exc)
        if statement is not None and block is not None:
            # `container a {` ... `container b {`: the first block lacks its '}'.
            what, brace = block
            return (_span(file, statement),
                    f"the block of {what} is not closed: a '}}' is missing before {quote(statement.value)}",
                    [Note(brace, "the block opens here")])
        if block is not None:
            return span, "unexpected '{': blocks do not nest; an option and its values stand on one line", []
        return span, "unexpected '{': a block starts with its kind and name, like `container web {`", []
    if tok.type == "RBRACE" and block is None:
        return span, "unexpected '}': there is no open block to close", []
    if expected <= _SEPARATORS:
        return span, f"unexpected {seen} after the end of a statement; separate statements on one line with ';'", []
    return span, f"unexpected {seen}; expected {_expected(expected)}", []


def _translate(exc: UnexpectedInput, file: str, text: str, reporter: Reporter) -> None:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1] or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = exc.expected if isinstance(exc, UnexpectedToken) else set(exc.expected)
        span = Span(file, line, col, line, col + 1)
        block = _open_block(exc, file) if isinstance(exc, UnexpectedToken) else None
        head = _statement_head(exc) if isinstance(exc, UnexpectedToken) else None
        if block is not None and "RBRACE" in expected:
            what, brace = block
            reporter.error(span, f"unexpected end of file: the block of {what} is not closed; expected '}}'",
                           [Note(brace, "the block opens here")])
        elif head is not None and head[0].type != "INCLUDE":
            shown = " ".join([head[0].value] + [quote(n) for n in head[1]])
            reporter.error(span, f"unexpected end of file: the statement {shown} has no block {{ ... }}")
        else:
            reporter.error(span, f"unexpected end of file; expected {_expected(set(expected))}")
        return
    if isinstance(exc, UnexpectedToken):
        reporter.error(*_unexpected_token(exc, file))
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


def parse_text(text: str, file: str, reporter: Reporter) -> list:
    """lark's parse of one file's text: blocks and ('include', path, span) items, or [] and errors."""
    try:
        tree = _parser().parse(text)
        return _Build(file).transform(tree)
    except VisitError as exc:  # an error inside a transformer method
        raise exc.orig_exc from None
    except UnexpectedInput as exc:
        _translate(exc, file, text, reporter)
        return []
