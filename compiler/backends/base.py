"""What every backend is: one small interface (after netavark's firewall drivers).

A backend lowers the IR's rules into a typed `Ruleset` (rules.py) and
serializes that once. `explain` evaluates the same Ruleset and quotes each
rule in the backend's own words (`rule_text`), so what explain says is what
the backend wrote. `runtime` is what the firewall object's commands (in the
output tree's `objects`) name to load and remove its rules. A backend that cannot express
an IR rule raises `Unsupported` instead of writing something wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .. import ir
from .rules import Rule, Ruleset


class Unsupported(Exception):
    """The backend has no lowering for an IR rule kind."""


@dataclass(frozen=True)
class RulesFile:
    """One file of the output tree: the template that lays it out and its context."""
    template: str
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    files: dict[str, RulesFile]     # output tree name -> how to write it
    count: int                      # rules the kernel will hold (apply.sh's header says it)


class Backend(Protocol):
    NAME: str            # --backend
    FIREWALL: bool       # False only for `none`: the spec turned the firewall off (iptables false)
    BR_NETFILTER: bool   # its rules see traffic within a bridge only through br_netfilter (net.bridge.* sysctls)

    def ruleset(self, network: ir.Network) -> Ruleset:
        """The rules as the kernel will hold them (base chains, chains, sets), for explain."""

    def render(self, network: ir.Network) -> Rendered:
        """The backend's files of the output tree."""

    def rule_text(self, rule: Rule) -> str:
        """One rule as the backend wrote it (what explain quotes)."""

    def runtime(self) -> dict:
        """What the firewall object's load and removal commands name (templates/objects.j2)."""
