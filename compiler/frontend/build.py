"""Build: syntax blocks -> the typed model (model.py).

Checks everything that can be checked one option at a time: known options,
how many values each takes, how often it may be given, and the syntax of
every value (addresses, CIDRs, ports, publish specs, names, hostnames, MACs).
Errors point at the offending word, or at the part of it that is wrong.
Cross-references (links, `net container:`, p2p ends, subnets) are resolve.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from netaddr import EUI, AddrFormatError, IPAddress, IPNetwork, mac_unix_expanded

from . import model as m
from ..diagnostics import Note, Reporter, Span, did_you_mean, quote
from .syntax import Block, Option, Word

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
OPTION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
PORT_RE = re.compile(r"[0-9]+\Z")  # not \d: that takes any Unicode digit, and int() reads them
MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}\Z")
IFNAME_MAX = 15
NAME_MAX = 63


class Invalid(Exception):
    """A value is malformed; carries the span of the bad part and the message."""

    def __init__(self, span: Span, message: str) -> None:
        super().__init__(message)
        self.span = span
        self.message = message


def sub(word: Word, start: int, end: int | None = None) -> Span:
    """The span of word.text[start:end] (words never span lines)."""
    s = word.span
    if word.quoted or s.line != s.end_line:
        return s
    end = len(word.text) if end is None else end
    return Span(s.file, s.line, s.col + start, s.line, s.col + max(end, start + 1))


# ---------------------------------------------------------------- value parsers
# Each takes the word (for spans) and returns the typed value or raises Invalid.

def p_name(w: Word, what: str = "name") -> str:
    t = w.text
    if not NAME_RE.match(t):
        raise Invalid(w.span, f"invalid {what} {quote(t)}: use letters, digits, '_', '.' and '-', "
                               "starting with a letter or digit")
    if len(t) > NAME_MAX:
        raise Invalid(w.span, f"{what} {quote(t)} is longer than {NAME_MAX} characters")
    return t


def p_ifname(w: Word, what: str = "interface name") -> str:
    t = p_name(w, what)
    if len(t) > IFNAME_MAX:
        raise Invalid(w.span, f"{what} {quote(t)} is {len(t)} characters long; Linux allows at most {IFNAME_MAX}")
    return t


RESERVED_BRIDGE_NAMES = ("bridge", "none", "host")


def p_bridge_name(w: Word, what: str = "bridge name") -> str:
    """A bridge's name: an interface name that `net` does not read as a mode."""
    t = p_ifname(w, what)
    if t == "none":
        raise Invalid(w.span, "a bridge cannot be named 'none' (Docker's -b none, no networking at all, is not "
                              "supported): give the containers net none instead")
    if t in RESERVED_BRIDGE_NAMES:
        raise Invalid(w.span, f"a bridge cannot be named {quote(t)}: in net, {quote(t)} is a network mode")
    return t


def p_hostname(w: Word, what: str = "hostname") -> str:
    t = w.text
    labels = t.split(".")
    if len(t) > 253 or not all(LABEL_RE.match(label) for label in labels):
        raise Invalid(w.span, f"invalid {what} {quote(t)}: labels of letters, digits and '-' "
                               "(1 to 63 each, not starting or ending with '-'), separated by '.'")
    return t


def p_domain(w: Word) -> str:
    t = w.text
    if t == ".":
        return t
    return p_hostname(Word(t[:-1] if t.endswith(".") else t, w.span, w.quoted), "domain")


def p_ipv4(w: Word, what: str = "IPv4 address") -> IPAddress:
    try:
        a = IPAddress(w.text)
    except (AddrFormatError, ValueError, TypeError):
        raise Invalid(w.span, f"invalid {what} {quote(w.text)}") from None
    if a.version != 4:
        raise Invalid(w.span, f"{quote(w.text)} is not an IPv4 address (netc's bridges are IPv4)")
    return a


def p_ip(w: Word, what: str = "IP address") -> IPAddress:
    try:
        return IPAddress(w.text)
    except (AddrFormatError, ValueError, TypeError):
        raise Invalid(w.span, f"invalid {what} {quote(w.text)}") from None


