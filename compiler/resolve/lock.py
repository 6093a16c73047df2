"""SPEC.lock: the values netc allocated, kept across compiles.

The lock records only what the spec leaves to netc: auto-selected bridge
subnets, allocated container addresses, and drawn host ports. A compile keeps
every locked value that is still valid, so adding a container never renumbers
the others. The file is JSON with sorted keys: stable, and reviewable as a diff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

VERSION = 1


@dataclass
class Lock:
    bridges: dict[str, str] = field(default_factory=dict)          # bridge -> "172.17.42.1/16"
    addresses: dict[str, str] = field(default_factory=dict)        # container -> "172.17.0.2"
    ports: dict[str, dict[str, int]] = field(default_factory=dict)  # container -> {"tcp:0.0.0.0:80": 49153}

    def to_text(self) -> str:
        data = {"netc-lock": VERSION, "bridges": self.bridges, "addresses": self.addresses,
                "ports": {k: v for k, v in self.ports.items() if v}}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lock) and self.to_text() == other.to_text()


class LockError(Exception):
    pass


def parse(text: str) -> Lock:
    """Read a lock file; a damaged one is an error, never silently ignored."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise LockError("not a netc lock (nested too deeply)") from None
    except ValueError as exc:  # e.g. a number of more digits than Python reads
        raise LockError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("netc-lock") != VERSION:
        raise LockError(f"not a netc lock of version {VERSION}")

    def table(key: str, value_type) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, value_type)
                                                  for k, v in value.items()):
            raise LockError(f"'{key}' is malformed")
        return dict(value)

    ports = table("ports", dict)
    for name, entries in ports.items():
        if not all(isinstance(k, str) and type(v) is int for k, v in entries.items()):
            raise LockError(f"'ports' of {name!r} is malformed")
    return Lock(table("bridges", str), table("addresses", str), ports)


def diff(old: Lock, new: Lock) -> list[str]:
    """What a compile would change in the lock, one line per value."""
    out = []
    for label, a, b in (("bridge", old.bridges, new.bridges), ("address of", old.addresses, new.addresses)):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{label} {key}: {a.get(key, '(none)')} -> {b.get(key, '(none)')}")
    for name in sorted(set(old.ports) | set(new.ports)):
        a, b = old.ports.get(name, {}), new.ports.get(name, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"port {name} {key}: {a.get(key, '(none)')} -> {b.get(key, '(none)')}")
    return out
