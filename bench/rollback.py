"""How long a failed apply takes to undo itself: apply.sh of `bench/gen.py`-style
specs (bench/specs.py scale N) with a failure injected at its last step, so that
everything it made is rolled back. As root: it needs network namespaces.

    .venv/bin/python bench/rollback.py [N ...] [--backend iptables|nftables]

A first sandbox learns the number of steps (a normal apply, then teardown); a
fresh one is then applied with NETC_FAIL_AFTER_STEP=steps-1 and timed from start
to the end of the rollback. Prints one line per N; the state after the rollback
is checked against the state before (Sandbox.snapshot).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402
import specs  # noqa: E402


def measure(n: int, backend: str) -> tuple[int, float]:
    from netc.prove.sandbox import Sandbox
    work = run.memory_dir()   # a new folder, in memory where there is /dev/shm
    try:
        spec = run.fresh_spec(work, specs.scale(n))
        sb = Sandbox(state_parent=str(work))
        try:
            run.compile_to(spec, work / "out", backend, prefix=sb.prefix)
            _, steps, _ = run._apply_timed(sb, work / "out")
            assert sb.teardown(work / "out").returncode == 0
        finally:
            sb.close()
        last = len(steps) - 1   # the steps counted after "checks before the first step"
        sb = Sandbox(state_parent=str(work))
        try:
            run.compile_to(spec, work / "out", backend, prefix=sb.prefix)
            before = sb.snapshot()
            start = time.perf_counter()
            r = sb.apply(work / "out", NETC_FAIL_AFTER_STEP=str(last - 1))
            took = time.perf_counter() - start
            if r.returncode != 1 or "rolled back" not in r.stderr:
                raise RuntimeError(f"expected a rollback:\n{r.stderr[-2000:]}")
            if sb.snapshot() != before:
                raise RuntimeError("the state after the rollback differs from the state before")
            return last, took
        finally:
            sb.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", nargs="*", type=int, default=[100, 1000])
    p.add_argument("--backend", default="nftables", choices=["iptables", "nftables"])
    args = p.parse_args()
    for n in args.n:
        steps, took = measure(n, args.backend)
        print(f"{args.backend} {n:>6} containers: failure at step {steps} of {steps}, "
              f"apply + rollback {took:.2f} s, state as before", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
