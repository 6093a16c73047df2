"""The drawing behind `netc graph` (emit/graph.py): netc.json's data -> a graphviz.Digraph.

Rows of HTML-like tables for the host and each container (so that arrows end
at the very port they reach), a box per bridge, and a legend of what the
picture uses. Everything is laid out in netc.json's order, so the DOT text is
deterministic.
"""

from __future__ import annotations

import html

import graphviz

# Tones chosen to stay apart when printed in grey: dark headers, light
# fills, and every kind of edge told apart by its line style as well as its colour.
FONT = "Helvetica,Arial,sans-serif"
INK = "#263238"
MUTED = "#607d8b"
HOST_HEAD = "#37474f"
BRIDGE_HEAD = "#1f4e79"
BRIDGE_FILL = "#f1f6fb"
EXTERNAL_FILL = "#f7f7f7"
CONTAINER_HEAD = "#d5e3f0"
NONE_HEAD = "#e3e3e3"
HOSTMODE_HEAD = "#e9e1d3"
PUBLISH = "#b0461c"
LINK = "#2e6b30"
P2P = "#5b3d8f"
SHARE = "#546e7a"
VETH = "#8a9ba8"


# ------------------------------------------------------------------ text helpers

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _ports(text: str) -> tuple[int, int]:
    lo, _, hi = str(text).partition("-")
    return int(lo), int(hi or lo)


def _host_addr(ip: str | None) -> str:
    if not ip:
        return "*"
    return f"[{ip}]" if ":" in ip else ip


def _v6(obj: dict, *keys: str) -> list[str]:
    """The IPv6 values an object carries under any of `keys` (none for an IPv4-only bridge or container)."""
    out = []
    for k in keys:
        v = obj.get(k)
        if isinstance(v, list):
            out += [str(x) for x in v if x]
        elif v:
            out.append(str(v))
    return out


def _allow(mapping: dict) -> str:
    """A publish's allow-list, as the arrow says it ('' for everyone)."""
    nets = [str(n) for n in mapping.get("from") or [] if str(n) not in ("0.0.0.0/0", "::/0")]
    return "from " + ", ".join(nets) if nets else ""


def _table(rows: list[str], *, border: str = INK, style: str = "") -> str:
    rounded = ' style="rounded"' if style == "rounded" else ""
    return (f'<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" color="{border}"{rounded}>'
            + "".join(rows) + "</table>>")


def _head(text: str, fill: str, *, ink: str = INK, sub: str = "", port: str = "head") -> str:
    small = f'<br/><font point-size="9" color="{ink}">{_e(sub)}</font>' if sub else ""
    return (f'<tr><td port="{port}" bgcolor="{fill}" cellpadding="5">'
            f'<font color="{ink}" point-size="13"><b>{_e(text)}</b></font>{small}</td></tr>')


def _row(text: str, *, port: str = "", size: int = 10, color: str = INK, align: str = "left",
         italic: bool = False, bold: bool = False, fill: str = "") -> str:
    body = _e(text)
    if italic:
        body = f"<i>{body}</i>"
    if bold:
        body = f"<b>{body}</b>"
    p = f' port="{port}"' if port else ""
    bg = f' bgcolor="{fill}"' if fill else ""
    return f'<tr><td{p}{bg} align="{align}"><font point-size="{size}" color="{color}">{body}</font></td></tr>'


def _rule_line() -> str:
    return '<tr><td cellpadding="0" height="1" bgcolor="#b0bec5"></td></tr>'


# ------------------------------------------------------------------ ids

def _cid(name: str) -> str:
    return f"c_{name}"


def _bid(name: str) -> str:
    return f"b_{name}"


def _pid(proto: str, ports: str) -> str:
    return f"{proto}_{str(ports).replace('-', '_')}"


# ------------------------------------------------------------------ drawing

