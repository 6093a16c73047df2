"""This netc against another build of netc, run by turns on the same machine at the same time.

    .venv/bin/python bench/ab.py --other PATH/TO/OTHER/bin/netc [--runs N] [--label TEXT]

On a shared machine the absolute figures of one run move with the other work on it;
runs taken by turns (this, the other, this, ...) see the same load, so their ratio is
the comparison. Measured: `netc compile` of bench/gen.py 10,000 (output in memory), and
a fresh apply of bench/gen.py 1,000 on both backends (and with --icc-false on nftables,
where its bridge table holds a port per container), each build applying its own
compiled tree (apply.sh) in a fresh sandbox, then teardown. Writes results.json's "ab"
(report.py shows it beside the run's own figures). As root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gen  # noqa: E402
import run  # noqa: E402
import specs  # noqa: E402

THIS = str(Path(sys.executable).parent / "netc")


def compile_once(netc: str, spec: Path, out: Path, backend: str = "iptables", prefix: str | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    spec.with_suffix(".lock").unlink(missing_ok=True)
    cmd = [netc, "compile", str(spec), "-o", str(out), "--backend", backend] + (["--netns-prefix", prefix] if prefix else [])
    return run.run_measured(cmd)[0]


def apply_once(netc: str, work: Path, n: int, backend: str, icc: bool = True) -> float:
    from netc.prove.sandbox import Sandbox
    sb = Sandbox(state_parent=str(work))
    try:
        spec = run.fresh_spec(work / "ab-apply", specs.scale(n) if icc else gen.generate(n, icc=False))
        compile_once(netc, spec, work / "ab-apply" / "out", backend, sb.prefix)
        took = run._apply_timed(sb, work / "ab-apply" / "out")[0]
        if sb.teardown(work / "ab-apply" / "out").returncode != 0:
            raise RuntimeError("teardown failed")
        return took
    finally:
        sb.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--other", required=True, help="the other build's netc (a venv's bin/netc)")
    p.add_argument("--label", default="the other build")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    work = run.memory_dir()
    builds = {"this": THIS, "other": args.other}
    out: dict = {"label": args.label, "runs": args.runs, "this_commit": run.machine()["commit"],
                 "loadavg_start": open("/proc/loadavg").read().split()[:3], "results": {}}
    try:
        spec = run.fresh_spec(work / "ab-compile", specs.scale(10000))
        cases = [("compile 10,000", lambda b: compile_once(builds[b], spec, work / "ab-compile" / "out"))]
        for backend in ("iptables", "nftables"):
            cases.append((f"apply 1,000 ({backend})", lambda b, be=backend: apply_once(builds[b], work, 1000, be)))
        # icc false: the nftables backend's bridge table (a port each) and its mark chain
        cases.append(("apply 1,000 icc false (nftables)",
                      lambda b: apply_once(builds[b], work, 1000, "nftables", icc=False)))
        for name, fn in cases:
            times: dict[str, list[float]] = {"this": [], "other": []}
            for i in range(args.runs):
                for b in ("this", "other") if i % 2 == 0 else ("other", "this"):
                    times[b].append(fn(b))
            med = {b: statistics.median(v) for b, v in times.items()}
            out["results"][name] = {**{b: run.summary(v) for b, v in times.items()}, "ratio": med["this"] / med["other"]}
            print(f"{name}: this {med['this']:.2f} s, {args.label} {med['other']:.2f} s, "
                  f"ratio {med['this'] / med['other']:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    res = json.loads(run.RESULTS.read_text()) if run.RESULTS.exists() else {}
    res["ab"] = out
    run.RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    import report
    report.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
