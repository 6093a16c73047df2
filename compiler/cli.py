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
        from .dump import dump
        sys.stdout.write(dump(loaded.network))
    return 0


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
    c.add_argument("--emit", choices=["ir"], help="also print the resolved network (a stable text dump)")
    c.add_argument("--netns-prefix", default=NETNS_PREFIX, type=_prefix,
                   help=f"prefix of the containers' namespace names (default {NETNS_PREFIX})")
    c.set_defaults(run=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileFailed as exc:
        _report(exc.diagnostics, exc.sources)
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