class Drawing:
    def __init__(self, data: dict) -> None:
        self.data = data
        self.containers = [c for c in data.get("containers", []) if isinstance(c, dict)]
        self.by_name = {c["name"]: c for c in self.containers}
        self.bridges = [b for b in data.get("bridges", []) if isinstance(b, dict)]
        self.rules = [r for r in data.get("rules", []) if isinstance(r, dict)]
        self.p2p = [p for p in data.get("p2p", []) if isinstance(p, dict)]
        self.g = graphviz.Digraph("netc", graph_attr={
            "rankdir": "LR", "fontname": FONT, "fontsize": "11", "fontcolor": INK, "bgcolor": "white",
            "nodesep": "0.35", "ranksep": "1.0", "newrank": "true", "compound": "true",
            "pad": "0.3", "labelloc": "t", "labeljust": "l",
        }, node_attr={"shape": "plain", "fontname": FONT, "fontsize": "10", "fontcolor": INK,
                      "color": INK, "style": "solid", "margin": "0.11,0.055"},
            # Every attribute an edge below sets is declared here first: Graphviz 2.42/2.43
            # misreads attributes that only later edges introduce ("Arrow type ... unknown").
            edge_attr={"fontname": FONT, "fontsize": "9", "fontcolor": INK, "arrowsize": "0.7",
                       "arrowhead": "normal", "arrowtail": "none", "dir": "forward", "style": "solid",
                       "constraint": "true", "label": "", "tooltip": "", "color": INK, "penwidth": "1"})
        self.used: set[str] = set()  # what the legend explains
        # Each container's exposed rows: (proto, lo, hi, port id), for the arrows that end there.
        self.port_rows: dict[str, list[tuple[str, int, int, str]]] = {}

    # -------------------------------------------------------- pieces
    def title(self) -> None:
        spec = self.data.get("spec") or "netc.json"
        facts = []
        forward = next((s for s in self.data.get("sysctls", []) if isinstance(s, dict)
                        and s.get("key") == "net.ipv4.ip_forward"), None)
        if forward is not None:
            facts.append(f"ip_forward {'on' if str(forward.get('value')) == '1' else 'off'}")
        facts.append("firewall off (iptables false)" if self.data.get("backend", "") is None
                     else "firewall on")
        if sum(1 for b in self.bridges) > 1 and self.rules:
            facts.append("bridges isolated from each other")
        self.g.attr(label=f'<<font point-size="16"><b>{_e(spec)}</b></font>'
                          f'<font point-size="10" color="{MUTED}">   netc topology · {_e(" · ".join(facts))}</font><br/> >')

    def host(self) -> list[tuple[str, str, dict]]:
        """The host node; returns its publish rows as (port id, container, mapping)."""
        # In the order of the container ports they reach, so that the arrows do not cross.
        pubs = []
        for c in self.containers:
            exposed = [(proto, *_ports(p)) for proto, p in c.get("exposed") or []]
            mine = []
            for i, m in enumerate(c.get("mappings") or []):
                if isinstance(m, dict):
                    lo = _ports(m.get("container_ports"))[0]
                    at = next((k for k, (proto, a, b) in enumerate(exposed) if proto == m.get("proto") and a <= lo <= b),
                              len(exposed))
                    mine.append(((at, lo, i), (f"pub_{c['name']}_{i}", c["name"], m)))
            pubs += [item for _, item in sorted(mine, key=lambda x: x[0])]
        rows = [_head("host", HOST_HEAD, ink="white", sub="root network namespace")]
        if self.bridges:
            rows.append(_row("addresses", size=9, color=MUTED, italic=True))
        for b in self.bridges:
            prefix = str(b.get("network", "/")).split("/")[-1]
            text = "  ".join([f"{b['name']}  {b.get('address')}/{prefix}", *_v6(b, "gateway6", "address6")])
            rows.append(_row(text + ("  (external)" if b.get("external") else ""), port=_bid(b["name"]), bold=True))
        if pubs:
            rows.append(_rule_line())
            rows.append(_row("published ports", size=9, color=MUTED, italic=True))
        for port, name, m in pubs:
            ip = m.get("host_ip") or "0.0.0.0"
            text = f"{_host_addr(ip)}:{m.get('host_ports')}/{m.get('proto')}"
            notes = []
            if m.get("drawn"):
                notes.append("drawn")
            if str(ip).startswith("127.") or ip == "::1":
                notes.append("this host only")
            allow = m.get("allow", m.get("from"))
            if isinstance(allow, list):
                notes.append(f"from {', '.join(map(str, allow))}" if allow else "from nobody")
            if notes:
                text += f"  ({', '.join(notes)})"
            rows.append(_row(text, port=port, size=10))
        if not pubs:
            rows.append(_row("no published ports", size=9, color=MUTED, italic=True))
        self.g.node("host", _table(rows, border=HOST_HEAD))
        return pubs

    def container(self, c: dict, *, graph=None) -> None:
        g = graph if graph is not None else self.g
        mode = c.get("mode")
        name = c["name"]
        fill, sub = CONTAINER_HEAD, ""
        if mode == "none":
            fill, sub = NONE_HEAD, "net none"
        elif mode == "host":
            fill, sub = HOSTMODE_HEAD, "net host"
        elif mode == "container":
            fill, sub = NONE_HEAD if self._owner_mode(c) == "none" else CONTAINER_HEAD, f"net container:{c.get('shares')}"
        rows = [_head(name, fill, sub=sub)]
        if mode == "bridge" and c.get("address"):
            rows.append(_row(f"eth0  {c['address']}/{c.get('prefixlen')}", bold=True))
        for a in _v6(c, "address6", "ip6"):
            rows.append(_row(f"eth0  {a}", bold=True))
        if mode == "bridge" and c.get("host_veth"):
            rows.append(_row(f"host end {c['host_veth']} · mac {c.get('mac')}", size=8, color=MUTED))
        if mode == "none":
            rows.append(_row("loopback only", size=9, color=MUTED, italic=True))
        if mode == "host":
            rows.append(_row("the host's own stack and files", size=9, color=MUTED, italic=True))
        if mode == "container":
            rows.append(_row(f"{c.get('shares')}'s stack and files", size=9, color=MUTED, italic=True))
        if c.get("hostname") and c["hostname"] != name and mode != "container":
            rows.append(_row(f"hostname {c['hostname']}", size=9))
        if c.get("netns_path"):
            rows.append(_row(f"netns {c['netns_path']}", size=9))
        for p in self.p2p:
            for end in (p.get("a"), p.get("b")):
                if isinstance(end, dict) and end.get("container") == name:
                    rows.append(_row(f"{end.get('iface')}  {end.get('address')}", port=f"p2p_{end.get('iface')}",
                                     bold=True))
        ports = []
        for proto, ports_text in c.get("exposed") or []:
            lo, hi = _ports(ports_text)
            ports.append((proto, lo, hi, _pid(proto, ports_text)))
        self.port_rows[name] = ports
        if ports:
            rows.append(_rule_line())
            for proto, lo, hi, pid in ports:
                rows.append(_row(f"{lo if lo == hi else f'{lo}-{hi}'}/{proto}", port=pid, size=10, align="center"))
        g.node(_cid(name), _table(rows, border=MUTED if mode in ("none",) else INK))

    def _owner_mode(self, c: dict) -> str | None:
        owner = self.by_name.get(c.get("shares") or "")
        return owner.get("mode") if owner else None

    def _port_of(self, name: str, proto: str, cport: str) -> str:
        lo, _ = _ports(cport)
        for p, plo, phi, pid in self.port_rows.get(name, []):
            if p == proto and plo <= lo <= phi:
                return f"{_cid(name)}:{pid}:w"
        return f"{_cid(name)}:head"

    def bridge(self, b: dict) -> None:
        """A bridge: a box around its containers, each joined by its veth to the host's address on the bridge."""
        name = b["name"]
        masq = any(r.get("kind") == "Masquerade" and r.get("bridge") == name for r in self.rules)
        facts = [f"gateway {b.get('address')}", *[f"gateway {a}" for a in _v6(b, "gateway6", "address6")],
                 f"mtu {b.get('mtu')}", "icc on" if b.get("icc") else "icc off: only links pass",
                 *(["masquerade"] if masq else [])]
        external = bool(b.get("external"))
        if external:
            self.used.add("external")
        subnets = "  ".join([str(b.get("network")), *_v6(b, "network6")])
        with self.g.subgraph(name=f"cluster_{_bid(name)}") as s:
            top = f"bridge {name}  {subnets}" + ("   (the default bridge)" if b.get("default") else "")
            note = (f'<font point-size="9" color="{MUTED}"><i>external: made by the admin; '
                    f'netc attaches to it, never creates or deletes it</i></font><br align="left"/>' if external else "")
            s.attr(label=f'<<b>{_e(top)}</b><br align="left"/><font point-size="9" color="{MUTED}">'
                         f'{_e(" · ".join(facts))}</font><br align="left"/>{note}>',
                   style="rounded,filled,dashed" if external else "rounded,filled",
                   fillcolor=EXTERNAL_FILL if external else BRIDGE_FILL,
                   color=MUTED if external else BRIDGE_HEAD, penwidth="1.2" if external else "1.4",
                   fontsize="12", margin="14", labeljust="l")
            members = 0
            for c in self.containers:
                if c.get("mode") == "bridge" and c.get("bridge") == name:
                    self.container(c, graph=s)
                    members += 1
                # A container sharing a bridged container's stack sits beside it.
                elif c.get("mode") == "container":
                    owner = self.by_name.get(c.get("shares") or "")
                    if owner and owner.get("mode") == "bridge" and owner.get("bridge") == name:
                        self.container(c, graph=s)
            if not members:  # an empty box is not drawn at all: say that it is empty
                s.node(f"{_bid(name)}_empty", f'<<font point-size="9" color="{MUTED}"><i>no containers</i></font>>',
                       shape="box", style="rounded,dashed", color=VETH, margin="0.15,0.08")

    # -------------------------------------------------------- the whole
    def draw(self) -> str:
        self.title()
        pubs = self.host()
        for b in self.bridges:
            self.bridge(b)
        # Veths: the host's address on each bridge -> the containers on it.
        for b in self.bridges:
            members = [c for c in self.containers if c.get("mode") == "bridge" and c.get("bridge") == b["name"]]
            for c in members:
                self.used.add("veth")
                self.g.edge(f"host:{_bid(b['name'])}:e", f"{_cid(c['name'])}:head:w", dir="none", color=VETH,
                            penwidth="1.6", tooltip=f"veth {c.get('host_veth')} - eth0")
            if not members:
                self.g.edge(f"host:{_bid(b['name'])}:e", f"{_bid(b['name'])}_empty", style="invis")
        placed = {c["name"] for c in self.containers if c.get("mode") == "bridge"} | {
            c["name"] for c in self.containers if c.get("mode") == "container"
            and (self.by_name.get(c.get("shares") or "") or {}).get("mode") == "bridge"}
        rest = [c for c in self.containers if c["name"] not in placed]
        for c in rest:
            self.container(c)
        # Sharing: X -> `net container:X`, the host -> `net host`; the circle marks whose stack it is.
        for c in self.containers:
            if c.get("mode") == "container" and c.get("shares") in self.by_name:
                self.used.add("share")
                self.g.edge(f"{_cid(c['shares'])}:head", f"{_cid(c['name'])}:head", style="dotted",
                            color=SHARE, penwidth="1.6", dir="back", arrowtail="odot", label="shares stack",
                            fontcolor=SHARE)
            elif c.get("mode") == "host":
                self.used.add("share")
                self.g.edge("host:head", f"{_cid(c['name'])}:head", style="dotted", color=SHARE, penwidth="1.6",
                            dir="back", arrowtail="odot", label="shares stack", fontcolor=SHARE)
        # Links: parent -> child, alias and the child's ports.
        for c in self.containers:
            if c.get("mode") == "container":
                continue  # the owner's links, drawn once from the owner
            for link in c.get("links") or []:
                target = self.by_name.get(link.get("target"))
                if target is None:
                    continue
                child = target["name"]
                ports = ", ".join(f"{p}/{proto}" for proto, p in target.get("exposed") or [])
                alias = link.get("alias") or child
                text = f"link <b>{_e(alias)}</b>" if alias == child else f"link as <b>{_e(alias)}</b>"
                self.used.add("link")
                # Not a constraint: parent and child stay in one column of their bridge, so
                # that the veths from the host need not go round the bridge's box.
                self.g.edge(f"{_cid(c['name'])}:head", f"{_cid(child)}:head", style="dashed", color=LINK,
                            penwidth="1.6", arrowhead="vee", constraint="false",
                            label=f'<<font color="{LINK}">{text}'
                                  + (f'<br/>{_e(ports)}' if ports else "") + "</font>>")
        # p2p pairs: one double line between the two interfaces.
        for p in self.p2p:
            a, b = p.get("a") or {}, p.get("b") or {}
            if a.get("container") in self.by_name and b.get("container") in self.by_name:
                self.used.add("p2p")
                # The bridged end first, so that the other one is laid out beyond it.
                if self.by_name[a["container"]].get("mode") != "bridge" and \
                        self.by_name[b["container"]].get("mode") == "bridge":
                    a, b = b, a
                self.g.edge(f"{_cid(a['container'])}:p2p_{a.get('iface')}:e",
                            f"{_cid(b['container'])}:p2p_{b.get('iface')}:w",
                            dir="none", color=f"{P2P}:invis:{P2P}", penwidth="1.3", label="p2p veth",
                            fontcolor=P2P)
        # Publishes: host address -> container port, with the allow-list.
        for port, name, m in pubs:
            self.used.add("publish")
            label = _allow(m)
            attrs = {"color": PUBLISH, "penwidth": "1.5", "arrowhead": "normal", "fontcolor": PUBLISH}
            if label:
                attrs["label"] = label
            self.g.edge(f"host:{port}:e", self._port_of(name, str(m.get("proto")), str(m.get("container_ports"))),
                        **attrs)
        self.legend()
        return self.g.source

    def legend(self) -> None:
        """One table, of what this picture uses: a sample of each line, drawn in text so that
        it needs no edges of its own."""
        items = [
            ("publish", "\u2500\u2500\u2500\u2500\u25b6", PUBLISH, "publish: host address \u2192 container port"),
            ("link", "\u2500 \u2500 \u2500\u25b7", LINK, "link: alias, the ports it opens"),
            ("p2p", "\u2550\u2550\u2550\u2550\u2550", P2P, "p2p veth pair"),
            ("share", "\u00b7\u00b7\u00b7\u00b7\u00b7\u00b7\u25cb", SHARE, "shares a network stack (\u25cb: whose)"),
            ("veth", "\u2500\u2500\u2500\u2500\u2500", VETH, "veth: host \u2192 container eth0"),
        ]
        rows = []
        for kind, sample, colour, text in items:
            if kind in self.used:
                rows.append(f'<tr><td align="left"><font color="{colour}" point-size="11"><b>{_e(sample)}</b></font></td>'
                            f'<td align="left"><font point-size="9">{_e(text)}</font></td></tr>')
        notes = []
        if "external" in self.used:
            notes.append("dashed box: a bridge netc does not own")
        for note in notes:
            rows.append(f'<tr><td colspan="2" align="left"><font point-size="9" color="{MUTED}">{_e(note)}</font></td></tr>')
        if not rows:
            return
        head = '<tr><td colspan="2" align="left"><font point-size="10"><b>legend</b></font></td></tr>'
        self.g.node("legend", '<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" '
                              f'color="#cfd8dc" style="rounded">{head}{"".join(rows)}</table>>')
