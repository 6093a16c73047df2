"""Build: syntax blocks -> the typed model (model.py).

Checks everything that can be checked one option at a time: known options
(options.py's tables), how many values each takes, how often it may be given,
and the syntax of every value (words.py). Errors point at the offending word,
or at the part of it that is wrong. Cross-references (links, `net container:`,
p2p ends, subnets) are resolve's.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Note, Reporter, did_you_mean, quote
from . import model as m
from .options import BRIDGE, CONTAINER, TABLES, Field
from .syntax import Block, Option, Word
from .words import Invalid, p_bridge_name, p_cidr, p_ifname, p_name

def _fields(block: Block, table: dict[str, Field], what: str, reporter: Reporter) -> dict[str, Any]:
    values: dict[str, Any] = {}
    first: dict[str, Option] = {}
    for opt in block.options:
        name = opt.name.text
        spec = table.get(name)
        if spec is None:
            reporter.error(opt.name.span, f"unknown option {quote(name)} in {what}{did_you_mean(name, table)}")
            continue
        if not spec.repeat and name in first:
            reporter.error(opt.name.span, f"{quote(name)} is given twice in {what}",
                           [Note(first[name].name.span, "first given here")])
            continue
        first.setdefault(name, opt)
        try:
            value = spec.handler(opt)
        except Invalid as exc:
            reporter.error(exc.span, exc.message)
            continue
        if spec.repeat:
            values[spec.attr] = values.get(spec.attr, ()) + tuple(value)
        else:
            values[spec.attr] = value
    return values


def _name(word: Word, what: str, reporter: Reporter, check=p_name) -> m.At[str] | None:
    try:
        return m.At(check(word, f"{what} name"), word.span)
    except Invalid as exc:
        reporter.error(exc.span, exc.message)
        return None


def _p2p(block: Block, reporter: Reporter) -> m.P2PDecl | None:
    a = _name(block.names[0], "container", reporter)
    b = _name(block.names[1], "container", reporter)
    if a is None or b is None:
        return None
    if a.value == b.value:
        reporter.error(b.span, f"p2p needs two different containers, not {quote(a.value)} twice")
        return None
    ends: list[m.P2PEnd] = []
    seen: dict[str, Option] = {}
    strangers = 0
    for opt in block.options:
        who = opt.name.text
        if who not in (a.value, b.value):
            strangers += 1
            reporter.error(opt.name.span, f"{quote(who)} is not an end of this p2p link; expected "
                                          f"{quote(a.value)} or {quote(b.value)}{did_you_mean(who, (a.value, b.value))}")
            continue
        if who in seen:
            reporter.error(opt.name.span, f"the end {quote(who)} is given twice",
                           [Note(seen[who].name.span, "first given here")])
            continue
        seen[who] = opt
        try:
            args = opt.args
            if not args:
                raise Invalid(opt.name.span, f"the end {quote(who)} needs an address, like 10.1.1.1/32")
            address = m.At(p_cidr(args[0]), args[0].span)
            iface = None
            rest = args[1:]
            if rest:
                if rest[0].text != "iface":
                    raise Invalid(rest[0].span, f"expected 'iface IFNAME' after the address, not {quote(rest[0].text)}")
                if len(rest) == 1:
                    raise Invalid(rest[0].span, "'iface' needs an interface name")
                if len(rest) > 2:
                    raise Invalid(rest[2].span, f"unexpected {quote(rest[2].text)} after 'iface {rest[1].text}'")
                iface = m.At(p_ifname(rest[1]), rest[1].span)
            ends.append(m.P2PEnd(m.At(who, opt.name.span), address, iface, opt.span))
        except Invalid as exc:
            reporter.error(exc.span, exc.message)
    for end in (a, b):
        if end.value not in seen and not strangers:  # a misspelt end is reported already
            reporter.error(end.span, f"p2p {a.value} {b.value}: no line for the end {quote(end.value)} "
                                     f"(write `{end.value} ADDRESS/32` in the block)")
    return m.P2PDecl(a, b, tuple(ends), block.span)


def build(blocks: tuple[Block, ...], reporter: Reporter) -> m.Spec:
    host: m.HostDecl | None = None
    daemon: m.DaemonDecl | None = None
    singles: dict[str, Block] = {}
    bridges: list[m.BridgeDecl] = []
    containers: list[m.ContainerDecl] = []
    p2ps: list[m.P2PDecl] = []
    names: dict[tuple[str, str], m.At[str]] = {}

    def unique(kind: str, name: m.At[str]) -> bool:
        prior = names.get((kind, name.value))
        if prior is not None:
            reporter.error(name.span, f"{kind} {quote(name.value)} is declared twice",
                           [Note(prior.span, "first declared here")])
            return False
        names[(kind, name.value)] = name
        return True

    for block in blocks:
        if block.kind in ("host", "daemon"):
            if block.kind in singles:
                reporter.error(block.span, f"a second {block.kind} block; a spec has at most one",
                               [Note(singles[block.kind].span, "first one here")])
                continue
            singles[block.kind] = block
            values = _fields(block, TABLES[block.kind], f"{block.kind}", reporter)
            if block.kind == "host":
                host = m.HostDecl(**values, span=block.span)
            else:
                daemon = m.DaemonDecl(**values, span=block.span)
        elif block.kind == "bridge":
            name = _name(block.names[0], "bridge", reporter, p_bridge_name)
            values = _fields(block, BRIDGE, f"bridge {quote(block.names[0].text)}", reporter)
            if name is not None and unique("bridge", name):
                bridges.append(m.BridgeDecl(name, **values, span=block.span))
        elif block.kind == "container":
            name = _name(block.names[0], "container", reporter)
            values = _fields(block, CONTAINER, f"container {quote(block.names[0].text)}", reporter)
            if name is not None and unique("container", name):
                containers.append(m.ContainerDecl(name, **values, span=block.span))
        elif block.kind == "p2p":
            decl = _p2p(block, reporter)
            if decl is not None:
                p2ps.append(decl)
    return m.Spec(host, daemon or m.DaemonDecl(), tuple(bridges), tuple(containers), tuple(p2ps))
