"""Measure `netc check` on generated specs: wall time and peak RSS.

    .venv/bin/python bench/check.py [N ...] [--repeat R] [--icc-false]

For each N (default 1000 10000 50000) it writes `python bench/gen.py N` to a
temporary file and runs the installed `netc check` on it R times (default 3)
in a fresh process, printing the best wall time and the peak RSS of that run.
Peak RSS comes from the child's rusage (ru_maxrss, kilobytes on Linux), the
same figure `/usr/bin/time -v` reports as "Maximum resident set size".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402


def run(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit status) of one run of cmd."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.stderr.close()
    return wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time `netc check` on generated specs.")
    p.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 50000], metavar="N")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--icc-false", action="store_true")
    p.add_argument("--netc", default=os.path.join(os.path.dirname(sys.executable), "netc"),
                   help="the netc command (default: the one beside this Python)")
    args = p.parse_args(argv)
    print(f"{'containers':>10}  {'best wall s':>11}  {'peak RSS MiB':>12}  runs")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = os.path.join(tmp, f"bench-{n}.netc")
            with open(path, "w", encoding="utf-8") as f:
                f.write(gen.generate(n, icc=not args.icc_false))
            results = [run([args.netc, "check", path]) for _ in range(args.repeat)]
            if any(rc != 0 for _, _, rc in results):
                print(f"netc check failed on {n} containers", file=sys.stderr)
                return 1
            wall, rss, _ = min(results)
            runs = " ".join(f"{w:.2f}" for w, _, _ in results)
            print(f"{n:>10}  {wall:>11.2f}  {rss / 1024:>12.1f}  {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
