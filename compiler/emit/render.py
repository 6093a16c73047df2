"""The output tree: the IR and a firewall backend -> artifact name -> text.

Pure: nothing is written here (the CLI writes). Logic stays in Python; the
jinja2 templates in templates/ only lay the text out. Output is byte-for-byte
deterministic: sorted or source-ordered data, no timestamps, no absolute
paths, LF line ends and one trailing newline per file.

Besides DESIGN.md's files, the tree holds `objects` (the table of everything
apply creates, one line each, which apply reconciles against the previous
apply's record), `netc-lib.sh` (the functions apply.sh and teardown.sh
share) and `manifest` (every file of the tree: what a recompile may replace
or remove, tree.py).
"""

from __future__ import annotations

import os

from .. import __version__, ir
from ..backends import REGISTRY, for_network
from ..values import NetKind
from .files import container_files
from .fork import Forked
from .netjson import network_json
from .objects import files_lines, firewall_line, object_head
from .templates import short_hash, template
from .manifest import MANIFEST, manifest_text

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
            digests[c.name] = short_hash(*(mine[base + f] for f in ("hostname", "hosts", "resolv.conf")))
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
        fw = for_network(network, backend).render(network)
        out: dict[str, str] = {}
        rules_text = ""
        for name, f in fw.files.items():
            out[name] = template(f.template, spec=network.spec, **f.context)
            rules_text += out[name]
        counts = {"bridges": len(network.bridges), "p2ps": len(network.p2ps),
                  "containers": sum(1 for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)),
                  "rules": fw.count}
        common = {"version": __version__, "spec": network.spec}
        # The library can remove every backend's rules, whatever this output uses.
        lib = {k: v for b in REGISTRY.values() for k, v in b.runtime().items()}
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
    if fw.files:
        lines.append(firewall_line(backend, rules_text))
    out["objects"] = template("objects.j2", lines=lines)
    out[MANIFEST] = manifest_text(out)
    return dict(sorted(out.items()))
