"""Quoting for generated files: one function per context, nothing else quotes.

Every string that reaches a generated file from outside netc (spec and include
names, paths, comments) goes through the function of the context it lands in.
A comment can never be ended by what it quotes: newlines and other control
characters are escaped, never written.
"""

from __future__ import annotations

import re

_SH_SAFE = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def printable(text: str) -> str:
    """TEXT with every control character (and U+2028/9, U+0085) as a \\xNN or \\uNNNN escape."""
    def esc(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    return _CONTROL.sub(esc, text)


def sh_word(text: str) -> str:
    """One POSIX sh word that stands for TEXT exactly (single quotes where needed)."""
    if text and _SH_SAFE.fullmatch(text) and not text.startswith("-"):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def sh_comment(text: str) -> str:
    """TEXT made safe to follow '# ' on one line of a shell script."""
    return printable(text)
