"""A stable text dump of the IR (`netc check --emit ir`), for review and tests."""

from __future__ import annotations

import dataclasses
import enum

from . import ir
from .values import PortRange


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, PortRange):
        return str(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if dataclasses.is_dataclass(value):
        return "{" + _fields(value) + "}"
    return str(value)


def _fields(node) -> str:
    return " ".join(f"{f.name}={_fmt(getattr(node, f.name))}" for f in dataclasses.fields(node) if f.compare)


def _node(node) -> str:
    origin = getattr(node, "origin", None)
    tail = f"    # {origin}" if origin else ""
    return f"{type(node).__name__.lower()} {_fields(node)}{tail}"


def dump(network: ir.Network) -> str:
    lines = [f"network spec={network.spec} netns-prefix={network.netns_prefix} firewall={_fmt(network.firewall)}"]
    for group in (network.bridges, network.containers, network.p2ps, network.sysctls):
        lines.extend(_node(n) for n in group)
    lines.extend("rule " + _node(r) for r in network.rules)
    return "\n".join(lines) + "\n"
