"""The output tree: the IR and a firewall backend -> artifact name -> text.

Pure: nothing is written here (the CLI writes). Logic stays in Python; the
jinja2 templates in templates/ only lay the text out. Output is byte-for-byte
deterministic: sorted or source-ordered data, no timestamps, no absolute
paths, LF line ends and one trailing newline per file.

Besides DESIGN.md's files, the tree holds `objects` (everything apply makes,
object by object, with the literal commands that make, check and remove each:
emit/objects.py), `netc-lib.sh` (the engine apply.sh and teardown.sh share:
lock, journal, observe, diff, run, roll back) and `manifest` (every file of
the tree: what a recompile may replace or remove, tree.py).
"""

from __future__ import annotations

import os

from dataclasses import replace

from .. import __version__, ir
from ..backends import for_network, nftables
from ..values import NetKind
from .files import container_files
from .fork import Forked
from .netjson import network_json
from .manifest import MANIFEST, manifest_text
from .objects import firewall_view, publish_lines, views
from .templates import template

# At this many containers, render splits its work between two processes (when
# the machine has two CPUs): below it a fork costs more than it saves.
PARALLEL_FROM = 2000
UNITS = ("netc-apply", "netc-reapply")   # templates/UNIT.service.j2 -> OUT/systemd/UNIT@.service


def _side(network: ir.Network, backend: str) -> tuple[dict[str, str], str]:
    """The half of render that needs no firewall: the container files and netc.json."""
    files: dict[str, str] = {}
    resolv: dict = {}
    for c in network.containers:
        files.update(container_files(network, c, resolv))
    return files, template("netc.json.j2", body=network_json(network, backend))


def render(network: ir.Network, backend: str = "iptables", jobs: int | None = None) -> dict[str, str]:
    """The whole output tree, as artifact name -> text.

    jobs=2 computes the container files and netc.json in a forked child while
    this process renders the firewall; None decides by the size of the network
    and the number of CPUs. The text is the same either way (tested)."""
    if not for_network(network, backend).BR_NETFILTER:
        # (nftables: its bridge table filters traffic within a bridge) no br_netfilter, no bridge-nf-call sysctl
        network = replace(network, sysctls=tuple(s for s in network.sysctls if not s.key.startswith("net.bridge.")))
    if jobs is None:
        jobs = 2 if (len(network.containers) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1
                     and hasattr(os, "fork")) else 1
    side = Forked(_side, network, backend) if jobs > 1 else None
    try:
        renderer = for_network(network, backend)
        fw = renderer.render(network)
        out: dict[str, str] = {}
        rules: dict[str, str] = {}
        for name, f in fw.files.items():   # rules.v4 (and rules.v6), rules.nft, or none (iptables false)
            out[name] = rules[name] = template(f.template, spec=network.spec, **f.context)
        firewall = firewall_view(renderer.NAME, rules, renderer.runtime(), publish_lines(network)) if rules else None
        counts = {"bridges": len(network.bridges), "p2ps": len(network.p2ps),
                  "containers": sum(1 for c in network.containers if c.mode in (NetKind.BRIDGE, NetKind.NONE)),
                  "rules": fw.count}
        common = {"version": __version__, "spec": network.spec}
        out["netc-lib.sh"] = template("netc-lib.sh.j2", **common, **nftables.runtime())  # its table, in any tree
        out["apply.sh"] = template("apply.sh.j2", **common, counts=counts)
        out["teardown.sh"] = template("teardown.sh.j2", **common)
        for unit in UNITS:   # systemd: apply at boot, and again after another firewall reloads
            out[f"systemd/{unit}@.service"] = template(f"{unit}.service.j2", **common)
        out["objects"] = template("objects.j2", **common, **views(network), firewall=firewall)
        got = side.result() if side else None
    except BaseException:
        if side:
            side.cancel()
        raise
    files, out["netc.json"] = got if got is not None else _side(network, backend)
    out.update(files)
    out[MANIFEST] = manifest_text(out)
    return dict(sorted(out.items()))
