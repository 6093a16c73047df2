"""Net modes: each container's `net` bound (a bridge, none, host, container:X), chains
of net container: followed to the container that owns the stack (cycles reported),
and the options each mode forbids or ignores checked (MODE_RULES, as Docker does).
"""

from __future__ import annotations

from ..diagnostics import did_you_mean, quote
from ..frontend import model as m
from ..values import NetKind
from .state import ContainerRecord, State


def resolve(st: State) -> None:
    decls = {c.name.value: c for c in st.spec.containers}
    for decl in st.spec.containers:
        net = decl.net or m.NetMode(NetKind.BRIDGE, None, decl.name.span)
        c = ContainerRecord(decl, net.kind)
        st.containers[decl.name.value] = c
        if net.kind is NetKind.BRIDGE:
            name = net.target or st.default_bridge
            if name not in st.bridges:
                st.r.error(net.span, f"unknown bridge {quote(name)} in net"
                                     f"{did_you_mean(name, list(st.bridges) + ['bridge', 'none', 'host'])}")
                c.mode, c.broken = NetKind.NONE, True  # keep going without a network
            else:
                c.bridge = name
        elif net.kind is NetKind.CONTAINER and net.target not in decls:
            st.r.error(net.target_span or net.span, f"net container:{net.target}: there is no container {quote(net.target)}"
                                   f"{did_you_mean(net.target, decls)}")
            c.mode, c.broken = NetKind.NONE, True
    # net container: chains end at a container with a stack of its own.
    reported: set[str] = set()
    for name, c in st.containers.items():
        if c.mode is not NetKind.CONTAINER:
            continue
        path, cur = [name], name
        while st.containers[cur].mode is NetKind.CONTAINER:
            nxt = st.containers[cur].decl.net.target
            if nxt in path:
                cycle = path[path.index(nxt):] + [nxt]
                if not reported & set(cycle):
                    span = st.containers[name].decl.net.span
                    st.r.error(span, f"net container:{cycle[1]} makes a cycle: " + " -> ".join(cycle))
                reported.update(cycle)
                for member in cycle:
                    st.containers[member].broken = True
                cur = None
                break
            path.append(nxt)
            cur = nxt
        c.root = cur
        if cur is not None and st.containers[cur].mode is NetKind.HOST:
            # Docker would join the host's own stack; say so in the spec instead.
            st.r.error(c.decl.net.target_span or c.decl.net.span,
                       f"net container:{c.decl.net.target} shares the stack of {quote(cur)}, which is "
                       f"net host; write net host")
            c.broken = True
    for c in st.containers.values():
        _check_mode(st, c)


# What each option does in each net mode other than bridge: None (it applies),
# ("error", why) where Docker refuses it, ("warning", why) where Docker accepts
# and ignores it. docs/choices.md lists the table.
MODE_RULES = {
    NetKind.NONE: {
        "ip": ("error", "only a container on a bridge has an address of its own"),
        "mac": ("warning", "a net none container has no interface to set it on"),
        "publish": ("warning", "a net none container has no network to publish from"),
        "publish-all": ("warning", "a net none container has no network to publish from"),
    },
    NetKind.HOST: {
        "hostname": ("error", "the container uses the host's hostname "
                              "(Docker: \"Conflicting options: -h and the network mode\")"),
        "dns": ("error", "the container uses the host's resolv.conf "
                         "(Docker: \"Conflicting options: --net=host can't be used with --dns\")"),
        "ip": ("error", "only a container on a bridge has an address of its own"),
        "link": ("error", "links need an address of the container's own "
                          "(Docker: \"Conflicting options: --net=host can't be used with links\")"),
        "netns": ("error", "the container runs in the host's namespace, there is none of its own to wire"),
        "mac": ("warning", "the container uses the host's interfaces"),
        "publish": ("warning", "the container listens on the host's own ports "
                               "(Docker: \"Published ports are discarded when using host network mode\")"),
        "publish-all": ("warning", "the container listens on the host's own ports"),
        "add-host": ("warning", "the container uses the host's own hosts file"),
        "dns-search": ("warning", "the container uses the host's own resolv.conf"),
        "dns-option": ("warning", "the container uses the host's own resolv.conf"),
    },
    NetKind.CONTAINER: {
        "hostname": ("error", "the container shares the hostname of {owner} "
                              "(Docker: \"Conflicting options: -h and the network mode\")"),
        "dns": ("error", "the container shares the resolv.conf of {owner} "
                         "(Docker: \"Conflicting options: --net=container can't be used with --dns\")"),
        "ip": ("error", "the container shares the address of {owner}"),
        "mac": ("error", "the container shares the interface of {owner}"),
        "publish": ("error", "the container shares the network stack of {owner}; publish on that container"),
        "publish-all": ("error", "the container shares the network stack of {owner}; publish on that container"),
        "link": ("error", "the container shares the hosts file and address of {owner}; link from that "
                          "container (Docker: \"Conflicting options: --net=container can't be used with links\")"),
        "add-host": ("error", "the container shares the hosts file of {owner}"),
        "netns": ("error", "the container shares the namespace of {owner}"),
        "dns-search": ("warning", "the container shares the resolv.conf of {owner}"),
        "dns-option": ("warning", "the container shares the resolv.conf of {owner}"),
    },
}


def _check_mode(st: State, c: ContainerRecord) -> None:
    d, kind = c.decl, c.mode
    rules = MODE_RULES.get(kind)
    if rules is None or c.broken:
        return
    mode = f"net container:{d.net.target}" if kind is NetKind.CONTAINER else f"net {kind.value}"
    owner = quote(d.net.target) if kind is NetKind.CONTAINER else ""
    present = {
        "hostname": d.hostname and d.hostname.span, "dns": d.dns and d.dns[0].span,
        "ip": d.ip and d.ip.span, "mac": d.mac and d.mac.span,
        "publish": d.publish and d.publish[0].span, "publish-all": d.publish_all and d.publish_all.span,
        "link": d.link and d.link[0].span, "add-host": d.add_host and d.add_host[0].span,
        "netns": d.netns and d.netns.span,
        "dns-search": d.dns_search and d.dns_search[0].span,
        "dns-option": d.dns_option and d.dns_option[0].span,
    }
    for option, span in present.items():
        if not span or option not in rules:
            continue
        severity, why = rules[option]
        why = why.format(owner=owner)
        if severity == "error":
            st.r.error(span, f"{option} cannot be used with {mode}: {why}")
        else:
            st.r.warning(span, f"{option} has no effect with {mode}: {why}")
