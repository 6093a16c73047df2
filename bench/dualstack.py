"""The dual-stack section of the benchmark suite (bench/run.py --only dualstack), and its report.

    compile    `netc compile` of bench/gen.py 10,000, IPv4 only and dual stack
               (`--ipv6`: ipv6 true, fixed-cidr-v6), runs alternated so that both
               see the same load; wall time and CPU time (user + system of the
               process and the child it forks); target: dual stack within 1.5x
    nft        loading bench/specs.py firewall 10,000 with ipv6 (10,000 publishes
               and 10,000 links, each in both families) into a fresh namespace:
               netc's rules.nft against a hand-written dual-stack floor (one inet
               table, each family's sets, the fewest rules: baselines.floor_nft);
               netc's iptables backend (rules.v4 and rules.v6) for comparison;
               target: within 1.2x of the floor
    connrate   new IPv6 connections per second between two containers of a
               dual-stack bridge with the rules of 0 and 50,000 other dual-stack
               containers installed (run.py's connrate, in IPv6); target: within
               10% of none

Each part records the machine and the command it ran under, since `--only`
adds to a results.json that an earlier `make bench` wrote.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import baselines  # noqa: E402
import gen  # noqa: E402
import specs  # noqa: E402
from nsutil import Netns, measured  # noqa: E402

N = 10000


def _measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system, its reaped children included) of a command."""
    wall, usage = measured(cmd)
    return wall, usage.ru_utime + usage.ru_stime


def _summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def section_compile(work: Path, netc: str, runs: int, say, n: int = N) -> dict:
    say(f"== dual stack, compile: {n} containers, IPv4 only and dual stack, runs alternated")
    specs_ = {}
    for kind, ipv6 in (("ipv4", False), ("dual", True)):
        d = work / "dual-compile" / kind
        d.mkdir(parents=True, exist_ok=True)
        (d / "spec.netc").write_text(gen.generate(n, ipv6=ipv6))
        specs_[kind] = d
    walls: dict[str, list[float]] = {"ipv4": [], "dual": []}
    cpus: dict[str, list[float]] = {"ipv4": [], "dual": []}
    for i in range(runs):
        for kind, d in specs_.items():
            (d / "spec.lock").unlink(missing_ok=True)
            subprocess.run(["rm", "-rf", str(d / "out")], check=True)
            w, c = _measured([netc, "compile", str(d / "spec.netc"), "-o", str(d / "out")])
            walls[kind].append(w)
            cpus[kind].append(c)
            say(f"   {kind:<5} run {i + 1}/{runs}: {w:.3f} s wall, {c:.3f} s CPU")
    files = {k: sum(len(f) for _, _, f in os.walk(d / "out")) for k, d in specs_.items()}
    subprocess.run(["rm", "-rf", str(work / "dual-compile")], check=True)
    out = {"containers": n, "files": files,
           "wall": {k: _summary(v) for k, v in walls.items()}, "cpu": {k: _summary(v) for k, v in cpus.items()}}
    out["ratio_wall"] = out["wall"]["dual"]["median"] / out["wall"]["ipv4"]["median"]
    out["ratio_cpu"] = out["cpu"]["dual"]["median"] / out["cpu"]["ipv4"]["median"]
    say(f"   dual stack / IPv4 only: {out['ratio_wall']:.2f}x wall, {out['ratio_cpu']:.2f}x CPU (medians)")
    return out


def _firewall_up(out: Path) -> list[str]:
    """The firewall object's up commands as `objects` writes them (what apply.sh runs for it,
    TREE being the tree), with netc-lib.sh's helpers (as run.py's firewall section)."""
    lines, mine = [], False
    for line in (out / "objects").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            mine = line.startswith("firewall ")
        elif mine and line.startswith("  up    sh "):
            lines.append(line[len("  up    sh "):])
    script = out / "firewall-up.sh"
    script.write_text(f'set -f\n. "{out}/netc-lib.sh"\nTREE="{out}"\nset -e\n' + "\n".join(lines) + "\n")
    return ["sh", str(script)]


