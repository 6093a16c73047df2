"""graph, run-config, completion: the tools around netc."""

from __future__ import annotations

import os
import sys

from ..completion import FILE, NAMES, OUT, SPEC
from ..emit.tree import read_data
from ..pipeline import load
from .common import UserError


def cmd_graph(args) -> int:
    from ..emit import graph
    try:
        fmt = graph.format_for(args.output, args.picture)
        data = read_data(args.source) if os.path.isdir(args.source) else graph.from_network(load(args.source).network)
        body = graph.layout(graph.dot(data), fmt)
    except graph.GraphError as exc:
        raise UserError(str(exc)) from None
    if args.output is None:
        if fmt == "png" and sys.stdout.isatty():
            raise UserError("a PNG on a terminal: give -o FILE or redirect standard output")
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        return 0
    with open(f"{args.output}.netc-tmp", "wb") as f:
        f.write(body)
    os.replace(f"{args.output}.netc-tmp", args.output)
    return 0


def cmd_run_config(args) -> int:
    import json
    from ..emit import oci
    try:
        part, note = oci.run_config(read_data(args.out), args.name, args.rootfs, args.base)
    except oci.RunConfigError as exc:
        raise UserError(str(exc)) from None
    if note:
        sys.stderr.write(f"netc: {note}\n")
    sys.stdout.write(json.dumps(part, indent=2) + "\n")
    return 0


def cmd_completion(args) -> int:
    from ..completion import script
    from . import parser
    sys.stdout.write(script(parser(), args.shell))
    return 0


def cmd_names(args) -> int:
    """For the completion scripts: the names explain (SPEC) or run-config (OUT) takes, one a line."""
    from ..completion import names
    if os.path.isdir(args.source):
        found = [c["name"] for c in read_data(args.source)["containers"]]
    else:
        found = names(load(args.source).network)
    sys.stdout.write("".join(f"{n}\n" for n in found))
    return 0


def add(sub) -> None:
    c = sub.add_parser("graph", help="the topology as a picture (Graphviz: dot, svg or png)",
                       description="Draw the host, bridges, containers, publishes, links and p2p pairs of a spec, "
                                   "or of an output folder (from its netc.json). Without -o the DOT text goes to "
                                   "standard output; svg and png need Graphviz's dot program.")
    c.add_argument("source", metavar="SPEC|OUT").complete = SPEC
    c.add_argument("-o", "--output", metavar="FILE", help="write the picture here (format: its extension)").complete = FILE
    c.add_argument("--format", dest="picture", choices=["dot", "svg", "png"],
                   help="dot (default without -o), svg or png")
    c.set_defaults(run=cmd_graph)

    c = sub.add_parser("run-config", help="the OCI runtime configuration that puts a real container into OUT's network",
                       description="Print the OCI config.json parts (network namespace by path, uts, hostname, "
                                   "netc's hosts, resolv.conf and hostname bound read-only) that run container NAME "
                                   "in the network netc applied; with --base, that config whole. See docs/runtimes.md.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("name", metavar="NAME").complete = NAMES
    c.add_argument("--rootfs", metavar="PATH", help="the container's root file system (root.path)").complete = OUT
    c.add_argument("--base", metavar="CONFIG", help="an OCI config.json (`runc spec`) to print with netc's parts "
                                                    "put in").complete = FILE
    c.set_defaults(run=cmd_run_config)

    from ..completion import SHELLS
    c = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script (for explain --from/--to: the container names of "
                                   "the spec on the line). bash: source <(netc completion bash); zsh: save it as "
                                   "_netc in a folder of $fpath.")
    c.add_argument("shell", choices=SHELLS)
    c.set_defaults(run=cmd_completion)

    # Hidden (no help): what the completion scripts ask for.
    c = sub.add_parser("_names", description="Print the names explain (SPEC) or run-config (OUT) takes.")
    c.add_argument("source", metavar="SPEC|OUT")
    c.set_defaults(run=cmd_names)
