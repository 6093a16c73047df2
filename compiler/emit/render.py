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
import os
from functools import lru_cache
from json.encoder import encode_basestring_ascii as encode_string

import jinja2

from .. import __version__, ir
from .fork import Forked
from ..backends import REGISTRY
from ..values import NetKind, PortRange


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

def object_head(network: ir.Network) -> list[str]:
    """The object table's bridges, sysctls, containers and p2p links."""
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
    return lines


def files_lines(network: ir.Network, digests: dict[str, str]) -> list[str]:
    return [f"files {c.netns} {c.name} {digests[c.name]}"
            for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)]


def firewall_line(backend: str, rules_text: str) -> str:
    return f"firewall {backend} {_short_hash(rules_text)}"


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


def _data(network: ir.Network, backend: str) -> dict:
    """netc.json's content, as plain JSON values."""
    return {
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix,
        "bridges": _jsonable(network.bridges), "containers": _jsonable(network.containers),
        "p2p": _jsonable(network.p2ps), "sysctls": _jsonable(network.sysctls),
        "rules": [{"kind": type(r).__name__, **_jsonable(r)} for r in network.rules],
    }


def _layout(data: dict, encode) -> str:
    """The top level's keys one per line, and each item of a list on a line of its own:
    a changed container or rule is a changed line in a diff, and the text comes from
    json's C encoder (its indenting one is pure Python, most of compile at 10,000 containers)."""
    lines = ["{"]
    keys = sorted(data)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = data[key]
        head = f"  {encode_string(key)}: "
        if isinstance(value, (list, tuple)) and value:
            lines.append(head + "[")
            lines.append(",\n".join("    " + encode(item) for item in value))
            lines.append("  ]" + comma)
        else:
            lines.append(head + encode(value) + comma)
    lines.append("}")
    return "\n".join(lines)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(", ", ": "))


def network_json_reference(network: ir.Network, backend: str) -> str:
    """netc.json the plain way: _jsonable, then json. network_json writes the same text faster."""
    return _layout(_data(network, backend), _ENCODER.encode)


def _plain(value):
    """json's `default`: what _jsonable makes of a value json cannot write itself."""
    convert = _CONVERT.get(type(value))
    if convert is None:
        convert = _CONVERT[type(value)] = _converter(type(value))
    return convert(value)


def _converter(cls: type):
    if cls is PortRange:
        return str
    if issubclass(cls, enum.Enum):
        return lambda v: v.value
    if not hasattr(cls, "__dataclass_fields__"):
        return str
    import dataclasses
    names = tuple(f.name for f in dataclasses.fields(cls) if f.compare)
    with_origin = "origin" in cls.__dataclass_fields__ or hasattr(cls, "origin")

    def convert(value) -> dict:
        out = {name: getattr(value, name) for name in names}
        if with_origin:
            origin = value.origin
            if origin is not None:
                out["origin"] = str(origin)
        return out
    return convert


_CONVERT: dict[type, object] = {}
_FAST = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), default=_plain)


def _rule(r) -> dict:
    d = _plain(r)
    d["kind"] = type(r).__name__
    return d


def network_json(network: ir.Network, backend: str) -> str:
    """netc.json: the text network_json_reference writes, with the IR's objects handed to
    json's C encoder as they are (`default` turns each into a dict) instead of copied first."""
    return _layout({
        "netc": __version__, "spec": network.spec, "backend": backend if network.firewall else None,
        "netns_prefix": network.netns_prefix, "bridges": network.bridges, "containers": network.containers,
        "p2p": network.p2ps, "sysctls": network.sysctls, "rules": [_rule(r) for r in network.rules],
    }, _FAST.encode)


# ------------------------------------------------------------------ all

# At this many containers, render splits its work between two processes (when
# the machine has two CPUs): below it a fork costs more than it saves.
PARALLEL_FROM = 2000


def _side(network: ir.Network, backend: str) -> tuple[dict[str, str], dict[str, str], str]:
    """The half of render that needs no firewall: the container files, their
    digests (for the object table) and netc.json."""
    files: dict[str, str] = {}
    digests: dict[str, str] = {}
    resolv: dict = {}
    for c in network.containers:
        mine = container_files(network, c, resolv)
        files.update(mine)
        if c.mode in (NetKind.BRIDGE, NetKind.NONE):
            base = f"containers/{c.name}/"
            digests[c.name] = _short_hash(*(mine[base + f] for f in ("hostname", "hosts", "resolv.conf")))
    return files, digests, template("netc.json.j2", body=network_json(network, backend))


def render(network: ir.Network, backend: str = "iptables", jobs: int | None = None) -> dict[str, str]:
    """The whole output tree, as artifact name -> text.

    jobs=2 computes the container files and netc.json in a forked child while
    this process renders the firewall; None decides by the size of the network
    and the number of CPUs. The text is the same either way (tested)."""
    if jobs is None:
        jobs = 2 if (len(network.containers) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1
                     and hasattr(os, "fork")) else 1
    side = Forked(_side, network, backend) if jobs > 1 else None
    try:
        fw = REGISTRY[backend].render(network)
        out: dict[str, str] = {}
        rules_text = ""
        if network.firewall:
            for name, spec in fw["files"].items():
                context = {k: v for k, v in spec.items() if k != "template"}
                out[name] = template(spec["template"], spec=network.spec, **context)
                rules_text += out[name]
        counts = {"bridges": len(network.bridges), "p2ps": len(network.p2ps),
                  "containers": sum(1 for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)),
                  "rules": fw["count"] if network.firewall else 0}
        common = {"version": __version__, "spec": network.spec}
        # The library can remove either backend's rules, whatever this output uses.
        lib = {**REGISTRY["iptables"].render_lib(), "nft_table": REGISTRY["nftables"].TABLE}
        out["netc-lib.sh"] = template("netc-lib.sh.j2", **common, **lib)
        out["apply.sh"] = template("apply.sh.j2", **common, counts=counts)
        out["teardown.sh"] = template("teardown.sh.j2", **common)
        lines = object_head(network)
        got = side.result() if side else None
    except BaseException:
        if side:
            side.cancel()
        raise
    files, digests, out["netc.json"] = got if got is not None else _side(network, backend)
    out.update(files)
    lines += files_lines(network, digests)
    if network.firewall:
        lines.append(firewall_line(backend, rules_text))
    out["objects"] = template("objects.j2", lines=lines)
    return dict(sorted(out.items()))