def section_nft(work: Path, netc: str, runs: int, say, n: int = N) -> dict:
    say(f"== dual stack, firewall: {n} publishes and {n} links in both families, each run in a fresh namespace")
    d = work / "dual-firewall"
    d.mkdir(parents=True, exist_ok=True)
    spec = d / "spec.netc"
    spec.write_text(specs.firewall(n, ipv6=True))
    for backend in ("iptables", "nftables"):
        subprocess.run([netc, "compile", str(spec), "-o", str(d / backend), "--backend", backend],
                       check=True, capture_output=True)
    from netc import pipeline
    network = pipeline.load(str(spec)).network
    (d / "floor.nft").write_text(baselines.floor_nft(network))
    methods = {
        "netc_nftables": _firewall_up(d / "nftables"),
        "floor_nft": ["nft", "-f", str(d / "floor.nft")],
        "netc_iptables_v4": ["sh", "-c", f'iptables-restore -w --noflush < "{d}/iptables/rules.v4"'],
        "netc_iptables_v6": ["sh", "-c", f'ip6tables-restore -w --noflush < "{d}/iptables/rules.v6"'],
    }
    times: dict[str, list[float]] = {k: [] for k in methods}
    cpus: dict[str, list[float]] = {k: [] for k in methods}
    for i in range(runs):
        for name, cmd in methods.items():  # alternated, so that each method sees the same load
            with Netns("dfw") as ns:
                w, c = _measured(ns.cmd(*cmd))
            times[name].append(w)
            cpus[name].append(c)
        say(f"   run {i + 1}/{runs}: " + ", ".join(f"{k} {times[k][-1]:.3f} s" for k in methods))
    out = {"n": n, "bytes": {"rules.nft": (d / "nftables" / "rules.nft").stat().st_size,
                             "floor.nft": (d / "floor.nft").stat().st_size,
                             "rules.v4": (d / "iptables" / "rules.v4").stat().st_size,
                             "rules.v6": (d / "iptables" / "rules.v6").stat().st_size},
           "wall": {k: _summary(v) for k, v in times.items()}, "cpu": {k: _summary(v) for k, v in cpus.items()}}
    out["ratio_wall"] = out["wall"]["netc_nftables"]["median"] / out["wall"]["floor_nft"]["median"]
    out["ratio_cpu"] = out["cpu"]["netc_nftables"]["median"] / out["cpu"]["floor_nft"]["median"]
    say(f"   netc nft / floor: {out['ratio_wall']:.2f}x wall, {out['ratio_cpu']:.2f}x CPU (medians)")
    subprocess.run(["rm", "-rf", str(d)], check=True)
    return out


# ------------------------------------------------------------------ report

def _cell(s: dict, digits: int = 3) -> str:
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}-{f.format(s['max'])})"


