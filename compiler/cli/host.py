"""apply, teardown and facts: the commands that touch or read this host."""

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


def cmd_apply(args) -> int:
    return _run_script(os.path.join(args.out, "apply.sh"), "apply")


def cmd_teardown(args) -> int:
    return _run_script(os.path.join(args.out, "teardown.sh"), "teardown")


def cmd_facts(args) -> int:
    from ..host.facts import read_machine
    sys.stdout.write(read_machine())
    return 0


def add(sub) -> None:
    c = sub.add_parser("apply", help="apply an output tree to this host, all-or-nothing",
                       description="Run OUT/apply.sh with a progress line: 0 applied, 1 failed and rolled back.")
    c.add_argument("out", metavar="OUT").complete = OUT
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
