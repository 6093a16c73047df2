"""The command line: a thin layer over the pure entry points (pipeline.py).

Each command parses its arguments, calls the stage that does the work, and
prints the result; writing an output tree is emit/tree.py's, and the kernel
tools (apply, verify) run their own scripts and probes.

Exit statuses: 0 success, 1 a difference (compile --check) or a failed apply,
2 errors in the spec or the command line. No traceback reaches a user: an
unexpected exception is reported in one line as an internal error (exit 3).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .completion import FILE, NAMES, OUT, SPEC
from .diagnostics import FORMATS, CompileFailed, github_annotation, render_as, render_runs
from .emit.tree import TreeError, read_data, read_tree, write_tree
from .host import doctor
from .pipeline import NETNS_PREFIX, load


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 as well; keep its wording short
        self.print_usage(sys.stderr)
        self.exit(2, f"netc: error: {message}\n")


def _prefix(text: str) -> str:
    import re
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,32}", text):
        raise argparse.ArgumentTypeError("use up to 32 letters, digits, '_', '.' or '-'")
    return text


def _report(diagnostics, sources, fmt: str = "text") -> None:
    _write_diagnostics(render_as(fmt, diagnostics, sources), fmt)


def _write_diagnostics(text: str, fmt: str) -> None:
    """Diagnostics for people on standard error, or for tools (json, github) on standard output."""
    if text:
        (sys.stderr if fmt == "text" else sys.stdout).write(text)


def cmd_check(args) -> int:
    if args.emit and args.format == "json":
        raise _UserError("--emit ir prints text on standard output, where --format json puts its array: "
                         "give one of them")
    if args.emit and len(args.spec) > 1:
        raise _UserError("--emit ir prints one network: give one SPEC")
    runs, failed, loaded = [], False, None
    for spec in args.spec:  # every spec is checked, also after one with errors
        try:
            loaded = load(spec, netns_prefix=args.netns_prefix)
            runs.append((loaded.diagnostics, loaded.sources))
        except CompileFailed as exc:
            runs.append((exc.diagnostics, exc.sources))
            failed = True
    _write_diagnostics(render_runs(args.format, runs), args.format)
    if failed:
        return 2
    if args.emit == "ir":
        from .emit.netjson import network_json
        sys.stdout.write(network_json(loaded.network, None) + "\n")
    return 0


class _UserError(Exception):
    pass


def cmd_compile(args) -> int:
    from .pipeline import compile as compile_spec, lock_path
    artifacts, loaded = compile_spec(args.spec, backend=args.backend, netns_prefix=args.netns_prefix,
                                     frozen=args.frozen or args.check)
    _report(loaded.diagnostics, loaded.sources, args.format)
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


def _run_script(script: str, verb: str) -> int:
    """Run OUT/apply.sh or OUT/teardown.sh with a progress line and a short report."""
    import subprocess
    if not os.path.isfile(script):
        raise _UserError(f"{script} does not exist: give the folder `netc compile -o` wrote")
    from .prove.progress import Progress
    line = Progress(sys.stderr)
    env = {**os.environ, "NETC_PROGRESS": "1"}
    proc = subprocess.Popen(["sh", script], stderr=subprocess.PIPE, text=True, env=env)
    for text in proc.stderr:
        if text.startswith("netc-progress "):
            _, number, name = (text.rstrip("\n").split(" ", 2) + ["", ""])[:3]
            line.show(f"netc: {verb}: step {number}: {name[:70]}")
            continue
        line.clear()
        sys.stderr.write(text)
    rc = proc.wait()
    line.clear()
    return 0 if rc == 0 else 1


def cmd_apply(args) -> int:
    stop = doctor.before_apply(args.out, args.strict)  # doctor's checks first: warnings, or (--strict) exit 2
    return stop if stop is not None else _run_script(os.path.join(args.out, "apply.sh"), "apply")


def cmd_teardown(args) -> int:
    return _run_script(os.path.join(args.out, "teardown.sh"), "teardown")


def cmd_explain(args) -> int:
    import json
    from .prove.explain import ExplainError, explain, render
    loaded = load(args.spec, netns_prefix=NETNS_PREFIX)
    _report([d for d in loaded.diagnostics if d.severity == "error"], loaded.sources)
    backends = [args.backend] if args.backend else ["iptables", "nftables"]
    try:
        answers = {b: explain(loaded.network, args.source, args.to, b) for b in backends}
    except ExplainError as exc:
        raise _UserError(str(exc)) from None
    first = answers[backends[0]]
    if args.json:
        data = first.to_json()
        data["backends"] = {b: {"verdict": a.verdict, "delivered_to": a.delivered_to} for b, a in answers.items()}
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        for b, a in answers.items():
            sys.stdout.write(f"[{b}] " + render(a, args.source, args.to))
    disagree = {(a.verdict, a.delivered_to, a.source_seen) for a in answers.values()}
    if len(disagree) > 1:
        sys.stderr.write("netc: error: the backends disagree on this packet (a bug in netc)\n")
        return 1
    return 0


def cmd_verify(args) -> int:
    import json
    from .prove import verify
    from .prove.requirements import why_not
    load(args.spec)  # errors in the spec are reported before any namespace is made
    reason = why_not()
    if reason:
        raise _UserError(f"verify needs {reason}")
    backends = [args.backend] if args.backend else ["iptables", "nftables"]
    say = verify.progress_printer()
    results, bad = {}, 0
    for backend in backends:
        probes = verify.run(lambda prefix: load(args.spec, netns_prefix=prefix).network, backend,
                            args.sample, lambda text, b=backend: say(f"[{b}] {text}"))
        say.clear()
        results[backend] = probes
        bad += sum(not p.agrees for p in probes)
    if args.json:
        sys.stdout.write(json.dumps({b: {"agree": sum(p.agrees for p in ps), "disagree": sum(not p.agrees for p in ps),
                                         "probes": [p.to_json() for p in ps]} for b, ps in results.items()},
                                    indent=2, sort_keys=True) + "\n")
    else:
        for backend, probes in results.items():
            agree = sum(p.agrees for p in probes)
            sys.stdout.write(f"[{backend}] {agree} of {len(probes)} probes agree with explain\n")
            sys.stdout.write(verify.table(probes, only_differences=not args.all))
    return 0 if bad == 0 else 1


def cmd_facts(args) -> int:
    from .host.facts import read_machine
    sys.stdout.write(read_machine())
    return 0


def cmd_graph(args) -> int:
    from .emit import graph
    try:
        fmt = graph.format_for(args.output, args.picture)
        data = read_data(args.source) if os.path.isdir(args.source) else graph.from_network(load(args.source).network)
        body = graph.layout(graph.dot(data), fmt)
    except graph.GraphError as exc:
        raise _UserError(str(exc)) from None
    if args.output is None:
        if fmt == "png" and sys.stdout.isatty():
            raise _UserError("a PNG on a terminal: give -o FILE or redirect standard output")
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        return 0
    with open(f"{args.output}.netc-tmp", "wb") as f:
        f.write(body)
    os.replace(f"{args.output}.netc-tmp", args.output)
    return 0


def cmd_run_config(args) -> int:
    import json
    from .emit import oci
    try:
        part, note = oci.run_config(read_data(args.out), args.name, args.rootfs, args.base)
    except oci.RunConfigError as exc:
        raise _UserError(str(exc)) from None
    if note:
        sys.stderr.write(f"netc: {note}\n")
    sys.stdout.write(json.dumps(part, indent=2) + "\n")
    return 0


def cmd_completion(args) -> int:
    from .completion import script
    sys.stdout.write(script(parser(), args.shell))
    return 0


def cmd_names(args) -> int:
    """For the completion scripts: the names explain (SPEC) or run-config (OUT) takes, one a line."""
    from .completion import names
    if os.path.isdir(args.source):
        found = [c["name"] for c in read_data(args.source)["containers"]]
    else:
        found = names(load(args.source).network)
    sys.stdout.write("".join(f"{n}\n" for n in found))
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return int(text)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netc", description="Compile container networking (Docker's classic bridge driver) "
                                         "into reviewable kernel state, and apply it all-or-nothing.")
    p.add_argument("--version", action="version", version=f"netc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("check", help="parse and resolve specs; print diagnostics",
                       description="Parse and resolve each SPEC and print every error and warning. "
                                   "Exit 0 when all are valid, 2 when any has errors.")
    c.add_argument("spec", metavar="SPEC", nargs="+").complete = SPEC
    c.add_argument("--emit", choices=["ir"], help="also print the resolved network (the IR as netc.json holds it, one item a line)")
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="diagnostics as text on standard error (default), or on standard output as one JSON "
                        "array or as GitHub Actions annotations")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=_prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.set_defaults(run=cmd_check)

    from .backends import REGISTRY
    c = sub.add_parser("compile", help="write the output tree (rules, scripts, container files)",
                       description="Compile SPEC into the folder OUT: apply.sh, teardown.sh, the firewall "
                                   "rules, containers/NAME/{hosts,resolv.conf,hostname} and netc.json. "
                                   "Writes SPEC.lock beside the spec with every allocated value.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("-o", "--out", required=True, metavar="OUT", help="the output folder").complete = OUT
    c.add_argument("--backend", choices=sorted(REGISTRY), default="iptables", help="firewall backend")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=_prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.add_argument("--frozen", action="store_true", help="fail instead of changing SPEC.lock (for CI)")
    c.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a unified diff where OUT differs from the compiled output")
    c.add_argument("--format", choices=FORMATS, default="text",
                   help="diagnostics as text (default), json or github, as for check; under json the diff "
                        "of --check goes to standard error")
    c.set_defaults(run=cmd_compile)

    c = sub.add_parser("explain", help="what the compiled rules do to one packet, rule by rule",
                       description="Follow one packet through the compiled rules the way the kernel does "
                                   "(prerouting, routing, forward, postrouting, the reply), naming each rule "
                                   "and the spec line it comes from. A and B are container names, host, "
                                   "outside, or addresses; host:PORT is the host's outside address "
                                   "(198.51.100.1; 127.0.0.1 when the host sends), outside is 198.51.100.2. "
                                   "Without --backend both backends answer, and must agree.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("--from", dest="source", required=True, metavar="A").complete = NAMES
    c.add_argument("--to", required=True, metavar="B[:PORT[/PROTO]]").complete = NAMES
    c.add_argument("--backend", choices=sorted(REGISTRY))
    c.add_argument("--json", action="store_true", help="print an object: verdict, delivered_to, translations, steps")
    c.set_defaults(run=cmd_explain)

    c = sub.add_parser("verify", help="prove the compiled rules in throwaway namespaces against explain",
                       description="Compile SPEC, apply it in a throwaway host and outside namespace, send real "
                                   "TCP and UDP probes (every pair of containers on their exposed ports and one "
                                   "unexposed port, every publish from outside, the host and a container, "
                                   "hairpin, egress, p2p), compare each with explain's prediction, and tear "
                                   "down. Exit 0 when all agree, 1 otherwise. Needs root.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("--backend", choices=sorted(REGISTRY), help="one backend (default: both)")
    c.add_argument("--sample", type=_positive, metavar="N", help="at most N probes per backend (a fixed sample)")
    c.add_argument("--json", action="store_true", help="print every probe as JSON")
    c.add_argument("--all", action="store_true", help="list every probe, not only the disagreements")
    c.set_defaults(run=cmd_verify)

    c = sub.add_parser("facts", help="print a host block read from this machine (resolv.conf, routes)",
                       description="Print a `host { ... }` block from this machine's /etc/resolv.conf and IPv4 "
                                   "routes, for the spec to keep (compile itself never reads the machine).")
    c.set_defaults(run=cmd_facts)

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

    from .completion import SHELLS
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

    doctor.add_command(sub, OUT)
    c = sub.add_parser("apply", help="apply an output tree to this host, all-or-nothing",
                       description="Run netc doctor's checks (findings are warnings), then OUT/apply.sh with a "
                                   "progress line: 0 applied, 1 failed and rolled back, 2 --strict found something.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("--strict", action="store_true", help="netc doctor's findings are errors: exit 2, change nothing")
    c.set_defaults(run=cmd_apply)

    c = sub.add_parser("teardown", help="remove what netc applied on this host",
                       description="Run OUT/teardown.sh.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.set_defaults(run=cmd_teardown)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileFailed as exc:
        _report(exc.diagnostics, exc.sources, getattr(args, "format", "text"))
        return 2
    except (_UserError, TreeError, doctor.DoctorError) as exc:
        sys.stderr.write(f"netc: error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"netc: error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("netc: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in netc: say so, without a traceback
        sys.stderr.write(f"netc: internal error: {type(exc).__name__}: {exc}\n"
                         "netc: please report this with the spec that caused it (NETC_DEBUG=1 shows details)\n")
        if os.environ.get("NETC_DEBUG"):
            raise
        return 3
