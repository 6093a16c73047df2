"""Allow-lists (LANGUAGE.md "Exposure"): `publish SPEC from CIDR[, CIDR...]` and the
daemon's `publish-from CIDR[, CIDR...]`, one word parser for both."""

from __future__ import annotations

from netaddr import IPNetwork

from . import model as m
from .syntax import Word
from .words import Invalid, _prefix, p_ip, sub


def p_allow_net(w: Word) -> IPNetwork:
    """A network of an allow-list (`publish ... from CIDR`, `publish-from`): IPv4 or IPv6, in
    network form; a bare address is the one host (/32, /128)."""
    addr, slash, prefix = w.text.partition("/")
    a = p_ip(Word(addr, sub(w, 0, len(addr)), w.quoted), "network")
    most = 32 if a.version == 4 else 128
    n = _prefix(w, addr, prefix, most) if slash else most
    net = IPNetwork((int(a), n), version=a.version)
    if net.ip != net.network:
        raise Invalid(w.span, f"{w.text} has host bits set: say {net.cidr}")
    return net.cidr


def p_allow_list(words: tuple[Word, ...], what: str) -> tuple[m.At[IPNetwork], ...]:
    """CIDR[, CIDR...]: the words after `from` (or `publish-from`), commas anywhere between
    networks (`a, b`, `a ,b`, `a,b`). Errors: an empty list, two networks without a comma
    between them, a network given twice or contained in another of the list."""
    pieces: list[Word | None] = []   # None: a comma
    for w in words:
        start = 0
        for i, part in enumerate(w.text.split(",")):
            if i:
                pieces.append(None)
            if part:
                pieces.append(Word(part, sub(w, start, start + len(part)), w.quoted))
            start += len(part) + 1
    if not any(p is not None for p in pieces):
        span = words[0].span if words else None
        raise Invalid(span, f"{what} needs at least one network, like 198.51.100.0/24")
    out: list[m.At[IPNetwork]] = []
    last: Word | None | str = "start"
    for p in pieces:
        if p is None:
            if last is None or last == "start":
                continue
            last = None
            continue
        if isinstance(last, Word):
            raise Invalid(p.span, f"{what}: separate the networks with ',' ({last.text}, {p.text})")
        net = p_allow_net(p)
        for prior in out:
            if prior.value.version != net.version:
                continue
            if prior.value == net:
                raise Invalid(p.span, f"{what}: {net} is given twice")
            if net in prior.value:
                raise Invalid(p.span, f"{what}: {net} lies in {prior.value}, given before; leave it out")
            if prior.value in net:
                raise Invalid(p.span, f"{what}: {net} contains {prior.value}, given before; leave that out")
        out.append(m.At(net, p.span))
        last = p
    if last is None:
        raise Invalid(words[-1].span, f"{what}: a network is missing after the last ','")
    return tuple(out)
