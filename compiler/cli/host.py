"""apply, plan, teardown, facts and doctor: the commands that touch or read this host."""

from __future__ import annotations

import os
import sys

from ..completion import OUT
from .common import UserError


def _script(out: str, name: str) -> str:
    script = os.path.join(out, name)
    if not os.path.isfile(script):
        raise UserError(f"{script} does not exist: give the folder `netc compile -o` wrote")
    return script


def _say(text: str) -> None:
    """Write to stderr; a closed stderr (the terminal went away) is no reason to stop."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _observer() -> dict[str, str]:
    """The engine reads each namespace with `nsenter` and `ip`, two programs started for each;
    netc hands it a reader that enters them all from one process (host/observe.py: the same facts)."""
    return {"NETC_OBSERVE_NS": f"{sys.executable} -m netc.host.observe"}


def _run_script(script: str, verb: str, env: dict[str, str] | None = None) -> int:
    """Run OUT/apply.sh or OUT/teardown.sh with a progress line and its report.

    The script runs in a session of its own, and SIGINT, SIGTERM and SIGHUP to netc are
    passed on to it once: it rolls back (a teardown finishes) and exits 1. netc reads its
    messages until it exits, whatever becomes of netc's own terminal, so the script never
    dies of a closed pipe half-way."""
    import signal
    import subprocess
    from ..prove.progress import Progress
    line = Progress(sys.stderr)
    env = {**os.environ, "NETC_PROGRESS": "1", **_observer(), **(env or {})}
    proc = subprocess.Popen(["sh", script], stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    passed: set[int] = set()

    def pass_on(signum, _frame) -> None:
        if signum not in passed and proc.poll() is None:
            passed.add(signum)
            try:
                os.kill(proc.pid, signum)  # the script this command started, by its PID
            except OSError:
                pass

    before = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for text in proc.stderr:
            if text.startswith("netc-progress "):
                _, number, name = (text.rstrip("\n").split(" ", 2) + ["", ""])[:3]
                try:
                    line.show(f"netc: {verb}: step {number}: {name[:70]}")
                except (OSError, ValueError):
                    pass
                continue
            try:
                line.clear()
            except (OSError, ValueError):
                pass
            _say(text)
        rc = proc.wait()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    try:
        line.clear()
    except (OSError, ValueError):
        pass
    return 0 if rc == 0 else 1


def _doctor_first(out: str, strict: bool) -> tuple[int | None, bool]:
    """apply's first step, before apply.sh changes anything: netc doctor's findings as
    warnings; with --strict any finding, or a host or OUT doctor cannot read, is an error and
    apply.sh does not run (exit 2). Skipped without root (apply.sh says so itself) and for a
    folder without netc.json (unless --strict). Also whether doctor checked the host (then
    apply.sh leaves out the warnings doctor gives)."""
    if not os.path.isfile(os.path.join(out, "apply.sh")) or os.geteuid() != 0:
        return None, False
    from ..host import doctor
    lead = "netc: error: " if strict else "netc: warning: "
    try:
        found = doctor.findings(out)
    except doctor.DoctorError as exc:
        if strict:
            raise UserError(f"apply --strict: doctor cannot check this host: {exc}; nothing was changed") from None
        if os.path.exists(os.path.join(out, "netc.json")):
            sys.stderr.write(f"{lead}doctor cannot check this host: {exc}\n")
        return None, False
    sys.stderr.write(doctor.render(found, prefix=lead))
    if found and strict:
        sys.stderr.write(f"netc: error: apply --strict: netc doctor found {len(found)} problem(s) on this host; "
                         "nothing was changed\n")
        return 2, True
    return None, True


def cmd_apply(args) -> int:
    script = _script(args.out, "apply.sh")
    stop, checked = _doctor_first(args.out, args.strict)
    if stop is not None:
        return stop
    return _run_script(script, "apply", {"NETC_DOCTOR_RAN": "1"} if checked else None)


def cmd_teardown(args) -> int:
    return _run_script(_script(args.out, "teardown.sh"), "teardown")


def _plan_findings(out: str) -> list:
    """netc doctor's findings for OUT on this host, which plan shows beside its changes (none
    without root, or for a folder doctor cannot read: plan itself says why it cannot run)."""
    if os.geteuid() != 0 or not os.path.isfile(os.path.join(out, "netc.json")):
        return []
    from ..host import doctor
    try:
        return doctor.findings(out)
    except doctor.DoctorError:
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
    """What apply would change on this host now (`sh OUT/apply.sh --plan`, which changes nothing),
    and what netc doctor finds."""
    import json
    import subprocess
    from ..host import doctor
    script = _script(args.out, "apply.sh")
    env = {**os.environ, **_observer()}
    findings = _plan_findings(args.out)
    if not args.json:
        rc = subprocess.run(["sh", script, "--plan"], env=env).returncode
        sys.stdout.write(doctor.render(findings, prefix="doctor: "))
        return rc if rc in (0, 1) else 2
    r = subprocess.run(["sh", script, "--plan=raw"], capture_output=True, text=True, env=env)
    doc = parse_plan(r.stdout)
    doc["out"] = args.out
    doc["exit"] = r.returncode if r.returncode in (0, 1) else 2
    doc["notes"] = [line[len("netc: "):] for line in r.stderr.splitlines() if line.startswith("netc: ")]
    doc["doctor"] = [f.to_json() for f in findings]
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc["exit"]


def cmd_doctor(args) -> int:
    from ..host import doctor
    try:
        report = doctor.run(args.out)
    except doctor.DoctorError as exc:
        raise UserError(str(exc)) from None
    sys.stdout.write(doctor.to_json(report) if args.json else doctor.render_report(report))
    return 1 if report.findings else 0


UNITS_DIR = "/etc/systemd/system"


def escape_path(path: str) -> str:
    """`systemd-escape --path PATH`: the instance name of a unit for PATH (systemd.unit(5))."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-"
    out = []
    for i, ch in enumerate("/".join(parts).encode()):
        c = chr(ch)
        if c == "/":
            out.append("-")
        elif (c.isascii() and (c.isalnum() or c in ":_.")) and not (i == 0 and c == "."):
            out.append(c)
        else:
            out.append(f"\\x{ch:02x}")
    return "".join(out)


