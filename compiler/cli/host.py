"""apply, teardown, facts and doctor: the commands that touch or read this host."""

from __future__ import annotations

import os
import sys

from ..completion import OUT
from .common import UserError


def _run_script(script: str, verb: str) -> int:
    """Run OUT/apply.sh or OUT/teardown.sh with a progress line and a short report."""
    import subprocess
    if not os.path.isfile(script):
        raise UserError(f"{script} does not exist: give the folder `netc compile -o` wrote")
    from ..prove.progress import Progress
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


def _doctor_first(out: str, strict: bool) -> int | None:
    """apply's first step, before apply.sh changes anything: netc doctor's findings as
    warnings; with --strict any finding, or a host or OUT doctor cannot read, is an error and
    apply.sh does not run (exit 2). Skipped without root (apply.sh says so itself) and for a
    folder without netc.json (unless --strict)."""
    if not os.path.isfile(os.path.join(out, "apply.sh")) or os.geteuid() != 0:
        return None
    from ..host import doctor
    lead = "netc: error: " if strict else "netc: warning: "
    try:
        found = doctor.findings(out)
    except doctor.DoctorError as exc:
        if strict:
            raise UserError(f"apply --strict: doctor cannot check this host: {exc}; nothing was changed") from None
        if os.path.exists(os.path.join(out, "netc.json")):
            sys.stderr.write(f"{lead}doctor cannot check this host: {exc}\n")
        return None
    sys.stderr.write(doctor.render(found, prefix=lead))
    if found and strict:
        sys.stderr.write(f"netc: error: apply --strict: netc doctor found {len(found)} problem(s) on this host; "
                         "nothing was changed\n")
        return 2
    return None


def cmd_apply(args) -> int:
    stop = _doctor_first(args.out, args.strict)
    return stop if stop is not None else _run_script(os.path.join(args.out, "apply.sh"), "apply")


def cmd_teardown(args) -> int:
    return _run_script(os.path.join(args.out, "teardown.sh"), "teardown")


def cmd_doctor(args) -> int:
    from ..host import doctor
    try:
        report = doctor.run(args.out)
    except doctor.DoctorError as exc:
        raise UserError(str(exc)) from None
    sys.stdout.write(doctor.to_json(report) if args.json else doctor.render_report(report))
    return 1 if report.findings else 0


def cmd_facts(args) -> int:
    from ..host.facts import read_machine
    sys.stdout.write(read_machine())
    return 0


def add(sub) -> None:
    c = sub.add_parser("apply", help="apply an output tree to this host, all-or-nothing",
                       description="Run netc doctor's checks (each finding is printed as a warning), then "
                                   "OUT/apply.sh with a progress line: 0 applied, 1 failed and rolled back, "
                                   "2 with --strict when doctor found something (nothing is changed then).")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.add_argument("--strict", action="store_true",
                   help="treat every finding of netc doctor as an error: exit 2 without changing anything")
    c.set_defaults(run=cmd_apply)

    c = sub.add_parser("teardown", help="remove what netc applied on this host",
                       description="Run OUT/teardown.sh.")
    c.add_argument("out", metavar="OUT").complete = OUT
    c.set_defaults(run=cmd_teardown)

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
