"""The small value types every stage shares: protocols, port ranges, net modes, families.

The front end makes them, the IR carries them, backends and explain read
them; they live here so that no later stage imports the front end.
"""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass


class Proto(str, enum.Enum):
    TCP = "tcp"
    UDP = "udp"

    def __str__(self) -> str:
        return self.value


PROTO_ORDER = {Proto.TCP: 0, Proto.UDP: 1}


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    lo: int
    hi: int

    def __len__(self) -> int:
        return self.hi - self.lo + 1

    def __iter__(self):
        return iter(range(self.lo, self.hi + 1))

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


class NetKind(str, enum.Enum):
    BRIDGE = "bridge"        # the default bridge, or a named one (target)
    NONE = "none"
    HOST = "host"
    CONTAINER = "container"  # target: the container whose stack is shared


class Family(enum.IntEnum):
    """An address family: what a rule or a publish applies to (netc.json writes 4 or 6)."""
    V4 = 4
    V6 = 6

    def __str__(self) -> str:
        return f"IPv{self.value}"


_TEXT: dict[tuple[int, int], str] = {}


def address_text(address) -> str:
    """An address (netaddr's IPAddress) as netaddr writes it, fast: IPv6 through the C library's
    inet_ntop (RFC 5952, the same text; netaddr's own took a third of compiling 10,000
    dual-stack containers), each address once."""
    key = (address.version, int(address))
    text = _TEXT.get(key)
    if text is None:
        if key[0] == 6:
            text = socket.inet_ntop(socket.AF_INET6, key[1].to_bytes(16, "big"))
        else:
            text = str(address)
        text = _TEXT[key] = text
    return text
