"""The output tree: the IR and a firewall backend -> artifact name -> text.

Pure: nothing is written here (the CLI writes). Logic stays in Python; the
jinja2 templates in templates/ only lay the text out. Output is byte-for-byte
deterministic: sorted or source-ordered data, no timestamps, no absolute
paths, LF line ends and one trailing newline per file.

Besides DESIGN.md's files, the tree holds `objects` (the table of everything
apply creates, one line each, which apply reconciles against the previous
apply's record) and `netc-lib.sh` (the functions apply.sh and teardown.sh
share).
"""

from __future__ import annotations

import enum
import hashlib
import json
from functools import lru_cache
from json.encoder import encode_basestring_ascii as encode_string

import jinja2

from . import __version__, ir
from .backends import REGISTRY
from .model import NetKind, PortRange


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    # auto_reload off: the templates ship inside the package, and checking
    # each one's mtime on every use was a stat per container file.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("netc", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, autoescape=False, auto_reload=False)


@lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    return _env().get_template(name)


def template(name: str, **context) -> str:
    # The templates use no jinja globals, so the context goes in as it is
    # (shared=True: no copy of the globals for each of the many container files).
    t = _template(name)
    text = "".join(t.root_render_func(t.new_context(context, shared=True)))
    return text if text.endswith("\n") else text + "\n"


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


# ------------------------------------------------------------------ container files

def hosts_entries(network: ir.Network, c: ir.Container) -> list[tuple[str, str]]:
    """/etc/hosts in Docker 1.4's order: own line, the six defaults, links, add-hosts."""
    entries = []
    host, _, domain = c.hostname.partition(".")
    if c.mode is not NetKind.NONE and c.address is not None:
        entries.append((str(c.address), f"{c.hostname} {host}" if domain else host))
    entries += [("127.0.0.1", "localhost"), ("::1", "localhost ip6-localhost ip6-loopback"),
                ("fe00::0", "ip6-localnet"), ("ff00::0", "ip6-mcastprefix"),
                ("ff02::1", "ip6-allnodes"), ("ff02::2", "ip6-allrouters")]
    for link in c.links:
        names = link.alias if link.alias == link.target else f"{link.alias} {link.target}"
        entries.append((str(link.address), names))
    entries += [(str(ip), name) for name, ip in c.add_hosts]
    return entries


def container_files(network: ir.Network, c: ir.Container, resolv: dict | None = None) -> dict[str, str]:
    """A container's files. `resolv` caches resolv.conf texts across containers (most share one)."""
    if c.mode is NetKind.HOST:
        return {}  # a net host container uses the host's own files
    base = f"containers/{c.name}/"
    key = (c.nameservers, c.search, c.options)
    text = resolv.get(key) if resolv is not None else None
    if text is None:
        text = template("resolv.conf.j2", nameservers=[str(n) for n in c.nameservers],
                        search=" ".join(c.search), options=" ".join(c.options))
        if resolv is not None:
            resolv[key] = text
    return {
        base + "hostname": template("hostname.j2", hostname=c.hostname),
        base + "hosts": template("hosts.j2", entries=hosts_entries(network, c)),
        base + "resolv.conf": text,
    }


# ------------------------------------------------------------------ the object table

def object_lines(network: ir.Network, files: dict[str, str], firewall: str | None,
                 rules_text: str) -> list[str]:
    lines = []
    bridges = {b.name: b for b in network.bridges}
    for b in network.bridges:
        lines.append(f"bridge {b.name} {b.cidr} {b.mtu} {'external' if b.external else 'create'} "
                     f"{1 if network.firewall else 0}")
    for s in network.sysctls:
        if ".conf." in s.key and s.key.endswith(".route_localnet"):
            continue  # part of its bridge's object
        lines.append(f"sysctl {s.key.replace('.', '/')} {s.value}")
    container_sig: dict[str, str] = {}
    for c in network.containers:
        if c.mode not in (NetKind.BRIDGE, NetKind.NONE):
            continue
        path = "-" if c.netns_path is None else ("=" if c.netns == ir.listed_netns(c.netns_path) else c.netns_path)
        if c.mode is NetKind.BRIDGE:
            b = bridges[c.bridge]
            sig = f"{b.cidr},{b.mtu},{'external' if b.external else 'create'}"
            fields = [c.host_veth, c.bridge, sig, f"{c.address}/{c.prefixlen}", str(c.gateway), str(c.mac), str(c.mtu)]
        else:
            fields = ["-"] * 7
        line = " ".join(["container", c.name, c.netns, path, c.mode.value, *fields])
        container_sig[c.netns] = _short_hash(line)
        lines.append(line)
    for p in network.p2ps:
        sig = _short_hash(container_sig.get(p.a.netns, ""), container_sig.get(p.b.netns, ""))
        lines.append(f"p2p {p.a.netns}:{p.a.iface} {p.a.netns} {p.a.iface} {p.a.address} {p.a.peer} "
                     f"{p.b.netns} {p.b.iface} {p.b.address} {p.b.peer} {sig}")
    for c in network.containers:
        if c.mode in (NetKind.BRIDGE, NetKind.NONE):
            base = f"containers/{c.name}/"
            digest = _short_hash(*(files[base + f] for f in ("hostname", "hosts", "resolv.conf")))
            lines.append(f"files {c.netns} {c.name} {digest}")
    if firewall:
        lines.append(f"firewall {firewall} {_short_hash(rules_text)}")
    return lines


# ------------------------------------------------------------------ netc.json

