"""check and compile: a spec, its diagnostics, its output tree."""

from __future__ import annotations

import argparse
import os
import sys

from ..completion import FILE, OUT, SPEC
from ..diagnostics import FORMATS, CompileFailed, github_annotation, render_runs
from ..emit.manifest import plan, read_tree
from ..emit.tree import write_tree
from ..pipeline import NETNS_PREFIX, load
from ..quote import printable
from .common import UserError, prefix, report, write_diagnostics


def cmd_check(args) -> int:
    if args.emit and args.format == "json":
        raise UserError("--emit ir prints text on standard output, where --format json puts its array: "
                         "give one of them")
    if args.emit and len(args.spec) > 1:
        raise UserError("--emit ir prints one network: give one SPEC")
    if args.lock and len(args.spec) > 1:
        raise UserError("--lock names the lock of one spec: give one SPEC")
    runs, failed, loaded = [], False, None
    for spec in args.spec:  # every spec is checked, also after one with errors
        try:
            loaded = load(spec, netns_prefix=args.netns_prefix, lock_file=args.lock)
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
    from ..frontend.parse import STDIN_NAME
    from ..pipeline import compile as compile_spec
    artifacts, loaded = compile_spec(args.spec, backend=args.backend, netns_prefix=args.netns_prefix,
                                     frozen=args.frozen, lock_file=args.lock)
    report(loaded.diagnostics, loaded.sources, args.format)
    lock, lock_text = loaded.lock_path, loaded.lock.to_text()
    # The spec, its includes and its lock: never overwritten or deleted by the tree.
    protect = [f for f in loaded.files if f != STDIN_NAME] + ([lock] if lock else [])
    old_lock = _read_or_none(lock) if lock else None
    if args.check:
        return _check(args, artifacts, protect, lock if lock and old_lock != lock_text else None,
                      old_lock, lock_text)
    write_tree(args.out, artifacts, protect, {lock: lock_text} if lock else None,
               on_wait=lambda out: sys.stderr.write(f"netc: waiting for another compile into {printable(out)}\n"))
    return 0


def _read_or_none(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _check(args, artifacts: dict[str, str], protect: list[str], lock: str | None,
           old_lock: str | None, lock_text: str) -> int:
    """compile --check: a unified diff of what compile would write (the tree and the lock)
    against what is on disk; 1 when anything differs. A tree compile would refuse is an error."""
    import difflib
    out = args.out
    moves = plan(out, artifacts, protect)
    names = sorted(set(artifacts) | moves.old)
    have = read_tree(out, names) if os.path.isdir(out) else {}
    pairs = [(os.path.join(out, n), f"a/{n}", f"b/{n}", have.get(n), artifacts.get(n)) for n in names]
    if lock is not None:
        pairs.append((lock, printable(lock), printable(lock), old_lock, lock_text))
    differs = 0
    for path, label_a, label_b, a, b in pairs:
        if a == b:
            continue
        differs += 1
        if args.format == "github":
            sys.stdout.write(github_annotation("error", "differs from the compiled output (run netc compile "
                                               "and commit the result)", file=printable(path)) + "\n")
        # Standard output holds only the JSON array under --format json.
        (sys.stderr if args.format == "json" else sys.stdout).writelines(difflib.unified_diff(
            (a or "").splitlines(True), (b or "").splitlines(True),
            label_a if a is not None else "/dev/null", label_b if b is not None else "/dev/null"))
    if differs:
        sys.stderr.write(f"netc: {printable(out)} and the lock differ from what compile would write in "
                         f"{differs} file(s)\n" if lock else
                         f"netc: {printable(out)} differs from what compile would write in {differs} file(s)\n")
        return 1
    return 0


SPEC_HELP = "the spec file, or - for standard input"
LOCK_HELP = ("read and write the lock at FILE (default: beside SPEC, web.netc -> web.lock, when SPEC is a "
             "regular file; a spec from standard input or a pipe has no lock unless --lock names one)")


def _folder(text: str) -> str:
    if text == "":
        raise argparse.ArgumentTypeError("an empty name: give a folder")
    return text


def add(sub) -> None:
    c = sub.add_parser("check", help="parse and resolve specs; print diagnostics",
                       description="Parse and resolve each SPEC and print every error and warning. "
                                   "Exit 0 when all are valid, 2 when any has errors.")
    c.add_argument("spec", metavar="SPEC", nargs="+", help=SPEC_HELP).complete = SPEC
    c.add_argument("--lock", metavar="FILE", help=LOCK_HELP).complete = FILE
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
                                   "rules, containers/NAME/{hosts,resolv.conf,hostname}, netc.json and "
                                   "manifest, the list of netc's files. OUT is replaced atomically, and only "
                                   "the files of its previous manifest are replaced or removed: anything else "
                                   "in OUT stays; a folder with other files and no manifest is refused. "
                                   "Writes SPEC.lock beside the spec with every allocated value.")
    c.add_argument("spec", metavar="SPEC", help=SPEC_HELP).complete = SPEC
    c.add_argument("-o", "--out", required=True, metavar="OUT", type=_folder,
                   help="the output folder").complete = OUT
    c.add_argument("--lock", metavar="FILE", help=LOCK_HELP).complete = FILE
    c.add_argument("--backend", choices=sorted(REGISTRY), default="iptables", help="firewall backend")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.add_argument("--frozen", action="store_true",
                   help="fail (exit 2) instead of changing the lock (for CI); with --check as well")
    c.add_argument("--check", action="store_true",
                   help="write nothing: compare what compile would write (the tree and the lock) with what is "
                        "on disk, print a unified diff and exit 1 when anything differs, 0 when nothing does, "
                        "2 on errors")
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="diagnostics as text (default), json or github, as for check; under json the diff "
                        "of --check goes to standard error")
    c.set_defaults(run=cmd_compile)
