"""The command line: the only part of netc that writes files or prints.

Exit statuses: 0 success, 1 a difference (compile --check) or a failed apply,
2 errors in the spec or the command line. No traceback reaches a user: an
unexpected exception is reported in one line as an internal error (exit 3).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .diagnostics import CompileFailed, render_all
from .emit.tree import TreeError, read_tree, write_tree
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


def _report(diagnostics, sources) -> None:
    text = render_all(diagnostics, sources)
    if text:
        sys.stderr.write(text)


def cmd_check(args) -> int:
    loaded = load(args.spec, netns_prefix=args.netns_prefix)
    _report(loaded.diagnostics, loaded.sources)
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
    _report(loaded.diagnostics, loaded.sources)
    if args.check:
        import difflib
        have = read_tree(args.out) if os.path.isdir(args.out) else {}
        differs = 0
        for name in sorted(set(have) | set(artifacts)):
            a, b = have.get(name), artifacts.get(name)
            if a == b:
                continue
            differs += 1
            sys.stdout.writelines(difflib.unified_diff(
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


def _script(out: str, name: str) -> str:
    script = os.path.join(out, name)
    if not os.path.isfile(script):
        raise _UserError(f"{script} does not exist: give the folder `netc compile -o` wrote")
    return script


def _say(text: str) -> None:
    """Write to stderr; a closed stderr (the terminal went away) is not a reason to stop."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _run_script(script: str, verb: str, *args: str) -> int:
    """Run OUT/apply.sh or OUT/teardown.sh with a progress line and its report.

    The script runs in a session of its own, and SIGINT, SIGTERM and SIGHUP to
    netc are passed on to it once: it rolls back (a teardown finishes) and exits
    1. netc reads its messages until it exits, whatever happens to netc's own
    terminal, so the script never dies of a closed pipe half-way."""
    import signal
    import subprocess
    tty = sys.stderr.isatty()
    env = {**os.environ, "NETC_PROGRESS": "1", **_observer()}
    proc = subprocess.Popen(["sh", script, *args], stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    passed: set[int] = set()

    def pass_on(signum, _frame) -> None:
        if signum not in passed and proc.poll() is None:
            passed.add(signum)
            try:
                os.kill(proc.pid, signum)  # the script this run started, by its PID
            except OSError:
                pass

    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, pass_on) for s in caught}
    try:
        for line in proc.stderr:
            if line.startswith("netc-progress "):
                _, number, name = line.rstrip("\n").split(" ", 2)
                if tty:
                    _say(f"\r\033[Knetc: {verb}: step {number}: {name[:70]}")
                continue
            _say(("\r\033[K" if tty else "") + line)
        rc = proc.wait()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    if tty:
        _say("\r\033[K")
    return 0 if rc == 0 else 1


def _observer() -> dict[str, str]:
    """The engine reads each namespace with `ip`, two programs started per namespace; netc hands
    it a reader that enters them all from one process (netc.host.observe: the same facts)."""
    return {"NETC_OBSERVE_NS": f"{sys.executable} -m netc.host.observe"}


def cmd_apply(args) -> int:
    return _run_script(_script(args.out, "apply.sh"), "apply")


def cmd_teardown(args) -> int:
    return _run_script(_script(args.out, "teardown.sh"), "teardown")


def _plan_findings(out: str) -> list:
    """What `netc doctor` finds about OUT on this host, for plan to show beside its changes.

    HOOK for the merge with `netc doctor` (compiler/host/doctor.py: findings(out_dir) and its
    renderer): return doctor.findings(out) here; cmd_plan prints them after the changes
    (text) or under "doctor" (--json). Until then there are none."""
    return []


def parse_plan(raw: str) -> dict:
    """`sh apply.sh --plan=raw` (one record a line) as plan's JSON document."""
    changes: list[dict] = []
    doc: dict = {"changes": changes, "conflicts": [], "summary": None}
    for line in raw.splitlines():
        word, _, rest = line.partition(" ")
        if word == "object":
            action, kind, ident = rest.split(" ", 2)
            changes.append({"action": action, "kind": kind, "id": ident, "from": None, "differs": "", "commands": []})
        elif word == "from" and changes:
            changes[-1]["from"] = rest
        elif word == "differs" and changes:
            changes[-1]["differs"] = rest
        elif word == "goes" and changes:
            changes[-1]["removed_with"] = rest   # its down is the removal of that object
        elif word == "run" and changes:
            phase, _kind, _ident, where, command = rest.split(" ", 4)
            changes[-1]["commands"].append({"phase": phase, "where": where, "command": command})
        elif word == "conflict":
            doc["conflicts"].append(rest)
        elif word == "total":
            names = ("create", "change", "repair", "remove", "keep")
            doc["summary"] = dict(zip(names, (int(n) for n in rest.split())))
    return doc


