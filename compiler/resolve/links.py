"""Links: each `link NAME[:ALIAS]` bound to a container with an address on the same bridge."""

from __future__ import annotations

from .. import ir
from ..diagnostics import Note, did_you_mean, quote
from ..frontend import model as m
from ..values import NetKind
from .state import State


def resolve(st: State) -> None:
    for c in st.containers.values():
        aliases: dict[str, m.LinkDecl] = {}
        for link in c.decl.link:
            name = link.target.value
            if name == c.decl.name.value:
                st.r.error(link.target.span, f"container {quote(name)} links to itself")
                continue
            target = st.containers.get(name)
            if target is None:
                st.r.error(link.target.span, f"link to unknown container {quote(name)}"
                                             f"{did_you_mean(name, st.containers)}")
                continue
            if link.alias.value in aliases:
                st.r.error(link.alias.span, f"link alias {quote(link.alias.value)} is used twice",
                             [Note(aliases[link.alias.value].alias.span, "first used here")])
                continue
            aliases[link.alias.value] = link
            if c.mode in (NetKind.HOST, NetKind.CONTAINER) or c.broken or target.broken:
                continue  # reported by _check_mode or resolve_modes
            owner = st.containers.get(target.root) if target.mode is NetKind.CONTAINER else target
            if owner is None or owner.mode is not NetKind.BRIDGE:
                mode = (owner.mode.value if owner else "container") if owner is not target else target.mode.value
                st.r.error(link.target.span, f"cannot link to {quote(name)}: it has no address on a bridge "
                                             f"(net {mode})")
                continue
            if c.mode is NetKind.BRIDGE and owner.bridge != c.bridge:
                st.r.error(link.target.span, f"cannot link to {quote(name)}: it is on bridge "
                                             f"{quote(owner.bridge)} and {quote(c.decl.name.value)} on "
                                             f"{quote(c.bridge)}; netc's bridges are isolated from each other")
                continue
            if c.mode is NetKind.NONE:
                st.r.warning(link.span, f"link from a net none container only writes a hosts line: "
                                        f"{quote(c.decl.name.value)} has no network to reach {quote(name)}")
            origin = st.origin(link.span, f"container {c.decl.name.value}")
            c.links.append(ir.Link(name, link.alias.value, owner.address, origin))
