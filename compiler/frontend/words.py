"""Values of one word: each parser takes a syntax Word and returns the typed value,
or raises Invalid with the span of the bad part (addresses, CIDRs, ports, publish
specs, names, hostnames, MACs, paths).
"""

from __future__ import annotations

import re

from netaddr import EUI, AddrFormatError, IPAddress, IPNetwork, mac_unix_expanded

from ..diagnostics import Span, did_you_mean, quote
from . import model as m
from .syntax import Word

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
    if body.count(":") > 2 or "[" in body or "]" in body:
        _refuse_ipv6_publish(w, text, body)
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


# ---- IPv6 publishes: refused until netc's bridges are dual stack (this function is all of it)
def _refuse_ipv6_publish(w: Word, text: str, body: str) -> None:
    """A publish whose host address is IPv6 ([::1]:80:80, or ::1:80:80 without brackets)
    is an error that says so; one that is not IPv6 either returns, for the caller's error."""
    if body.startswith("[") and "]" in body:
        inside = body[1:body.index("]")]
        span = sub(w, 0, len(inside) + 2)
        try:
            addr = IPAddress(inside)
        except (AddrFormatError, ValueError, TypeError):
            raise Invalid(span, f"invalid host address {quote(inside)} in publish {quote(text)}") from None
        if addr.version == 4:
            raise Invalid(span, f"an IPv4 host address takes no brackets: write {inside}{body[len(inside) + 2:]}"
                                f"{text[len(body):]}")
        raise Invalid(span, f"IPv6 publishes are not supported yet: {inside} is an IPv6 host address "
                            "(netc's bridges are IPv4)")
    head = body.rsplit(":", 2)[0]
    try:
        ipv6 = IPAddress(head).version == 6
    except (AddrFormatError, ValueError, TypeError):
        ipv6 = False
    if ipv6:
        raise Invalid(sub(w, 0, len(head)), f"IPv6 publishes are not supported yet: {head} is an IPv6 host "
                                            f"address (netc's bridges are IPv4; in a publish it is written "
                                            f"in brackets, [{head}]:HOSTPORT:PORT)")
# ---- end of IPv6 publishes


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
