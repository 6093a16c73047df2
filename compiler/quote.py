"""Quoting for generated files: one function per context, nothing else quotes.

Every string that reaches a generated file from outside netc (spec and include
names, paths, the spec lines rule comments quote) goes through the function
of the context it lands in:

    sh_word       one word of a POSIX sh script
    sh_comment    the text after '#' on one line: a comment of apply.sh,
                  teardown.sh, rules.v4 or rules.nft (each ends at the line's end)
    ipt_comment   the value of iptables' `-m comment --comment`, as
                  iptables-restore reads it and iptables-save writes it
    nft_string    a quoted string of an nft script (a rule's or element's comment)
    conf_word     one word of /etc/hosts or /etc/resolv.conf, which have no quoting

A comment can never be ended by what it quotes: newlines and other control
characters, Unicode line separators and bidirectional controls are escaped,
never written; so are the bytes of a file name that is not UTF-8 (Python
holds them as lone surrogates, which no UTF-8 file can carry). What a context
cannot hold at all is refused with `Unquotable`, never written.
"""

from __future__ import annotations

import re
import unicodedata

_SH_SAFE = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
# Fast test: printable ASCII needs no escaping at all.
_PLAIN = re.compile(r"[\x20-\x7e]*")
_CONF_WORD = re.compile(r"[!-~]+")


class Unquotable(ValueError):
    """TEXT cannot be written in this context at all (the message says why)."""


def _escape(ch: str) -> str:
    c = ord(ch)
    if 0xDC80 <= c <= 0xDCFF:            # a byte of a non-UTF-8 file name (surrogateescape)
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def printable(text: str) -> str:
    """TEXT on one line, valid UTF-8, showing what it says: control characters
    (C0, DEL, C1), line and paragraph separators, format characters (bidirectional
    overrides, zero widths) and lone surrogates as \\xNN / \\uNNNN escapes."""
    if _PLAIN.fullmatch(text):
        return text
    return "".join(_escape(ch) if (ch < " " or ch == "\x7f" or (ch >= "\x80" and unicodedata.category(ch)
                                   in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"))) else ch for ch in text)


def sh_word(text: str) -> str:
    """One POSIX sh word that stands for TEXT exactly (single quotes where needed)."""
    if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise Unquotable(f"{printable(text)!r} cannot be written in a shell script (NUL or bytes that are not UTF-8)")
    if text and _SH_SAFE.fullmatch(text) and not text.startswith("-"):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def sh_comment(text: str) -> str:
    """TEXT made safe to follow '#' on one line of a shell script, rules.v4 or rules.nft."""
    return printable(text)


def _cut(text: str, limit: int) -> str:
    """TEXT cut to at most LIMIT bytes of UTF-8, never inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


IPT_COMMENT_MAX = 255   # xt_comment: XT_MAX_COMMENT_LEN 256, with the NUL
_IPT_BARE = re.compile(r"[A-Za-z0-9_-]+")     # what iptables-save leaves unquoted
_IPT_ESCAPE = re.compile(r"[\"\\']")


def ipt_comment(text: str) -> str:
    """The word of `--comment` in iptables-restore input: double-quoted where it holds
    anything but plain characters, with '"', '\\' and "'" escaped as iptables-save writes
    them (iptables-restore takes the character after a backslash as it is)."""
    text = _cut(printable(text), IPT_COMMENT_MAX)
    if _IPT_BARE.fullmatch(text):
        return text
    return '"' + _IPT_ESCAPE.sub(lambda m: "\\" + m.group(), text) + '"'


NFT_COMMENT_MAX = 120   # nft keeps at most 128 bytes of a comment (NFTNL_UDATA_COMMENT_MAXLEN)


def nft_string(text: str, limit: int = NFT_COMMENT_MAX) -> str:
    """A double-quoted nft string. nft's scanner reads a quoted string up to the next
    '"' and has no escape for one, so a '"' becomes "'"."""
    return '"' + _cut(printable(text).replace('"', "'"), limit) + '"'


def conf_word(text: str) -> str:
    """TEXT as one word of /etc/hosts or /etc/resolv.conf. Neither file can quote:
    a word is printable ASCII without white space, '#' or ';' (a comment's start).
    The front end checks every value long before; this is the last guard."""
    if not _CONF_WORD.fullmatch(text) or "#" in text or ";" in text:
        raise Unquotable(f"{printable(text)!r} cannot be one word of a hosts or resolv.conf file")
    return text
