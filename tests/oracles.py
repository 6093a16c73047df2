"""Test oracles: plain, slow reference implementations that fast product code is checked against."""

from __future__ import annotations

import json

from netc import __version__, ir
from netc.emit.netjson import _layout
from netc.values import PortRange


def _jsonable(value):
    import dataclasses
    import enum
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, PortRange):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
        origin = getattr(value, "origin", None)
        if origin is not None:
            out["origin"] = str(origin)
        return out
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _data(network: ir.Network, backend: str) -> dict:
    """netc.json's content, as plain JSON values."""
    return {
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix,
        "bridges": _jsonable(network.bridges), "containers": _jsonable(network.containers),
        "p2p": _jsonable(network.p2ps), "sysctls": _jsonable(network.sysctls),
        "rules": [{"kind": type(r).__name__, **_jsonable(r)} for r in network.rules],
    }




_ENCODER = json.JSONEncoder(sort_keys=True, separators=(", ", ": "))


def network_json_reference(network: ir.Network, backend: str) -> str:
    """netc.json the plain way: _jsonable, then json. network_json writes the same text faster."""
    return _layout(_data(network, backend), _ENCODER.encode)
