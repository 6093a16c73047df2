"""Resolve: the model -> the IR (ir.py), and the new lock.

Binds every name (`net`, `link`, `p2p`, `net container:` chains), applies the
daemon's defaults (LANGUAGE.md), allocates what the spec leaves open (bridge
subnets from Docker's candidate list, container addresses and MACs, drawn host
ports, veth names), checks everything that involves more than one option, and
derives the firewall rules. Allocation is deterministic: pinned values first,
then values kept from the lock, then the lowest free value in source order.
Every problem is reported through the Reporter; nothing raises.

One pass a module, in this order, over the records of `state.State`:
bridges, modes, addresses, ports, links, interfaces, p2p; then `assemble`
builds the IR, and `derive` (a pure function of the IR) its rules.
"""

from __future__ import annotations

from .. import ir
from ..diagnostics import Reporter, Sources
from ..frontend import model as m
from . import addresses, assemble, bridges, interfaces, links, modes, p2p, ports
from .lock import Lock
from .state import State


def resolve(spec: m.Spec, reporter: Reporter, sources: Sources, lock: Lock, netns_prefix: str,
            spec_path: str) -> tuple[ir.Network | None, Lock]:
    """The IR (None when there are errors, all reported) and the lock of what was allocated."""
    st = State(spec, reporter, sources, lock, netns_prefix, spec_path)
    bridges.resolve(st)
    modes.resolve(st)
    addresses.allocate(st)
    ports.allocate(st)
    links.resolve(st)
    interfaces.name_veths(st)
    interfaces.check_namespaces(st)
    pairs = p2p.resolve(st)
    if st.r.errors:
        return None, st.lock
    return assemble.network(st, pairs), st.lock