def p_cidr(w: Word) -> IPNetwork:
    if "/" not in w.text:
        raise Invalid(w.span, f"invalid CIDR {quote(w.text)}: expected ADDRESS/PREFIX, like 172.17.42.1/16")
    addr, _, prefix = w.text.partition("/")
    p_ipv4(Word(addr, sub(w, 0, len(addr)), w.quoted))
    if not PORT_RE.match(prefix) or not 0 <= int(prefix) <= 32:
        raise Invalid(sub(w, len(addr) + 1), f"invalid prefix length {quote(prefix)}: expected 0 to 32")
    return IPNetwork(w.text)


def p_bool(w: Word) -> bool:
    if w.text in ("true", "false"):
        return w.text == "true"
    raise Invalid(w.span, f"expected true or false, not {quote(w.text)}{did_you_mean(w.text, ('true', 'false'))}")


def p_mtu(w: Word) -> int:
    if not PORT_RE.match(w.text) or not 68 <= int(w.text) <= 65535:
        raise Invalid(w.span, f"invalid mtu {quote(w.text)}: expected a number from 68 to 65535")
    return int(w.text)


def p_port(w: Word, text: str, start: int, what: str) -> int:
    if not PORT_RE.match(text):
        raise Invalid(sub(w, start, start + len(text)), f"invalid {what} {quote(text)}")
    n = int(text)
    if not 1 <= n <= 65535:
        raise Invalid(sub(w, start, start + len(text)), f"{what} {n} is out of range (1 to 65535)")
    return n


def p_range(w: Word, text: str, start: int, what: str) -> m.PortRange:
    lo_text, dash, hi_text = text.partition("-")
    lo = p_port(w, lo_text, start, what)
    hi = p_port(w, hi_text, start + len(lo_text) + 1, what) if dash else lo
    if hi < lo:
        raise Invalid(sub(w, start, start + len(text)), f"invalid {what} range {quote(text)}: {hi} is below {lo}")
    return m.PortRange(lo, hi)


def p_proto(w: Word, text: str, start: int) -> m.Proto:
    if text in ("tcp", "udp"):
        return m.Proto(text)
    raise Invalid(sub(w, start, start + len(text)),
                  f"invalid protocol {quote(text)}: expected tcp or udp{did_you_mean(text, ('tcp', 'udp'))}")


def split_proto(w: Word, text: str, base: int) -> tuple[str, m.Proto]:
    ports, slash, proto = text.rpartition("/")
    if not slash:
        return text, m.Proto.TCP
    return ports, p_proto(w, proto, base + len(ports) + 1)


def p_port_range_option(w: Word) -> m.PortRange:
    if "-" not in w.text:
        raise Invalid(w.span, f"invalid port-range {quote(w.text)}: expected LOW-HIGH, like 49153-65535")
    return p_range(w, w.text, 0, "port")


def p_publish(w: Word) -> m.PublishDecl:
    """[IP:][HOSTPORT]:CPORT[/PROTO] or CPORT[/PROTO] (Docker's nat.ParsePortSpecs)."""
    text = w.text
    body, proto = split_proto(w, text, 0)
    if body.count(":") > 2 and "[" not in body:
        raise Invalid(w.span, f"invalid publish {quote(text)}: expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]")
    parts = body.split(":")
    if len(parts) == 1:
        ip_text, host_text, cport_text = "", "", parts[0]
    elif len(parts) == 2:
        ip_text, host_text, cport_text = "", parts[0], parts[1]
    else:
        ip_text, host_text, cport_text = parts
    ip = None
    if ip_text:
        ip = p_ipv4(Word(ip_text, sub(w, 0, len(ip_text)), w.quoted), "host address")
    cstart = len(body) - len(cport_text)
    if not cport_text:
        raise Invalid(sub(w, cstart), f"invalid publish {quote(text)}: no container port")
    cports = p_range(w, cport_text, cstart, "container port")
    hports = None
    host_span = None
    if host_text:
        hstart = cstart - 1 - len(host_text)
        if len(parts) == 2 and "." in host_text:
            raise Invalid(sub(w, 0, len(host_text)),
                          f"invalid host port {quote(host_text)}: to bind an address, write {host_text}::{cport_text}"
                          f"{text[len(body):]} (host port drawn) or {host_text}:HOSTPORT:{cport_text}{text[len(body):]}")
        hports = p_range(w, host_text, hstart, "host port")
        if len(hports) != len(cports):
            raise Invalid(sub(w, hstart, cstart + len(cport_text)),
                          f"host port range {hports} and container port range {cports} differ in length "
                          f"({len(hports)} and {len(cports)} ports)")
        host_span = sub(w, 0, cstart - 1)
    return m.PublishDecl(ip, hports, cports, proto, w.span, host_span)


