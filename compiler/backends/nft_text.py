"""The nftables backend's words: a typed rule or set element as rules.nft writes it
(and as explain quotes it)."""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

from ..quote import nft_string
from ..values import Family, PortRange, Proto, address_text
from ..kernel import TRANSLATED, TRANSLATED_MARK
from .rules import Element, Neg, Rule, Verdict

V4, V6 = Family.V4, Family.V6


FIELD = {"saddr": "{ip} saddr", "daddr": "{ip} daddr", "proto": "meta l4proto", "sport": "th sport",
         "dport": "th dport"}
IP = {V4: "ip", V6: "ip6"}
NFPROTO = {V4: "ipv4", V6: "ipv6"}


def _ports(p: PortRange) -> str:
    return str(p.lo) if p.lo == p.hi else f"{p.lo}-{p.hi}"


def _value(v) -> str:
    if isinstance(v, PortRange):
        return _ports(v)
    if isinstance(v, Proto):
        return v.value
    if isinstance(v, IPNetwork):
        return str(v.ip) if v.prefixlen == (32 if v.version == 4 else 128) else f"{v.network}/{v.prefixlen}"
    if isinstance(v, IPAddress):
        return address_text(v)
    return str(v)


def _comment(origin) -> str:
    return f" comment {nft_string(str(origin))}" if origin else ""


def _cmp(word: str, value, quote: bool = False) -> list[str]:
    if value is None:
        return []
    neg = isinstance(value, Neg)
    v = _value(value.value if neg else value)
    if quote:
        v = f'"{v}"'
    return [word] + (["!="] if neg else []) + [v]


def _address(word: str, value) -> list[str]:
    """`ip saddr X` or `ip6 saddr X`, as the address's family says."""
    if value is None:
        return []
    return _cmp(f"{IP[(value.value if isinstance(value, Neg) else value).version]} {word}", value)


def _keys(fields, family: Family | None) -> str:
    return " . ".join(FIELD[f].format(ip=IP.get(family, "ip")) for f in fields)


def rule_text(r: Rule) -> str:
    m = r.match
    out: list[str] = []
    # An address, an address key or ICMPv6 implies the family; otherwise a rule of one family says which.
    addressed = m.saddr is not None or m.daddr is not None or m.icmp6 or \
        any(f in ("saddr", "daddr") for lk in m.lookups for f in lk.fields) or \
        (r.dnat_map is not None and "daddr" in r.dnat_map[0])
    if m.l3:   # the bridge family: the frame's protocol (ARP is neither)
        out += ["meta protocol", {None: "{ ip, ip6 }", V4: "ip", V6: "ip6"}[m.family]]
    elif m.family is not None and not addressed:
        out += ["meta nfproto", NFPROTO[m.family]]
    out += _cmp("iifname", m.iif, True)
    if m.iif_set:
        out += ["iifname", f"@{m.iif_set}"]
    out += _cmp("oifname", m.oif, True)
    if m.oif_set:
        out += ["oifname", f"@{m.oif_set}"]
    out += _address("saddr", m.saddr)
    out += _address("daddr", m.daddr)
    if m.proto is not None:
        out += ["meta l4proto", m.proto.value]
    if m.sport is not None:
        out += ["th sport", _ports(m.sport)]
    if m.dport is not None:
        out += ["th dport", _ports(m.dport)]
    if m.icmp6:
        out += ["icmpv6 type", "{ " + ", ".join(m.icmp6) + " }"]
    if m.src_local:
        out += ["fib saddr type local"]
    if m.dst_local:
        out += ["fib daddr type local"]
    if m.marked:
        out += [f"meta mark & {TRANSLATED_MARK:#010x} == {TRANSLATED_MARK:#010x}"]
    if m.ctstate is not None:
        neg = isinstance(m.ctstate, Neg)
        states = m.ctstate.value if neg else m.ctstate
        if states == TRANSLATED:
            # ct status is a bitmask: `ct status dnat` tests the flag, but
            # `ct status != dnat` would compare the whole mask.
            out += ["ct status & dnat == 0"] if neg else ["ct status dnat"]
        else:
            out += ["ct state", "!=" if neg else "", ",".join(s.lower() for s in sorted(states))]
    if any(f in ("sport", "dport") for lookup in m.lookups for f in lookup.fields):
        out += ["meta l4proto { tcp, udp }"]
    for lookup in m.lookups:
        out += [_keys(lookup.fields, m.family)] + (["!="] if lookup.negate else []) + [f"@{lookup.set}"]
    if r.verdict is Verdict.VMAP:
        out += [f"{r.vmap[0]}name vmap @{r.vmap[1]}"]
    elif r.verdict is Verdict.JUMP:
        out += ["jump", r.target]
    elif r.verdict is Verdict.MARK:
        out += [f"meta mark set meta mark | {TRANSLATED_MARK:#010x}"]
    elif r.verdict is Verdict.DNAT:
        fields, mapname = r.dnat_map
        out += ["meta l4proto { tcp, udp }", f"dnat {IP[m.family or V4]} to", _keys(fields, m.family), "map",
                f"@{mapname}"]
    else:
        out += [r.verdict.value.lower()]
    return " ".join(w for w in out if w) + _comment(r.origin)


def _element_comment(origin) -> str:
    if not origin:
        return ""
    return _comment(f"{origin.file}:{origin.line}" if origin.line else origin.text)


def element_text(name: str, e: Element) -> str:
    key = " . ".join(f'"{k}"' if name in ("bridges", "forward-in", "forward-out", "ports") else _value(k)
                     for k in e.key)
    if e.value is None:
        return key + _element_comment(e.origin)
    if isinstance(e.value, str):
        return f"{key} : jump {e.value}"
    return f"{key}{_element_comment(e.origin)} : {_value(e.value[0])} . {_value(e.value[1])}"


def _ranged(elements: list[Element]) -> bool:
    """Whether a set needs `flags interval`: one of its keys is a port range or a network."""
    return any((isinstance(k, PortRange) and k.lo != k.hi) or isinstance(k, IPNetwork)
               for e in elements for k in e.key)


