"""The `none` backend: `iptables false` in the spec. No rules, no files.

Docker with --iptables=false installs no firewall rules at all; so does
netc. Explain then walks a packet through no chains: routing alone decides.
"""

from __future__ import annotations

from .. import ir
from .base import Rendered
from .rules import Rule, Ruleset

NAME = "none"
FIREWALL = False
BR_NETFILTER = False


def ruleset(network: ir.Network) -> Ruleset:
    return Ruleset(NAME)


def render(network: ir.Network) -> Rendered:
    return Rendered({}, 0)


def rule_text(rule: Rule) -> str:  # there are none
    raise AssertionError("the none backend has no rules")


def runtime() -> dict:
    return {}