def p_expose(w: Word, text: str, start: int) -> m.Expose:
    ports, proto = split_proto(w, text, start)
    if not ports:
        raise Invalid(sub(w, start, start + len(text)), f"invalid exposed port {quote(text)}")
    return m.Expose(proto, p_range(w, ports, start, "port"), sub(w, start, start + len(text)))


def p_mac(w: Word) -> EUI:
    if not MAC_RE.match(w.text):
        raise Invalid(w.span, f"invalid MAC address {quote(w.text)}: expected six hex pairs, like 02:42:ac:11:00:02")
    mac = EUI(w.text, dialect=mac_unix_expanded)
    if mac.words[0] & 1:
        raise Invalid(w.span, f"MAC address {w.text} is a multicast address; a container needs a unicast one")
    if int(mac) == 0:
        raise Invalid(w.span, "MAC address 00:00:00:00:00:00 is not usable")
    return mac


def p_dns_option(w: Word) -> str:
    if not OPTION_RE.match(w.text):
        raise Invalid(w.span, f"invalid resolver option {quote(w.text)}, like ndots:2 or edns0")
    return w.text


def p_netns(w: Word) -> str:
    t = w.text
    # The path reaches apply.sh: only characters no shell or file name treats specially.
    if not re.fullmatch(r"/[A-Za-z0-9_./-]*", t) or len(t) > 4096:
        raise Invalid(w.span, f"invalid netns path {quote(t)}: an absolute path of letters, digits, "
                               "'_', '.', '-' and '/', such as /proc/PID/ns/net or /var/run/netns/NAME")
    if "/../" in t + "/" or "/./" in t + "/":
        raise Invalid(w.span, f"netns path {quote(t)} must not contain '.' or '..' components")
    return t


# ---------------------------------------------------------------- option shapes
# An option handler takes (option, reporter) and returns the value to store.

def one(parse: Callable[[Word], Any]) -> Callable[[Option], Any]:
    def handler(opt: Option) -> Any:
        if not opt.args:
            raise Invalid(opt.name.span, f"{quote(opt.name.text)} needs a value")
        if len(opt.args) > 1:
            extra = opt.args[1]
            hint = ""
            if not extra.quoted and any(extra.text in table for table in TABLES.values()):
                hint = f"; to give {quote(extra.text)} on the same line, separate the options with ';'"
            raise Invalid(extra.span, f"{quote(opt.name.text)} takes one value{hint}")
        return m.At(parse(opt.args[0]), opt.args[0].span)
    return handler


def many(parse: Callable[[Word], Any]) -> Callable[[Option], Any]:
    """One or more values on the line; each becomes an element."""
    def handler(opt: Option) -> Any:
        if not opt.args:
            raise Invalid(opt.name.span, f"{quote(opt.name.text)} needs a value")
        return tuple(m.At(parse(a), a.span) for a in opt.args)
    return handler


def flag(opt: Option) -> Any:
    if len(opt.args) > 1 or (opt.args and opt.args[0].text not in ("true", "false")):
        raise Invalid(opt.args[-1].span, f"{quote(opt.name.text)} takes no value (or true/false)")
    return m.At(p_bool(opt.args[0]) if opt.args else True, opt.span)


def expose_list(opt: Option) -> Any:
    if not opt.args:
        raise Invalid(opt.name.span, "'expose' needs a port, like 80, 80/udp or 7000-7002/tcp")
    out = []
    for w in opt.args:
        start = 0
        for piece in w.text.split(","):
            if piece:
                out.append(p_expose(w, piece, start))
            start += len(piece) + 1
    return tuple(out)


def publish_one(opt: Option) -> Any:
    if len(opt.args) != 1:
        raise Invalid(opt.args[1].span if opt.args else opt.name.span,
                      "'publish' takes one spec, like 8080:80 or 127.0.0.1::53/udp")
    return (p_publish(opt.args[0]),)


