"""A finding of netc doctor, as data: what the checks return and every output shows."""

from __future__ import annotations

import re
from dataclasses import dataclass

SEVERITIES = ("error", "warning")


class DoctorError(Exception):
    """A problem with the command, not with the host: OUT missing, not a netc tree, no root."""


@dataclass(frozen=True)
class Finding:
    id: str                       # stable, kebab-case: docs/doctor.md
    severity: str                 # error: breaks the network or apply; warning: may break, or fights
    what: str
    where: str
    why: str
    breaks: tuple[str, ...] = ()  # the flows of the spec that break, each with its spec line
    fix: tuple[str, ...] = ()     # shell lines; a line starting with '#' is a note

    @property
    def lines(self) -> tuple[str, ...]:
        """The spec lines (FILE:LINE) of the flows that break."""
        out: list[str] = []
        for b in self.breaks:
            m = re.search(r"\(([^\s()]+:\d+)\b", b)
            if m and m.group(1) not in out:
                out.append(m.group(1))
        return tuple(out)

    def to_json(self) -> dict:
        return {"id": self.id, "severity": self.severity, "what": self.what, "where": self.where,
                "why": self.why, "breaks": list(self.breaks), "lines": list(self.lines), "fix": list(self.fix)}
