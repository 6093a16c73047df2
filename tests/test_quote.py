"""quote.py: each context's function, checked against the tool that reads that context
(sh, iptables-restore and iptables-save, nft) with hostile text of every kind."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netc.quote import (IPT_COMMENT_MAX, NFT_COMMENT_MAX, Unquotable, conf_word, ipt_comment, nft_string,
                        printable, sh_comment, sh_word)
from netns import in_ns, namespace, require_namespaces

SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None)
FEW = settings(max_examples=12, derandomize=True, database=None, deadline=None)

HOSTILE = [
    "w\ntouch PWNED; echo INJ >&2;x.netc", "$(touch PWNED)", "`touch PWNED`", "a'b", 'a"b', "a\\b", "-rf",
    "a;b", "a b", "#x", "\r\nx", "\x00", "\x1b[31mred", "a\u2028b", "a\u202eb", "\udcff\udcfe.netc",
    "é.netc", "日本.netc", "a" * 400, "\"; -j DROP; #", "} accept; #", "$x", "\\", "\\\"", "",
]
# Text of any kind a file name or a spec line can bring: every code point class,
# lone surrogates (the bytes of a non-UTF-8 file name) and the characters each context reserves.
TEXT = st.text(st.one_of(st.characters(), st.sampled_from(list("\n\r\t\"'\\$`;#{}() \x00\x7f\u2028\u202e"))),
               max_size=80) | st.sampled_from(HOSTILE)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")  # raises for a lone surrogate: every function's result must pass


@SETTINGS
@given(TEXT)
def test_printable_is_one_line_of_utf8(text):
    shown = printable(text)
    _utf8(shown)
    assert len(shown.splitlines()) <= 1 and "\n" not in shown and "\r" not in shown
    assert all(c.isprintable() or unicodedata.category(c) == "Zs" for c in shown)
    assert printable(shown) == shown                 # already printable: unchanged


def test_printable_shows_the_bytes_of_a_non_utf8_name():
    name = os.fsdecode(b"\xff\xfe.netc")
    assert printable(name) == "\\xff\\xfe.netc"
    assert printable("a\nb\x1b\u2028\u202e") == "a\\x0ab\\x1b\\u2028\\u202e"


@SETTINGS
@given(TEXT)
def test_sh_word_is_the_text_itself_in_sh(text):
    try:
        word = sh_word(text)
    except Unquotable:
        assert "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    r = subprocess.run(["sh", "-c", f"printf %s {word}"], capture_output=True)
    assert r.returncode == 0 and r.stdout == _utf8(text)


@SETTINGS
@given(TEXT)
def test_sh_comment_is_only_a_comment(text):
    # The comment, then a command: sh runs the command and nothing of the comment.
    script = f"# {sh_comment(text)}\necho ok\n"
    r = subprocess.run(["sh", "-c", script], capture_output=True)
    assert r.returncode == 0 and r.stdout == b"ok\n" and r.stderr == b""


def _value(text: str, limit: int) -> str:
    """What the kernel keeps of a comment: printable, cut to LIMIT bytes at a character."""
    return printable(text).encode()[:limit].decode("utf-8", "ignore")


@FEW
@given(st.lists(TEXT, min_size=1, max_size=25))
def test_iptables_reads_back_every_comment(texts):
    """iptables-restore loads each comment as one word, and iptables-save writes it back
    the way ipt_comment wrote it."""
    require_namespaces()
    texts = texts + HOSTILE
    rules = [f"-A NETC-Q -m comment --comment {ipt_comment(t)} -j ACCEPT" for t in texts]
    restore = "*filter\n:NETC-Q - [0:0]\n" + "\n".join(rules) + "\nCOMMIT\n"
    with namespace("nq") as ns:
        in_ns(ns, "iptables-restore", "--noflush", input=restore)
        saved = [line for line in in_ns(ns, "iptables-save", "-t", "filter").stdout.splitlines()
                 if line.startswith("-A NETC-Q")]
    assert saved == rules
    assert all(len(_value(t, IPT_COMMENT_MAX).encode()) <= IPT_COMMENT_MAX for t in texts)


@FEW
@given(st.lists(TEXT, min_size=1, max_size=25))
def test_nft_reads_back_every_comment(texts):
    require_namespaces()
    texts = texts + HOSTILE
    body = "".join(f"\t\taccept comment {nft_string(t)}\n" for t in texts)
    script = f"table ip netcq {{\n\tchain c {{\n{body}\t}}\n}}\n"
    with namespace("nq") as ns:
        in_ns(ns, "nft", "-f", "-", input=script)
        listed = json.loads(in_ns(ns, "nft", "-j", "list", "table", "ip", "netcq").stdout)
    comments = [item["rule"].get("comment", "") for item in listed["nftables"] if "rule" in item]
    assert comments == [_value(t, NFT_COMMENT_MAX).replace('"', "'") for t in texts]


@pytest.mark.parametrize("word", ["a b", "a\tb", "a\nb", "#a", "a;b", "", "é", "a\x00"])
def test_conf_word_refuses_what_hosts_and_resolv_conf_cannot_hold(word):
    with pytest.raises(Unquotable):
        conf_word(word)


def test_conf_word_keeps_a_word():
    assert conf_word("db.example.com") == "db.example.com"
    assert conf_word("ndots:2") == "ndots:2"
