"""netc.json: the resolved network, one bridge, container or rule per line.

Every rule carries its origin (the spec line it comes from).
"""

from __future__ import annotations

import enum
import json
from json.encoder import encode_basestring_ascii as encode_string

from netaddr import IPAddress

from .. import __version__, ir
from ..values import PortRange, address_text


def _layout(data: dict, encode) -> str:
    """The top level's keys one per line, and each item of a list on a line of its own:
    a changed container or rule is a changed line in a diff, and the text comes from
    json's C encoder (its indenting one is pure Python, most of compile at 10,000 containers)."""
    lines = ["{"]
    keys = sorted(data)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = data[key]
        head = f"  {encode_string(key)}: "
        if isinstance(value, (list, tuple)) and value:
            lines.append(head + "[")
            lines.append(",\n".join("    " + encode(item) for item in value))
            lines.append("  ]" + comma)
        else:
            lines.append(head + encode(value) + comma)
    lines.append("}")
    return "\n".join(lines)


def _plain(value):
    """json's `default`: a value json cannot write itself, as plain JSON data."""
    convert = _CONVERT.get(type(value))
    if convert is None:
        convert = _CONVERT[type(value)] = _converter(type(value))
    return convert(value)


def _converter(cls: type):
    if cls is PortRange:
        return str
    if cls is IPAddress:
        return address_text
    if issubclass(cls, enum.Enum):
        return lambda v: v.value
    if not hasattr(cls, "__dataclass_fields__"):
        return str
    import dataclasses
    names = tuple(f.name for f in dataclasses.fields(cls) if f.compare)
    with_origin = "origin" in cls.__dataclass_fields__ or hasattr(cls, "origin")

    def convert(value) -> dict:
        out = {name: getattr(value, name) for name in names}
        if with_origin:
            origin = value.origin
            if origin is not None:
                out["origin"] = str(origin)
        return out
    return convert


_CONVERT: dict[type, object] = {}
_FAST = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), default=_plain)


def _rule(r) -> dict:
    d = _plain(r)
    d["kind"] = type(r).__name__
    return d


def network_json(network: ir.Network, backend: str) -> str:
    """netc.json, with the IR's objects handed to json's C encoder as they are
    (`default` turns each into a dict) instead of copied first. tests/oracles.py
    holds a plain reference encoder that a test compares this with."""
    return _layout({
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix, "bridges": network.bridges, "containers": network.containers,
        "p2p": network.p2ps, "sysctls": network.sysctls, "rules": [_rule(r) for r in network.rules],
    }, _FAST.encode)
