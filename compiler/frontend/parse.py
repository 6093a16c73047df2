"""Parse: text of a spec (and the files it includes) -> syntax blocks.

Well-formed text is read by scan.py's fast scanner; anything else goes to
lark (parse_lark.py, imported only then), which reports the error. `include "x.netc"` is resolved here,
relative to the including file, with cycle detection, so later stages see one
flat sequence of blocks in source order.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata

from . import scan
from ..diagnostics import Note, Reporter, Sources, Span, quote
from ..quote import printable
from .syntax import Block

MAX_INCLUDE_DEPTH = 64


_SUSPECT = re.compile(r"[^\t\n\r\x20-\x7e]")


def _check_characters(text: str, file: str, reporter: Reporter) -> bool:
    """Control characters other than tab and line ends have no place in a spec."""
    if not _SUSPECT.search(text):  # printable ASCII, tabs and line ends: nothing to check
        return True
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
    fast = scan.parse(text, file)  # well-formed text without lark; None: let lark report the error
    if fast is not None:
        return fast
    from . import lark_parser as parse_lark  # lark only where the scanner gave up: most runs never import it
    return parse_lark.parse_text(text, file, reporter)


MAX_BYTES = 64 << 20  # a spec larger than this is a mistake (or /dev/zero); half a million containers fit


STDIN = "-"           # the main spec's path that means standard input
STDIN_NAME = "<stdin>"
_stdin: list[bytes] = []  # standard input, read once (verify loads the spec more than once)


def _read_stdin() -> bytes:
    if not _stdin:
        import sys
        _stdin.append(sys.stdin.buffer.read(MAX_BYTES + 1))
    return _stdin[0]


def _read(path: str, display: str, reporter: Reporter, span: Span | None, sources: Sources) -> str | None:
    try:
        if span is None and path == STDIN:
            data = _read_stdin()
            if len(data) > MAX_BYTES:
                reporter.error(span, f"cannot read standard input: it is larger than {MAX_BYTES >> 20} MiB")
                return None
            return _decode(data, display, reporter, sources)
        # An include must be a file: opening a FIFO would wait for a writer, a device never ends.
        # (The main spec may be a pipe: `netc check <(generate)`.)
        if span is not None and os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode) \
                and not os.path.isdir(path):
            reporter.error(span, f"cannot include {quote(display)}: it is not a regular file")
            return None
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            reporter.error(span, f"cannot read {quote(display)}: it is larger than {MAX_BYTES >> 20} MiB")
            return None
    except IsADirectoryError:
        reporter.error(span, f"cannot read {quote(display)}: it is a directory")
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reporter.error(span, f"cannot read {quote(display)}: {getattr(exc, 'strerror', None) or exc}")
        return None
    return _decode(data, display, reporter, sources)


def _decode(data: bytes, display: str, reporter: Reporter, sources: Sources) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        # Register the text with the bad bytes replaced, so the message can show the line.
        sources.add(display, data.decode("utf-8", "replace"))
        reporter.error(Span(display, line, col, line, col + 1),
                       f"invalid UTF-8 (byte 0x{data[exc.start]:02x}): a spec is UTF-8 text")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse_file(path: str, reporter: Reporter, sources: Sources) -> tuple[Block, ...]:
    """Parse a spec and everything it includes, in source order.

    A file is spliced once: including it a second time (not in a cycle) is an
    error at the second include, since every declaration in it would be
    declared twice.
    """
    blocks: list[Block] = []
    spliced: dict[str, Span | None] = {}

    def visit(display: str, stack: tuple[tuple[str, str], ...], span: Span | None, source: str = "") -> None:
        real = os.path.realpath(display)
        for i, (seen, _) in enumerate(stack):
            if seen == real:
                chain = " -> ".join(printable(shown) for shown in [shown for _, shown in stack[i:]] + [display])
                reporter.error(span, f"include cycle: {chain}")
                return
        if real in spliced:
            first = spliced[real]
            reporter.error(span, f"{quote(display)} is already included; a file is spliced once "
                                 "(its declarations would be declared twice)",
                           [Note(first, "first included here")] if first else [])
            return
        if len(stack) >= MAX_INCLUDE_DEPTH:
            reporter.error(span, f"includes nest deeper than {MAX_INCLUDE_DEPTH} files")
            return
        reporter.read(display, span)
        text = _read(source or display, display, reporter, span, sources)
        if text is None:
            return
        spliced[real] = span
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

    if path == STDIN:  # standard input: shown as <stdin>, its includes relative to the current folder
        visit(STDIN_NAME, (), None, STDIN)
    else:
        visit(path, (), None)
    return tuple(blocks)
