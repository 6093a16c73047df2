"""The command line: a thin layer over the pure entry points (pipeline.py).

Each command parses its arguments, calls the stage that does the work, and
prints the result; writing an output tree is emit/tree.py's, and the kernel
tools (apply, verify) run their own scripts and probes. One module per group
of commands, each with an `add(sub)` that declares its commands:
spec (check, compile), prove (explain, verify), host (apply, teardown, facts, doctor),
tools (graph, run-config, completion).

Exit statuses: 0 success, 1 a difference (compile --check) or a failed apply,
2 errors in the spec or the command line. No traceback reaches a user: an
unexpected exception is reported in one line as an internal error (exit 3).
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..diagnostics import CompileFailed
from ..emit.tree import TreeError
from ..quote import printable
from . import host, prove, spec, tools
from .common import Parser, UserError, report

GROUPS = (spec, prove, host, tools)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="netc", description="Compile container networking (Docker's classic bridge driver) "
                                        "into reviewable kernel state, and apply it all-or-nothing.")
    p.add_argument("--version", action="version", version=f"netc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for group in GROUPS:
        group.add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileFailed as exc:
        report(exc.diagnostics, exc.sources, getattr(args, "format", "text"))
        return 2
    except (UserError, TreeError) as exc:
        sys.stderr.write(f"netc: error: {exc}\n")
        return 2
    except OSError as exc:
        where = f"{printable(str(exc.filename))}: " if exc.filename is not None else ""
        sys.stderr.write(f"netc: error: {where}{exc.strerror or exc}\n")
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
