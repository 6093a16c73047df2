"""The options of each block: how many values each takes, how often it may be given,
and which word parser reads its values (declarative tables, one per block kind).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..diagnostics import quote
from . import model as m
from .syntax import Option, Word
from .words import (Invalid, p_bool, p_bridge_name, p_cidr, p_cidr6, p_dns_option, p_domain, p_expose, p_host_ip,
                    p_hostname, p_ifname, p_ip, p_ipv4, p_ipv6, p_mac, p_mtu, p_name, p_netns, p_port_range_option,
                    p_publish, p_route, sub)
from .allow import p_allow_list

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
    """`publish SPEC` or `publish SPEC from CIDR[, CIDR...]`."""
    args = opt.args
    if args and args[0].text == "from" and not args[0].quoted:
        raise Invalid(args[0].span, "'from' needs a publish before it: publish SPEC from CIDR, like "
                                    "publish 8080:80 from 198.51.100.0/24")
    if len(args) > 1 and args[1].text == "from" and not args[1].quoted:
        decl = p_publish(args[0])
        if len(args) == 2:
            raise Invalid(args[1].span, "'from' needs at least one network, like 198.51.100.0/24")
        allow = p_allow_list(args[2:], "from")
        return (replace(decl, allow=allow),)
    if len(args) != 1:
        raise Invalid(args[1].span if args else opt.name.span,
                      "'publish' takes one spec, like 8080:80 or 127.0.0.1::53/udp, and may end with "
                      "'from CIDR, ...'")
    return (p_publish(args[0]),)


def allow_list(opt: Option) -> Any:
    if not opt.args:
        raise Invalid(opt.name.span, f"{quote(opt.name.text)} needs at least one network, like 10.0.0.0/8")
    return m.At(p_allow_list(opt.args, opt.name.text), opt.span)


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
    "route": Field("routes", many(p_route), True),
}
_V6_HINT = ": IPv6 networks go in fixed-cidr-v6"
_BRIDGE_COMMON = {
    "bip": Field("bip", one(lambda w: p_cidr(w, _V6_HINT))),
    "fixed-cidr": Field("fixed_cidr", one(lambda w: p_cidr(w, _V6_HINT))),
    "ipv6": Field("ipv6", one(p_bool)),
    "fixed-cidr-v6": Field("fixed_cidr_v6", one(p_cidr6)),
    "mtu": Field("mtu", one(p_mtu)),
    "icc": Field("icc", one(p_bool)),
}
DAEMON = {
    "bridge": Field("bridge", one(p_bridge_name)),
    **_BRIDGE_COMMON,
    "iptables": Field("iptables", one(p_bool)),
    "ip-forward": Field("ip_forward", one(p_bool)),
    "ip-masq": Field("ip_masq", one(p_bool)),
    "ip6tables": Field("ip6tables", one(p_bool)),
    "ip": Field("ip", one(p_host_ip)),
    "port-range": Field("port_range", one(p_port_range_option)),
    "publish-from": Field("publish_from", allow_list),
    "dns": Field("dns", many(p_ip), True),
    "dns-search": Field("dns_search", many(p_domain), True),
}
BRIDGE = {**_BRIDGE_COMMON, "external": Field("external", flag)}
CONTAINER = {
    "net": Field("net", net_one),
    "hostname": Field("hostname", one(p_hostname)),
    "ip": Field("ip", one(lambda w: p_ipv4(w, hint=": an IPv6 address is pinned with ip6"))),
    "ip6": Field("ip6", one(p_ipv6)),
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
