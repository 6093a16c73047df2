"""Where `netc compile` spends its time: its stages timed apart, then cProfile of
the whole command, in one process. Prints JSON (bench/run.py's profile section).

    python bench/profile_compile.py SPEC OUT [--stages-only]
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import time


def main() -> None:
    spec, out = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    from netc import cli, pipeline
    from netc.emit import render as output, tree
    t1 = time.perf_counter()
    loaded = pipeline.load(spec)
    t2 = time.perf_counter()
    with pipeline._no_gc():
        artifacts = output.render(loaded.network, "iptables")
    t3 = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    tree.write_tree(out, artifacts)  # what `netc compile` does with the artifacts
    t4 = time.perf_counter()
    stages = {"import netc": t1 - t0, "parse, build, resolve": t2 - t1,
              "render (rules, files, netc.json)": t3 - t2, "write the output tree": t4 - t3}
    del artifacts, loaded
    shutil.rmtree(out, ignore_errors=True)
    if "--stages-only" in sys.argv:
        json.dump({"stages": stages}, sys.stdout)
        return
    lock = os.path.splitext(spec)[0] + ".lock"
    if os.path.exists(lock):
        os.unlink(lock)
    prof = cProfile.Profile()
    prof.enable()
    cli.main(["compile", spec, "-o", out])
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = stats.total_tt
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        where = file.split("site-packages/")[-1] if "site-packages/" in file else os.path.basename(file)
        rows.append({"function": f"{where}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: -r["tottime"])
    json.dump({"stages": stages, "profiled_total": total, "top": rows[:15],
               "files_written": sum(len(f) for _, _, f in os.walk(out))}, sys.stdout)


if __name__ == "__main__":
    main()