def link_one(opt: Option) -> Any:
    if len(opt.args) != 1:
        raise Invalid(opt.args[1].span if opt.args else opt.name.span, "'link' takes one NAME[:ALIAS]")
    w = opt.args[0]
    name, colon, alias = w.text.partition(":")
    target = p_name(Word(name, sub(w, 0, len(name)), w.quoted), "container name")
    alias_span = sub(w, len(name) + 1) if colon else sub(w, 0, len(name))
    alias_text = p_name(Word(alias, alias_span, w.quoted), "link alias") if colon else target
    return (m.LinkDecl(m.At(target, sub(w, 0, len(name))), m.At(alias_text, alias_span), w.span),)


def add_host_one(opt: Option) -> Any:
    if len(opt.args) != 1:
        raise Invalid(opt.args[1].span if opt.args else opt.name.span, "'add-host' takes one NAME:IP")
    w = opt.args[0]
    name, colon, ip = w.text.partition(":")
    if not colon:
        raise Invalid(w.span, f"invalid add-host {quote(w.text)}: expected NAME:IP")
    host = p_hostname(Word(name, sub(w, 0, len(name)), w.quoted), "host name")
    addr = p_ip(Word(ip, sub(w, len(name) + 1), w.quoted))
    return (m.AddHost(host, addr, w.span),)


def net_one(opt: Option) -> Any:
    value = one(lambda w: w)(opt).value
    text = value.text
    if text in ("bridge", "none", "host"):
        return m.NetMode(m.NetKind(text), None, value.span)
    if text.startswith("container:"):
        target = p_name(Word(text[10:], sub(value, 10), value.quoted), "container name")
        return m.NetMode(m.NetKind.CONTAINER, target, value.span, sub(value, 10))
    if ":" in text:
        raise Invalid(value.span, f"invalid net mode {quote(text)}: expected bridge, none, host, "
                                   "container:NAME or the name of a bridge")
    return m.NetMode(m.NetKind.BRIDGE, p_ifname(value, "bridge name"), value.span)


@dataclass(frozen=True)
class Field:
    attr: str
    handler: Callable[[Option], Any]
    repeat: bool = False   # values accumulate across lines


HOST = {
    "nameserver": Field("nameservers", many(p_ip), True),
    "search": Field("search", many(p_domain), True),
    "options": Field("options", many(p_dns_option), True),
    "route": Field("routes", many(p_cidr), True),
}
_BRIDGE_COMMON = {
    "bip": Field("bip", one(p_cidr)),
    "fixed-cidr": Field("fixed_cidr", one(p_cidr)),
    "mtu": Field("mtu", one(p_mtu)),
    "icc": Field("icc", one(p_bool)),
}
DAEMON = {
    "bridge": Field("bridge", one(p_bridge_name)),
    **_BRIDGE_COMMON,
    "iptables": Field("iptables", one(p_bool)),
    "ip-forward": Field("ip_forward", one(p_bool)),
    "ip-masq": Field("ip_masq", one(p_bool)),
    "ip": Field("ip", one(p_ipv4)),
    "port-range": Field("port_range", one(p_port_range_option)),
    "dns": Field("dns", many(p_ip), True),
    "dns-search": Field("dns_search", many(p_domain), True),
}
BRIDGE = {**_BRIDGE_COMMON, "external": Field("external", flag)}
CONTAINER = {
    "net": Field("net", net_one),
    "hostname": Field("hostname", one(p_hostname)),
    "ip": Field("ip", one(p_ipv4)),
    "mac": Field("mac", one(p_mac)),
    "expose": Field("expose", expose_list, True),
    "publish": Field("publish", publish_one, True),
    "publish-all": Field("publish_all", flag),
    "link": Field("link", link_one, True),
    "dns": Field("dns", many(p_ip), True),
    "dns-search": Field("dns_search", many(p_domain), True),
    "dns-option": Field("dns_option", many(p_dns_option), True),
    "add-host": Field("add_host", add_host_one, True),
    "netns": Field("netns", one(p_netns)),
}
TABLES = {"host": HOST, "daemon": DAEMON, "bridge": BRIDGE, "container": CONTAINER}


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
