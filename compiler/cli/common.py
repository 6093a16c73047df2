"""What every command shares: the parser class, argument types, reporting diagnostics."""

from __future__ import annotations

import argparse
import sys

from ..diagnostics import render_as


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 as well; keep its wording short
        self.print_usage(sys.stderr)
        self.exit(2, f"netc: error: {message}\n")


def prefix(text: str) -> str:
    import re
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,32}", text):
        raise argparse.ArgumentTypeError("use up to 32 letters, digits, '_', '.' or '-'")
    return text


def report(diagnostics, sources, fmt: str = "text") -> None:
    write_diagnostics(render_as(fmt, diagnostics, sources), fmt)


def write_diagnostics(text: str, fmt: str) -> None:
    """Diagnostics for people on standard error, or for tools (json, github) on standard output."""
    if text:
        (sys.stderr if fmt == "text" else sys.stdout).write(text)



class UserError(Exception):
    """A mistake on the command line or in what it names: one line, exit 2."""


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return int(text)