def cmd_plan(args) -> int:
    """What apply would change on this host now: `sh OUT/apply.sh --plan`, which changes nothing."""
    import json
    import subprocess
    script = _script(args.out, "apply.sh")
    findings = _plan_findings(args.out)
    env = {**os.environ, **_observer()}
    if not args.json:
        rc = subprocess.run(["sh", script, "--plan"], env=env).returncode
        for finding in findings:
            sys.stdout.write(f"doctor: {finding}\n")
        return rc if rc in (0, 1) else 2
    r = subprocess.run(["sh", script, "--plan=raw"], capture_output=True, text=True, env=env)
    doc = parse_plan(r.stdout)
    doc["out"] = args.out
    doc["exit"] = r.returncode if r.returncode in (0, 1) else 2
    doc["notes"] = [line[len("netc: "):] for line in r.stderr.splitlines() if line.startswith("netc: ")]
    doc["doctor"] = [str(f) for f in findings]
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc["exit"]


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
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
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

    c = sub.add_parser("check", help="parse and resolve a spec; print diagnostics",
                       description="Parse and resolve SPEC and print every error and warning. "
                                   "Exit 0 when it is valid, 2 when it has errors.")
    c.add_argument("spec", metavar="SPEC")
    c.add_argument("--emit", choices=["ir"], help="also print the resolved network (the IR as netc.json holds it, one item a line)")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=_prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.set_defaults(run=cmd_check)

    from .backends import REGISTRY
    c = sub.add_parser("compile", help="write the output tree (rules, scripts, container files)",
                       description="Compile SPEC into the folder OUT: apply.sh, teardown.sh, the firewall "
                                   "rules, containers/NAME/{hosts,resolv.conf,hostname} and netc.json. "
                                   "Writes SPEC.lock beside the spec with every allocated value.")
    c.add_argument("spec", metavar="SPEC")
    c.add_argument("-o", "--out", required=True, metavar="OUT", help="the output folder")
    c.add_argument("--backend", choices=sorted(REGISTRY), default="iptables", help="firewall backend")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=_prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.add_argument("--frozen", action="store_true", help="fail instead of changing SPEC.lock (for CI)")
    c.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 with a unified diff where OUT differs from the compiled output")
    c.set_defaults(run=cmd_compile)

    c = sub.add_parser("explain", help="what the compiled rules do to one packet, rule by rule",
                       description="Follow one packet through the compiled rules the way the kernel does "
                                   "(prerouting, routing, forward, postrouting, the reply), naming each rule "
                                   "and the spec line it comes from. A and B are container names, host, "
                                   "outside, or addresses; host:PORT is the host's outside address "
                                   "(198.51.100.1; 127.0.0.1 when the host sends), outside is 198.51.100.2. "
                                   "Without --backend both backends answer, and must agree.")
    c.add_argument("spec", metavar="SPEC")
    c.add_argument("--from", dest="source", required=True, metavar="A")
    c.add_argument("--to", required=True, metavar="B[:PORT[/PROTO]]")
    c.add_argument("--backend", choices=sorted(REGISTRY))
    c.add_argument("--json", action="store_true", help="print an object: verdict, delivered_to, translations, steps")
    c.set_defaults(run=cmd_explain)

    c = sub.add_parser("verify", help="prove the compiled rules in throwaway namespaces against explain",
                       description="Compile SPEC, apply it in a throwaway host and outside namespace, send real "
                                   "TCP and UDP probes (every pair of containers on their exposed ports and one "
                                   "unexposed port, every publish from outside, the host and a container, "
                                   "hairpin, egress, p2p), compare each with explain's prediction, and tear "
                                   "down. Exit 0 when all agree, 1 otherwise. Needs root.")
    c.add_argument("spec", metavar="SPEC")
    c.add_argument("--backend", choices=sorted(REGISTRY), help="one backend (default: both)")
    c.add_argument("--sample", type=_positive, metavar="N", help="at most N probes per backend (a fixed sample)")
    c.add_argument("--json", action="store_true", help="print every probe as JSON")
    c.add_argument("--all", action="store_true", help="list every probe, not only the disagreements")
    c.set_defaults(run=cmd_verify)

    c = sub.add_parser("facts", help="print a host block read from this machine (resolv.conf, routes)",
                       description="Print a `host { ... }` block from this machine's /etc/resolv.conf and IPv4 "
                                   "routes, for the spec to keep (compile itself never reads the machine).")
    c.set_defaults(run=cmd_facts)

    c = sub.add_parser("apply", help="apply an output tree to this host, all-or-nothing",
                       description="Run OUT/apply.sh with a progress line: 0 applied, 1 failed and rolled back "
                                   "(also on SIGINT, SIGTERM or SIGHUP, which netc passes on to it).")
    c.add_argument("out", metavar="OUT")
    c.set_defaults(run=cmd_apply)

    c = sub.add_parser("plan", help="what apply would change on this host now; changes nothing",
                       description="Read this host and the record of the last apply, and print every change "
                                   "OUT/apply.sh would make now: each object that is missing, changed by the spec, "
                                   "different on the host or no longer in OUT, with what differs, its spec line and "
                                   "the exact commands. Changes nothing (the same as `sh OUT/apply.sh --plan`). "
                                   "Exit 0 when the host is as OUT says, 1 when apply would change something, "
                                   "2 on an error or a conflict that would stop apply.")
    c.add_argument("out", metavar="OUT")
    c.add_argument("--json", action="store_true", help="print one JSON document: changes, summary, conflicts, notes")
    c.set_defaults(run=cmd_plan)

    c = sub.add_parser("teardown", help="remove what netc applied on this host",
                       description="Run OUT/teardown.sh: remove what the record of the last apply lists "
                                   "(finishing first a teardown that was cut short).")
    c.add_argument("out", metavar="OUT")
    c.set_defaults(run=cmd_teardown)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileFailed as exc:
        _report(exc.diagnostics, exc.sources)
        return 2
    except (_UserError, TreeError) as exc:
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