def cmd_install_units(args) -> int:
    """Copy OUT/systemd's unit templates into DEST and name the instances for OUT."""
    import subprocess
    out = os.path.realpath(args.out)
    src = os.path.join(out, "systemd")
    units = sorted(f for f in os.listdir(src) if f.endswith("@.service")) if os.path.isdir(src) else []
    if not units or not os.path.isfile(os.path.join(out, "apply.sh")):
        raise UserError(f"{src} holds no units: give a folder `netc compile -o` wrote")
    dest = args.dest
    try:
        os.makedirs(dest, exist_ok=True)
        for unit in units:
            with open(os.path.join(src, unit), encoding="utf-8") as f:
                text = f.read()
            tmp = os.path.join(dest, f".{unit}.netc-tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, os.path.join(dest, unit))
    except OSError as exc:
        raise UserError(f"cannot install the units into {dest}: {exc.strerror or exc}") from None
    instance = escape_path(out)
    names = [u.replace("@.service", f"@{instance}.service") for u in units]
    _say("".join(f"netc: installed {os.path.join(dest, u)}\n" for u in units))
    commands = [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", *names]]
    if not args.enable:
        _say("netc: to apply OUT at boot and after firewall reloads, run:\n" +
             "".join("  " + " ".join(c) + "\n" for c in commands))
        return 0
    for c in commands:
        r = subprocess.run(c, capture_output=True, text=True)
        if r.returncode != 0:
            raise UserError(f"{' '.join(c)} failed: {r.stderr.strip()}")
    _say(f"netc: enabled and started {' and '.join(names)}\n")
    return 0


def cmd_facts(args) -> int:
    from ..host.facts import read_machine
    sys.stdout.write(read_machine())
    return 0


def add(sub) -> None:
    c = sub.add_parser("apply", help="apply an output tree to this host, all-or-nothing",
                       description="Run netc doctor's checks (each finding is printed as a warning), then "
                                   "OUT/apply.sh with a progress line: 0 applied, 1 failed and rolled back (also "
                                   "on SIGINT, SIGTERM or SIGHUP, which netc passes on to it), 2 with --strict "
                                   "when doctor found something (nothing is changed then).")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("--strict", action="store_true",
                   help="treat every finding of netc doctor as an error: exit 2 without changing anything")
    c.set_defaults(run=cmd_apply)

    c = sub.add_parser("plan", help="what apply would change on this host now; changes nothing",
                       description="Read this host and the record of the last apply, and print every change "
                                   "OUT/apply.sh would make now: each object that is missing, changed by the spec, "
                                   "different on the host or no longer in OUT, with what differs, its spec line and "
                                   "the exact commands; then what netc doctor finds. Changes nothing (the same as "
                                   "`sh OUT/apply.sh --plan`, without doctor). Exit 0 when the host is as OUT says, "
                                   "1 when apply would change something, 2 on an error or a conflict that would stop "
                                   "apply. See docs/apply.md.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("--json", action="store_true",
                   help="print one JSON document: changes with their commands, summary, conflicts, notes, doctor")
    c.set_defaults(run=cmd_plan)

    c = sub.add_parser("teardown", help="remove what netc applied on this host",
                       description="Run OUT/teardown.sh: remove what the record of the last apply lists "
                                   "(finishing first a teardown that was cut short).")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.set_defaults(run=cmd_teardown)

    c = sub.add_parser("install-units", help="install the systemd units that apply OUT at boot and after "
                                             "firewall reloads",
                       description="Copy OUT/systemd's unit templates, netc-apply@.service (applies OUT at boot, "
                                   "after the network is up) and netc-reapply@.service (applies it again after "
                                   "nftables.service, firewalld.service, ufw.service or netfilter-persistent.service "
                                   "restarts or reloads through systemd) and netc-firewalld@.service (applies it "
                                   "again after `firewall-cmd --reload`, from firewalld's D-Bus signal), into DEST "
                                   "(default "
                                   f"{UNITS_DIR}), and print the systemctl commands that enable them for OUT "
                                   "(the instance is OUT's absolute path, systemd-escape --path); --enable runs "
                                   "them. Each unit runs the plan first, so the journal says what apply repaired.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("--dest", default=UNITS_DIR, metavar="DIR", help=f"where the units go (default {UNITS_DIR})")
    c.add_argument("--enable", action="store_true", help="run systemctl daemon-reload and enable --now the units")
    c.set_defaults(run=cmd_install_units)

    c = sub.add_parser("facts", help="print a host block read from this machine (resolv.conf, routes)",
                       description="Print a `host { ... }` block from this machine's /etc/resolv.conf and "
                                   "IPv4 and IPv6 routes, for the spec to keep (compile itself never reads the "
                                   "machine).")
    c.set_defaults(run=cmd_facts)

    c = sub.add_parser("doctor", help="find what else on this host will break OUT's network (changes nothing)",
                       description="Read this host, without changing anything, and report every condition that "
                                   "will break OUT's network or fight with it: other tables (iptables-legacy, "
                                   "iptables-nft, nftables, firewalld, ufw) that drop its forwarded traffic or "
                                   "translate its published ports, listeners on published ports, routes and "
                                   "addresses on its subnets (another engine's bridge), strict rp_filter, a "
                                   "missing br_netfilter, router advertisements that forwarding would turn off. "
                                   "Each finding names what breaks (by spec line) and the fix. Without OUT only "
                                   "the generic checks run. Exit 0 clean, 1 findings, 2 error. Needs root. "
                                   "See docs/doctor.md.")
    c.add_argument("out", metavar="OUT", nargs="?", help="an output folder of netc compile").complete = OUT
    c.add_argument("--json", action="store_true", help="print the findings as JSON")
    c.set_defaults(run=cmd_doctor)
