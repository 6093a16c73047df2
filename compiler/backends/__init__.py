"""Backends: one module per firewall target, each implementing `base.Backend`.

A backend reads the IR (never lark, never another backend, never emit or
prove) and returns its part of the output tree. The registry maps
`--backend` names to modules; `for_network` picks `none` when the spec turns
the firewall off.
"""

from __future__ import annotations

from .. import ir
from . import iptables, nftables, none
from .base import Backend

REGISTRY: dict[str, Backend] = {iptables.NAME: iptables, nftables.NAME: nftables}  # what --backend offers
ALL: dict[str, Backend] = {**REGISTRY, none.NAME: none}


def for_network(network: ir.Network, name: str) -> Backend:
    """The backend that renders NETWORK: NAME, or `none` when the spec says iptables false."""
    return ALL[name] if network.firewall else none
