"""`netc doctor`: what else on this host will break the compiled network, or fight with it.

Input: a `Host` (snapshot.py: what the live machine holds, read and never
changed) and, optionally, an output tree of `netc compile` (its netc.json:
bridges, subnets, containers, publishes, rules and sysctls, each with the
spec line it comes from). Output: `Finding`s, data first: a stable id
(docs/doctor.md lists them), a severity, what, where, why with the flows of
the spec that break (by spec line), and the fix as shell lines.

The checks are pure functions of (Host, Out); the firewall ones walk the
packets of the spec (each publish, egress, container to container, and their
replies) through every table netc does not own (firewall_checks.py over ruleset.py), hook by hook.
Without OUT only the generic checks run, for the default backend
(iptables): other tables' forward drops, rp_filter, br_netfilter, firewalld
and ufw.

Entry points: `findings(out_dir)` (read the host, check; what `apply` and
`plan` call) with `render(findings)`; `run(out_dir)` a `Report` (with what
could not be read) for `netc doctor`, `render_report` and `to_json`;
`check(host, out)`, pure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from . import snapshot
from .checks import (check_accept_ra, check_addresses, check_br_netfilter, check_listeners, check_rp_filter,
                     check_services, check_subnets)
from .compiled import Out, flows, generic_flows, read_out
from .finding import SEVERITIES, DoctorError, Finding
from .firewall_checks import check_firewall
from .snapshot import Host

__all__ = ["DoctorError", "Finding", "Out", "Report", "check", "findings", "read_out", "render", "render_report",
           "run", "to_json"]


def check(host: Host, out: Out | None) -> list[Finding]:
    """Every finding for this host and OUT (None: the generic checks only), errors first."""
    the_flows = flows(out, host) if out is not None else generic_flows()
    found = check_firewall(host, out, the_flows)
    if out is not None:
        found += check_listeners(host, out) + check_subnets(host, out) + check_addresses(host, out)
    found += check_rp_filter(host, out) + check_br_netfilter(host, out) + check_accept_ra(host, out)
    found += check_services(host, out)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda f: SEVERITIES.index(f.severity))


@dataclass(frozen=True)
class Report:
    out: Out | None
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...]


def run(out_dir: str | None) -> Report:
    """Read OUT (when given) and this host; check. Raises DoctorError for a bad OUT or no root."""
    out = read_out(out_dir) if out_dir is not None else None
    if os.geteuid() != 0:
        raise DoctorError("doctor needs root: it reads the firewall (iptables-save, nft list ruleset)")
    host = snapshot.read()
    return Report(out, tuple(check(host, out)), host.skipped)


def findings(out_dir: str | None) -> list[Finding]:
    """What `apply` and `plan` call: the findings for OUT on this host."""
    return list(run(out_dir).findings)


def render(found, prefix: str = "") -> str:
    """Findings as text for people: a headline, then where, why, what breaks, the fix.
    prefix (apply's "netc: warning: ") replaces the severity at the head of the headline."""
    lines: list[str] = []
    for f in found:
        lines.append(f"{prefix}{f.what} [{f.id}, {f.severity}]" if prefix else f"{f.severity}: {f.what} [{f.id}]")
        lines.append(f"    where:  {f.where}")
        lines.append(f"    why:    {f.why}")
        for k, b in enumerate(f.breaks):
            lines.append(f"    {'breaks: ' if k == 0 else '        '}{b}")
        for k, x in enumerate(f.fix):
            lines.append(f"    {'fix:    ' if k == 0 else '        '}{x}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_report(report: Report) -> str:
    text = render(report.findings)
    errors = sum(f.severity == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    scope = f"for {report.out.path} (backend {report.out.backend or 'none'})" if report.out else \
        "(generic checks only: give OUT for the checks of a compiled network)"
    for s in report.skipped:
        text += f"note: not checked: {s}\n"
    if report.findings:
        text += f"netc doctor: {errors} error(s), {warnings} warning(s) {scope}; nothing was changed\n"
    else:
        text += f"netc doctor: no findings {scope}\n"
    return text


def to_json(report: Report) -> str:
    return json.dumps({"out": report.out.path if report.out else None,
                       "backend": report.out.backend if report.out else None,
                       "findings": [f.to_json() for f in report.findings],
                       "skipped": list(report.skipped)}, indent=2, sort_keys=True) + "\n"