def _jsonable(value):
    import dataclasses
    import enum
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, PortRange):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
        origin = getattr(value, "origin", None)
        if origin is not None:
            out["origin"] = str(origin)
        return out
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def network_json_reference(network: ir.Network, backend: str) -> str:
    """netc.json the plain way: _jsonable, then json.dumps. network_json writes the same text faster."""
    data = {
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix,
        "bridges": _jsonable(network.bridges), "containers": _jsonable(network.containers),
        "p2p": _jsonable(network.p2ps), "sysctls": _jsonable(network.sysctls),
        "rules": [{"kind": type(r).__name__, **_jsonable(r)} for r in network.rules],
    }
    return json.dumps(data, indent=2, sort_keys=True)


def network_json(network: ir.Network, backend: str) -> str:
    """netc.json: the text of json.dumps(indent=2, sort_keys=True) of what _jsonable makes of
    the network, written in one pass over the IR (json's indenting encoder is pure Python,
    and was most of compile's time at 10,000 containers)."""
    out: list[str] = []
    _JsonWriter(out).value({
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix, "bridges": network.bridges, "containers": network.containers,
        "p2p": network.p2ps, "sysctls": network.sysctls, "rules": _Rules(network.rules),
    }, 0)
    return "".join(out)


class _Rules(tuple):
    """The rules, each written with its kind (the class name) as a key."""


class _JsonWriter:
    """Appends JSON text to `out`, as json.dumps(_jsonable(value), indent=2, sort_keys=True) would."""

    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.layouts: dict[tuple[type, int, bool], list[tuple[str, str]]] = {}

    def layout(self, cls: type, level: int, kind: bool) -> list[tuple[str, str]]:
        """(attribute, '\n  "key": ') of a dataclass's keys, sorted as sort_keys sorts them."""
        import dataclasses
        key = (cls, level, kind)
        found = self.layouts.get(key)
        if found is None:
            names = [f.name for f in dataclasses.fields(cls) if f.compare]
            names.append("origin")
            if kind:
                names.append("kind")
            pad = "\n" + "  " * (level + 1)
            found = self.layouts[key] = [(n, pad + encode_string(n) + ": ") for n in sorted(names)]
        return found

    def value(self, v, level: int) -> None:
        out = self.out
        t = type(v)
        if t is str:
            out.append(encode_string(v))
        elif v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif t is int:
            out.append(int.__repr__(v))
        elif t is dict:
            self.mapping(sorted(v.items()), level)
        elif isinstance(v, tuple):
            if not v:
                out.append("[]")
                return
            rules = t is _Rules
            pad = "\n" + "  " * (level + 1)
            out.append("[")
            first = True
            for item in v:
                out.append(pad if first else "," + pad)
                first = False
                if rules:
                    self.dataclass(item, level + 1, type(item).__name__)
                else:
                    self.value(item, level + 1)
            out.append("\n" + "  " * level + "]")
        elif t is PortRange:
            out.append(encode_string(str(v)))
        elif isinstance(v, enum.Enum):
            self.value(v.value, level)
        elif hasattr(t, "__dataclass_fields__"):
            self.dataclass(v, level, None)
        elif isinstance(v, (bool, int, str)):
            out.append(json.dumps(v))
        else:
            out.append(encode_string(str(v)))

    def dataclass(self, v, level: int, kind: str | None) -> None:
        out = self.out
        out.append("{")
        first = True
        for name, key in self.layout(type(v), level, kind is not None):
            if name == "kind" and kind is not None:
                item = kind
            elif name == "origin":
                item = getattr(v, "origin", None)
                if item is None:
                    continue
                item = str(item)
            else:
                item = getattr(v, name)
            out.append(key if first else "," + key)
            first = False
            # The common leaves inline (most values are), the rest through value().
            t = type(item)
            if t is str:
                out.append(encode_string(item))
            elif item is None:
                out.append("null")
            elif t is int:
                out.append(int.__repr__(item))
            else:
                self.value(item, level + 1)
        out.append("\n" + "  " * level + "}" if not first else "}")

    def mapping(self, items: list, level: int) -> None:
        out = self.out
        if not items:
            out.append("{}")
            return
        pad = "\n" + "  " * (level + 1)
        out.append("{")
        first = True
        for k, item in items:
            out.append((pad if first else "," + pad) + encode_string(k) + ": ")
            first = False
            self.value(item, level + 1)
        out.append("\n" + "  " * level + "}")


# ------------------------------------------------------------------ all

def render(network: ir.Network, backend: str = "iptables") -> dict[str, str]:
    """The whole output tree, as artifact name -> text."""
    fw = REGISTRY[backend].render(network)
    out: dict[str, str] = {}
    rules_text = ""
    if network.firewall:
        for name, spec in fw["files"].items():
            context = {k: v for k, v in spec.items() if k != "template"}
            out[name] = template(spec["template"], spec=network.spec, **context)
            rules_text += out[name]
    resolv: dict = {}
    for c in network.containers:
        out.update(container_files(network, c, resolv))
    lines = object_lines(network, out, backend if network.firewall else None, rules_text)
    out["objects"] = template("objects.j2", lines=lines)
    counts = {"bridges": len(network.bridges), "p2ps": len(network.p2ps),
              "containers": sum(1 for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)),
              "rules": fw["count"] if network.firewall else 0}
    common = {"version": __version__, "spec": network.spec}
    # The library can remove either backend's rules, whatever this output uses.
    lib = {**REGISTRY["iptables"].render_lib(), "nft_table": REGISTRY["nftables"].TABLE}
    out["netc-lib.sh"] = template("netc-lib.sh.j2", **common, **lib)
    out["apply.sh"] = template("apply.sh.j2", **common, counts=counts)
    out["teardown.sh"] = template("teardown.sh.j2", **common)
    out["netc.json"] = template("netc.json.j2", body=network_json(network, backend))
    return dict(sorted(out.items()))
