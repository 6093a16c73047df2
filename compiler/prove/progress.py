"""A progress line for long work, shown only where a person watches.

On a terminal the line rewrites itself in place; anywhere else (a pipe, a
log, CI) nothing is shown, so logs hold only what the commands report. Under
NO_COLOR (https://no-color.org: any non-empty value) the line is still shown
on a terminal but without escape sequences: a carriage return and padding
with spaces instead of "erase line". The line is cut to the terminal's width,
since a wrapped line cannot be rewritten.
"""

from __future__ import annotations

import os
import sys


def plain() -> bool:
    """NO_COLOR is set: write no escape sequences."""
    return bool(os.environ.get("NO_COLOR"))


class Progress:
    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.plain = plain()
        self.shown = 0  # the width of what is on the line now

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return columns or 80  # a terminal that does not know its size says 0

    def show(self, text: str) -> None:
        """Replace the progress line with `text` (on a terminal only)."""
        if not self.tty:
            return
        text = text[:max(self._columns() - 1, 10)]
        if self.plain:
            self.stream.write("\r" + text + " " * max(self.shown - len(text), 0))
        else:
            self.stream.write("\r\033[K" + text)
        self.shown = len(text)
        self.stream.flush()

    def clear(self) -> None:
        """Remove the progress line, so that the next output starts on a clean line."""
        if not self.tty or not self.shown:
            return
        self.stream.write("\r" + " " * self.shown + "\r" if self.plain else "\r\033[K")
        self.shown = 0
        self.stream.flush()
