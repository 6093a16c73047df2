"""Backends: one module per firewall target, each with one verb, `render`.

A backend reads the IR (never lark, never another backend) and returns its
part of the output tree: its files (with the template that lays each out),
and a rule count. The registry maps `--backend` names to modules.
"""

from . import iptables, nftables

REGISTRY = {iptables.NAME: iptables, nftables.NAME: nftables}
