"""Names in the kernel: each bridged container's host veth (at most 15 characters,
unique, never a bridge's name) and each container namespace (one per stack).
"""

from __future__ import annotations

import hashlib

from ..diagnostics import Note, quote
from ..values import NetKind
from .state import ContainerRecord, State

IFNAME_MAX = 15


def veth_name(container: str) -> str:
    """The host end of a container's veth: readable, unique, at most 15 characters."""
    name = f"ve-{container}"
    if len(name) <= IFNAME_MAX:
        return name
    digest = hashlib.sha256(container.encode()).hexdigest()[:4]
    return f"ve-{container[:7]}-{digest}"


def name_veths(st: State) -> None:
    """The host end of each bridged container's veth, into st.veths (container name -> interface)."""
    owners: dict[str, str] = {}  # interface -> container
    for c in st.containers.values():
        if c.mode is not NetKind.BRIDGE:
            continue
        name = veth_name(c.decl.name.value)
        if name in owners:
            clash = f"container {quote(owners[name])}"
        else:
            clash = f"bridge {quote(name)}" if name in st.bridges else None
        if clash:
            st.r.error(c.decl.name.span, f"the veth name {quote(name)} of container "
                                         f"{quote(c.decl.name.value)} collides with {clash}; rename one of them")
            continue
        owners[name] = c.decl.name.value
    st.veths.update((who, name) for name, who in owners.items())


def check_namespaces(st: State) -> None:
    """Every container with a stack of its own needs a namespace of its own."""
    seen: dict[str, ContainerRecord] = {}
    for c in st.containers.values():
        if c.mode not in (NetKind.BRIDGE, NetKind.NONE) or c.broken:
            continue
        keys = [st.netns_of(c)] + ([c.decl.netns.value] if c.decl.netns else [])
        prior = next(((k, seen[k]) for k in keys if k in seen), None)
        if prior is not None:
            key, other = prior
            where = lambda x: (x.decl.netns or x.decl.name).span  # noqa: E731
            st.r.error(where(c), f"containers {quote(other.decl.name.value)} and {quote(c.decl.name.value)} "
                                 f"would share the namespace {quote(key)}; to share a network stack, "
                                 f"use net container:{other.decl.name.value}",
                         [Note(where(other), "the other one is here")])
            continue
        seen.update((k, c) for k in keys)
