"""check and compile: a spec, its diagnostics, its output tree."""

from __future__ import annotations

import os
import sys

from ..completion import OUT, SPEC
from ..diagnostics import FORMATS, CompileFailed, github_annotation, render_runs
from ..emit.tree import read_tree, write_tree
from ..pipeline import NETNS_PREFIX, load
from .common import UserError, prefix, report, write_diagnostics


def cmd_check(args) -> int:
    if args.emit and args.format == "json":
        raise UserError("--emit ir prints text on standard output, where --format json puts its array: "
                         "give one of them")
    if args.emit and len(args.spec) > 1:
        raise UserError("--emit ir prints one network: give one SPEC")
    runs, failed, loaded = [], False, None
    for spec in args.spec:  # every spec is checked, also after one with errors
        try:
            loaded = load(spec, netns_prefix=args.netns_prefix)
            runs.append((loaded.diagnostics, loaded.sources))
        except CompileFailed as exc:
            runs.append((exc.diagnostics, exc.sources))
            failed = True
    write_diagnostics(render_runs(args.format, runs), args.format)
    if failed:
        return 2
    if args.emit == "ir":
        from ..emit.netjson import network_json
        sys.stdout.write(network_json(loaded.network, None) + "\n")
    return 0


def cmd_compile(args) -> int:
    from ..pipeline import compile as compile_spec, lock_path
    artifacts, loaded = compile_spec(args.spec, backend=args.backend, netns_prefix=args.netns_prefix,
                                     frozen=args.frozen or args.check)
    report(loaded.diagnostics, loaded.sources, args.format)
    if args.check:
        import difflib
        have = read_tree(args.out) if os.path.isdir(args.out) else {}
        differs = 0
        for name in sorted(set(have) | set(artifacts)):
            a, b = have.get(name), artifacts.get(name)
            if a == b:
                continue
            differs += 1
            if args.format == "github":
                sys.stdout.write(github_annotation("error", "differs from the compiled output (run netc compile "
                                                   "and commit the result)", file=os.path.join(args.out, name)) + "\n")
            # Standard output holds only the JSON array under --format json.
            (sys.stderr if args.format == "json" else sys.stdout).writelines(difflib.unified_diff(
                (a or "").splitlines(True), (b or "").splitlines(True),
                f"a/{name}" if a is not None else "/dev/null", f"b/{name}" if b is not None else "/dev/null"))
        if differs:
            sys.stderr.write(f"netc: {args.out} differs from the compiled output in {differs} file(s)\n")
            return 1
        return 0
    write_tree(args.out, artifacts)
    path = lock_path(args.spec)
    text = loaded.lock.to_text()
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old != text:
        with open(path + ".netc-tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".netc-tmp", path)
    return 0


def add(sub) -> None:
    c = sub.add_parser("check", help="parse and resolve specs; print diagnostics",
                       description="Parse and resolve each SPEC and print every error and warning. "
                                   "Exit 0 when all are valid, 2 when any has errors.")
    c.add_argument("spec", metavar="SPEC", nargs="+").complete = SPEC
    c.add_argument("--emit", choices=["ir"], help="also print the resolved network (the IR as netc.json holds it, one item a line)")
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="diagnostics as text on standard error (default), or on standard output as one JSON "
                        "array or as GitHub Actions annotations")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.set_defaults(run=cmd_check)

    from ..backends import REGISTRY
    c = sub.add_parser("compile", help="write the output tree (rules, scripts, container files)",
                       description="Compile SPEC into the folder OUT: apply.sh, teardown.sh, the firewall "
                                   "rules, containers/NAME/{hosts,resolv.conf,hostname} and netc.json. "
                                   "Writes SPEC.lock beside the spec with every allocated value.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("-o", "--out", required=True, metavar="OUT", help="the output folder").complete = OUT
    c.add_argument("--backend", choices=sorted(REGISTRY), default="iptables", help="firewall backend")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.add_argument("--frozen", action="store_true", help="fail instead of changing SPEC.lock (for CI)")
    c.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a unified diff where OUT differs from the compiled output")
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="diagnostics as text (default), json or github, as for check; under json the diff "
                        "of --check goes to standard error")
    c.set_defaults(run=cmd_compile)