def report(ds: dict, targets: list) -> list[str]:
    """The dual-stack section of RESULTS.md; adds its targets to TARGETS."""
    m = ds["machine"]
    out = ["## Dual stack (IPv6)", "",
           f"From `{ds['command']}`, started {m['date']} at commit {m['commit']} on the machine above",
           f"(load average at the start {' '.join(m['loadavg_start'])}, at the end "
           f"{' '.join(m.get('loadavg_end', ['?']))}). Times: median (min-max) of the runs; CPU is user +",
           "system time of the process and its reaped children, which other work on the VM disturbs less",
           "than wall time.", ""]
    c = ds.get("compile")
    if c:
        out += [f"### Compile, {c['containers']:,} containers",
                "", "`netc compile` of `bench/gen.py N` and of `bench/gen.py N --ipv6` (the same spec with `ipv6 true`",
                "and `fixed-cidr-v6 fd00:1::/64`: every container dual stack, every publish and link in both",
                "families), output in memory, runs alternated.", "",
                "| spec | files | wall s | CPU s |", "| --- | ---: | --- | --- |",
                f"| IPv4 only | {c['files']['ipv4']:,} | {_cell(c['wall']['ipv4'])} | {_cell(c['cpu']['ipv4'])} |",
                f"| dual stack | {c['files']['dual']:,} | {_cell(c['wall']['dual'])} | {_cell(c['cpu']['dual'])} |",
                f"| dual / IPv4 | | {c['ratio_wall']:.2f}x | {c['ratio_cpu']:.2f}x |", ""]
        targets.append(("Compile of 10,000 dual-stack containers within 1.5x the IPv4-only compile",
                        f"{c['ratio_wall']:.2f}x wall, {c['ratio_cpu']:.2f}x CPU", c["ratio_wall"] <= 1.5))
    f = ds.get("nft")
    if f:
        b = f["bytes"]
        out += [f"### Firewall load, {f['n']:,} publishes and {f['n']:,} links in both families", "",
                "`bench/specs.py firewall N` with `ipv6 true`: each publish and each link in IPv4 and IPv6. netc's",
                "rules.nft (the firewall object's up command: one `nft -f`) against the hand-written dual-stack floor (one",
                "`inet` table with each family's sets and maps, no comments, the fewest rules:",
                "`bench/baselines.py floor_nft`); netc's iptables backend for comparison (rules.v4 and rules.v6",
                "loaded apart). Each run in a fresh namespace, the methods alternated.", "",
                "| method | bytes | wall s | CPU s |", "| --- | ---: | --- | --- |",
                f"| netc nftables (rules.nft) | {b['rules.nft']:,} | {_cell(f['wall']['netc_nftables'])} | "
                f"{_cell(f['cpu']['netc_nftables'])} |",
                f"| floor (inet, by hand) | {b['floor.nft']:,} | {_cell(f['wall']['floor_nft'])} | "
                f"{_cell(f['cpu']['floor_nft'])} |",
                f"| netc iptables-restore rules.v4 | {b['rules.v4']:,} | {_cell(f['wall']['netc_iptables_v4'])} | "
                f"{_cell(f['cpu']['netc_iptables_v4'])} |",
                f"| netc ip6tables-restore rules.v6 | {b['rules.v6']:,} | {_cell(f['wall']['netc_iptables_v6'])} | "
                f"{_cell(f['cpu']['netc_iptables_v6'])} |",
                f"| netc nft / floor | | {f['ratio_wall']:.2f}x | {f['ratio_cpu']:.2f}x |", ""]
        targets.append(("nft load of a dual-stack firewall within 1.2x of the hand-written floor",
                        f"{f['ratio_wall']:.2f}x wall, {f['ratio_cpu']:.2f}x CPU", f["ratio_wall"] <= 1.2))
    r = ds.get("connrate")
    if r:
        rows = r["results"]
        out += ["### Per-packet cost in IPv6: connection rate", "",
                "As the connection-rate section above, with `bench/specs.py probe N --ipv6`: every container dual",
                "stack, and the client connects to the server's IPv6 address (link rules in ip6tables, or the",
                f"inet table's IPv6 sets), {r['seconds_per_run']:.0f} s a run, {r['runs']} runs after one warm-up"
                + (", the sandboxes of both counts set up first and measured by turns, run by run, so that"
                   " both see the same load." if r.get("alternated") else "."),
                "", "| backend | other containers | IPv6 connections/s | vs none |", "| --- | ---: | --- | ---: |"]
        for key in sorted(rows, key=lambda k: (rows[k]["backend"], rows[k]["others"])):
            e = rows[key]
            base = rows.get(f"{e['backend']}-0")
            rel = f"{e['rate']['median'] / base['rate']['median'] * 100:.0f}%" if base else "-"
            out.append(f"| {e['backend']} | {e['others']:,} | {_cell(e['rate'], 0)} | {rel} |")
        out.append("")
        if "nftables-0" in rows and "nftables-50000" in rows:
            rel = rows["nftables-50000"]["rate"]["median"] / rows["nftables-0"]["rate"]["median"]
            targets.append(("IPv6 connection rate at 50,000 installed containers within 10% of none (nftables)",
                            f"{rel * 100:.0f}% of none", rel >= 0.9))
    for note in ds.get("notes", []):   # what a reader should know of this run (added to results.json by hand)
        out += [note, ""]
    return out
