"""The benchmark suite behind `make bench` (as root: it needs network namespaces).

    .venv/bin/python bench/run.py [--quick] [--only SECTION ...]

Sections, each printing its progress:
    compile    wall time and peak RSS of `netc compile` at 100 to 50,000 containers
    firewall   loading N publishes and N links: netc's iptables and nftables
               backends, one `iptables` command per rule (sampled), one nft rule
               per entry, and a hand-written nft file with sets and maps
    apply      the whole apply.sh (namespaces, links, files, rules) at 100 and
               1,000 containers, and a re-apply of the unchanged output
    connrate   connections per second between two container namespaces with
               the rules of 0, 10,000 and 50,000 other containers installed
    profile    cProfile of `netc compile` at 10,000 containers
    dualstack  IPv6: compile of 10,000 dual-stack containers against IPv4 only,
               loading a dual-stack firewall against a hand-written floor, and
               IPv6 connections with 50,000 containers installed (bench/dualstack.py)

Raw figures go to bench/results.json (rewritten after each section); then
bench/report.py writes bench/RESULTS.md and the plots. Everything that touches
the kernel happens in namespaces made here with unique names and deleted in a
`finally`; the machine's own network namespace is never changed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import baselines  # noqa: E402
import dualstack  # noqa: E402
import specs  # noqa: E402
from nsutil import Netns  # noqa: E402

NETC = str(Path(sys.executable).parent / "netc")
DISK_WORK = BENCH / "work"   # on the disk: only for the compile-to-disk comparison
WORK = DISK_WORK             # main() points it at a folder in memory (tmpfs) where there is one
RESULTS = BENCH / "results.json"


def say(msg: str) -> None:
    print(msg, flush=True)


def summary(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def fmt(s: dict, unit: str = "s") -> str:
    return f"median {s['median']:.3f} {unit} (min {s['min']:.3f}, max {s['max']:.3f})"


def run_measured(cmd: list[str], **kw) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of a command in a fresh process; it must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()  # the process this run started, by its handle
        proc.wait()
        raise
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss


def compile_to(spec: Path, out: Path, backend: str, prefix: str | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [NETC, "compile", str(spec), "-o", str(out), "--backend", backend]
    if prefix:
        cmd += ["--netns-prefix", prefix]
    return run_measured(cmd)[0]


# ------------------------------------------------------------------ machine

def machine() -> dict:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    mem = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal:")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "compiler", "templates",
                            "grammar", "bench"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "iptables": out("iptables", "--version"), "nft": out("nft", "--version"),
        "iproute2": out("ip", "-V"), "netc": out(NETC, "--version"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ------------------------------------------------------------------ compile

def memory_dir() -> Path:
    """A folder in memory (tmpfs) for compile's output, else the work folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile
        return Path(tempfile.mkdtemp(prefix="netc-bench-", dir=shm))
    return WORK / "memory"


def fresh_spec(d: Path, text: str) -> Path:
    """D emptied (made again) holding spec.netc with TEXT; the spec's path."""
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    spec = d / "spec.netc"
    spec.write_text(text)
    return spec


def _compile_runs(d: Path, n: int, runs: int, label: str) -> dict:
    spec = fresh_spec(d, specs.scale(n))
    walls, rss = [], []
    for i in range(runs):
        (d / "spec.lock").unlink(missing_ok=True)
        shutil.rmtree(d / "out", ignore_errors=True)
        w, r = run_measured([NETC, "compile", str(spec), "-o", str(d / "out")])
        walls.append(w)
        rss.append(r / 1024)
        say(f"   {n:>6} containers, output {label}, run {i + 1}/{runs}: {w:.3f} s, {r / 1024:.0f} MiB")
    files = sum(len(f) for _, _, f in os.walk(d / "out"))
    out = {"wall": summary(walls), "rss_mib": summary(rss), "files": files, "spec_bytes": spec.stat().st_size}
    shutil.rmtree(d, ignore_errors=True)
    return out


def section_compile(res: dict, scales: list[int], runs: int, disk_scales: list[int]) -> None:
    say("== compile: `netc compile` wall time and peak RSS (fresh output folder, no lock)")
    res["compile"] = {}
    res["compile_disk"] = {}
    res["compile_output"] = str(WORK.parent) if str(WORK).startswith("/dev/shm") else "bench/work"
    for n in scales:
        res["compile"][str(n)] = _compile_runs(WORK / "compile" / str(n), n, runs, "in memory")
    for n in disk_scales:  # once more with the output on the disk, for comparison
        res["compile_disk"][str(n)] = _compile_runs(DISK_WORK / "compile" / str(n), n, 1, "on disk")


# ------------------------------------------------------------------ firewall

def _lib_call(out: Path, fn: str) -> list[str]:
    return ["sh", "-c", f'. "{out}/netc-lib.sh" && {fn} "{out}"']


def section_firewall(res: dict, scales: list[int], runs: int, sample: int) -> None:
    say("== firewall: loading the rules for N publishes and N links, each run in a fresh namespace")
    res["firewall"] = {"sample": sample, "scales": {}}
    growth = None
    for n in scales:
        d = WORK / "firewall" / str(n)
        spec = fresh_spec(d, specs.firewall(n))
        ipt_out, nft_out = d / "iptables", d / "nftables"
        compile_to(spec, ipt_out, "iptables")
        compile_to(spec, nft_out, "nftables")
        from netc import pipeline
        network = pipeline.load(str(spec)).network
        (d / "floor.nft").write_text(baselines.floor_nft(network))
        (d / "per-entry.nft").write_text(baselines.per_entry_nft(str(ipt_out / "rules.v4")))
        chains, rules = baselines.iptables_commands((ipt_out / "rules.v4").read_text())
        measured_all = len(rules) <= sample
        (d / "per-rule.sh").write_text(baselines.script(chains + rules[:sample]))
        nft_rules = sum(1 for line in (d / "per-entry.nft").read_text().splitlines() if line.startswith("add rule"))
        entry = {"iptables_rules": len(rules), "nft_per_entry_rules": nft_rules,
                 "bytes": {"rules.v4": (ipt_out / "rules.v4").stat().st_size,
                           "rules.nft": (nft_out / "rules.nft").stat().st_size,
                           "floor.nft": (d / "floor.nft").stat().st_size,
                           "per-entry.nft": (d / "per-entry.nft").stat().st_size}}
        methods = {
            "netc_iptables": _lib_call(ipt_out, "firewall_iptables_up"),
            "netc_nftables": _lib_call(nft_out, "firewall_nftables_up"),
            "floor_nft": ["nft", "-f", str(d / "floor.nft")],
            "per_entry_nft": ["nft", "-f", str(d / "per-entry.nft")],
        }
        for name, cmd in methods.items():
            times = []
            for i in range(runs):
                with Netns("fw") as ns:
                    times.append(ns.timed(*cmd))
            entry[name] = summary(times)
            say(f"   {n:>6}: {name:<14} {fmt(entry[name])}")
        # One iptables command per rule: all of them where there are few, else a sample.
        times = []
        for i in range(runs if measured_all else 1):
            with Netns("fw") as ns:
                times.append(ns.timed("sh", str(d / "per-rule.sh")))
        count = min(sample, len(rules))
        per_cmd = statistics.median(times) / count
        entry["per_rule_sample"] = {"commands": count, "seconds": summary(times), "per_command": per_cmd}
        if measured_all:
            entry["per_rule_iptables"] = summary(times)
            say(f"   {n:>6}: per-rule iptables {fmt(entry['per_rule_iptables'])} (all {count} commands)")
        else:
            say(f"   {n:>6}: per-rule iptables sample: {count} commands in {statistics.median(times):.2f} s "
                f"({per_cmd * 1000:.2f} ms each)")
            if growth is None:
                growth = _per_rule_growth(d, ipt_out, rules, runs)
                res["firewall"]["per_rule_growth"] = growth
            entry["per_rule_iptables_linear"] = len(rules) * per_cmd
            # t(k) = t0 + slope * k for the k-th command; summed over the table's rules.
            slope = (growth["per_command_at_size"] - per_cmd) / growth["size"]
            entry["per_rule_iptables_model"] = len(rules) * per_cmd + max(slope, 0) * len(rules) ** 2 / 2
            say(f"   {n:>6}: per-rule iptables extrapolated: {entry['per_rule_iptables_linear']:.1f} s linear, "
                f"{entry['per_rule_iptables_model']:.1f} s with the measured growth")
        res["firewall"]["scales"][str(n)] = entry
        shutil.rmtree(d, ignore_errors=True)


def _per_rule_growth(d: Path, ipt_out: Path, rules: list[str], runs: int) -> dict:
    """The cost of one more `iptables -A` when the table already holds a full rules.v4."""
    extra = rules[:200]
    (d / "per-rule-more.sh").write_text(baselines.script(extra))
    times = []
    for i in range(runs):
        with Netns("fw") as ns:
            ns.timed("sh", "-c", f'iptables-restore -w --noflush < "{ipt_out}/rules.v4"')
            times.append(ns.timed("sh", str(d / "per-rule-more.sh")))
    per = statistics.median(times) / len(extra)
    say(f"          per-rule iptables with {len(rules)} rules loaded: {per * 1000:.2f} ms per command")
    return {"size": len(rules), "commands": len(extra), "per_command_at_size": per, "seconds": summary(times)}


# ------------------------------------------------------------------ whole apply

def _apply_timed(sb, out: Path) -> tuple[float, list[tuple[str, float]], str]:
    """Run apply.sh in the sandbox with progress lines: (seconds, [(step, seconds)], stderr tail)."""
    from netc.prove.sandbox import NETNS_DIR
    proc = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{sb.host}", "--", "sh", str(out / "apply.sh")],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=sb.env(NETC_PROGRESS="1"))
    start = last = time.perf_counter()
    steps: list[tuple[str, float]] = []
    name, tail = "checks before the first step", []
    for line in proc.stderr:
        now = time.perf_counter()
        if line.startswith("netc-progress "):
            steps.append((name, now - last))
            name, last = line.rstrip("\n").split(" ", 2)[2], now
        else:
            tail.append(line)
    rc = proc.wait()
    now = time.perf_counter()
    steps.append((name, now - last))
    if rc != 0:
        raise RuntimeError(f"apply.sh failed ({rc}):\n{''.join(tail)[-3000:]}")
    return now - start, steps, "".join(tail)


def section_apply(res: dict, scales: list[int], runs: int, backends: list[str]) -> None:
    from netc.prove.sandbox import Sandbox
    say("== apply: the whole apply.sh in a sandbox host namespace, then a re-apply of the same output")
    res["apply"] = {}
    for backend in backends:
        for n in scales:
            d = WORK / "apply" / f"{backend}-{n}"
            spec = fresh_spec(d, specs.scale(n))
            first, again, profiles = [], [], []
            for i in range(runs):
                sb = Sandbox(state_parent=str(WORK))  # in memory, as /run (apply's default) is on a real host
                try:
                    compile_to(spec, d / "out", backend, prefix=sb.prefix)
                    (d / "spec.lock").unlink(missing_ok=True)
                    t, steps, _ = _apply_timed(sb, d / "out")
                    first.append(t)
                    profiles.append((t, steps))
                    t2, _, _ = _apply_timed(sb, d / "out")
                    again.append(t2)
                    say(f"   {backend:<8} {n:>5} containers, run {i + 1}/{runs}: apply {t:.2f} s, re-apply {t2:.2f} s")
                finally:
                    sb.close()
            profiles.sort(key=lambda p: p[0])
            res["apply"][f"{backend}-{n}"] = {"backend": backend, "containers": n, "apply": summary(first),
                                              "reapply": summary(again),
                                              "steps_of_median_run": profiles[len(profiles) // 2][1]}
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ connection rate

def _objects_for_probe(out: Path) -> None:
    """Keep only what the two measured containers need: the rules stay whole."""
    keep = []
    for line in (out / "objects").read_text().splitlines():
        kind, *rest = line.split()
        if kind in ("bridge", "sysctl", "firewall"):
            keep.append(line)
        elif kind == "container" and rest[0] in (specs.SERVER, specs.CLIENT):
            keep.append(line)  # container NAME NETNS ...
        elif kind == "files" and rest[1] in (specs.SERVER, specs.CLIENT):
            keep.append(line)  # files NETNS NAME HASH
    (out / "objects").write_text("\n".join(keep) + "\n")


def section_connrate(res: dict, counts: list[int], runs: int, seconds: float, backends: list[str]) -> None:
    from netc.prove.sandbox import Sandbox
    say("== connrate: new connections per second, client -> server container through the host's bridge, "
        "with the rules of N other containers installed")
    res["connrate"] = {"seconds_per_run": seconds, "runs": runs, "results": {}}
    script = str(BENCH / "connrate.py")
    for backend in backends:
        for n in counts:
            d = WORK / "connrate" / f"{backend}-{n}"
            spec = fresh_spec(d, specs.probe(n))
            sb = Sandbox()
            server = None
            try:
                compile_to(spec, d / "out", backend, prefix=sb.prefix)
                _objects_for_probe(d / "out")
                _apply_timed(sb, d / "out")
                from netc import pipeline
                net = pipeline.load(str(spec), netns_prefix=sb.prefix).network
                srv, cli = net.container(specs.SERVER), net.container(specs.CLIENT)
                subprocess.run(["ip", "netns", "exec", cli.netns, "sh", "-c",
                                "echo 1024 65535 > /proc/sys/net/ipv4/ip_local_port_range"], check=True)
                server = subprocess.Popen(["ip", "netns", "exec", srv.netns, sys.executable, script, "serve",
                                           str(specs.SERVER_PORT)], stdout=subprocess.PIPE, text=True,
                                          stdin=subprocess.DEVNULL)
                if server.stdout.readline().strip() != "ready":
                    raise RuntimeError("connrate server did not start")
                rates = []
                for i in range(runs + 1):  # the first run warms up and is not counted
                    r = subprocess.run(["ip", "netns", "exec", cli.netns, sys.executable, script, "client",
                                        str(srv.address), str(specs.SERVER_PORT), str(seconds)],
                                       capture_output=True, text=True, check=True, timeout=seconds + 60)
                    rate, done, errors = r.stdout.split()
                    if int(errors):
                        raise RuntimeError(f"connrate: {errors} failed connections")
                    if i:
                        rates.append(float(rate))
                res["connrate"]["results"][f"{backend}-{n}"] = {"backend": backend, "others": n,
                                                                "rate": summary(rates)}
                say(f"   {backend:<8} {n:>6} other containers: median {statistics.median(rates):.0f} conn/s "
                    f"(min {min(rates):.0f}, max {max(rates):.0f})")
            finally:
                if server is not None:
                    server.kill()  # the process this run started, by its handle
                    server.wait()
                sb.close()
                shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ profile

def section_profile(res: dict, n: int) -> None:
    say(f"== profile: cProfile of `netc compile` at {n} containers, and its stages timed apart")
    res["profile"] = {}
    for where, d in (("memory", WORK / "profile"), ("disk", DISK_WORK / "profile")):
        fresh_spec(d, specs.scale(n))
        cmd = [sys.executable, str(BENCH / "profile_compile.py"), str(d / "spec.netc"), str(d / "out")]
        r = subprocess.run(cmd + ([] if where == "memory" else ["--stages-only"]),
                           capture_output=True, text=True, check=True)
        res["profile"][where] = json.loads(r.stdout)
        for k, v in res["profile"][where]["stages"].items():
            say(f"   output {where:<6} {k:<34} {v:.3f} s")
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ dual stack

def section_dualstack(res: dict, n: int, runs: int) -> None:
    """bench/dualstack.py's parts; they record the machine and command they ran under."""
    ds = res["dualstack"] = {"machine": machine(), "command": res.get("_command", "bench/run.py --only dualstack")}
    ds["compile"] = dualstack.section_compile(WORK, NETC, runs, say, n)
    ds["nft"] = dualstack.section_nft(WORK, NETC, runs, say, n)
    ds["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="netc's benchmark suite (make bench)")
    p.add_argument("--quick", action="store_true", help="small scales and one run each: a check of the suite")
    p.add_argument("--only", nargs="*", choices=["compile", "firewall", "apply", "connrate", "profile", "dualstack"])
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    q = args.quick
    plan = {
        "compile": lambda r: section_compile(r, [100, 1000] if q else [100, 1000, 10000, 50000], 1 if q else 3,
                                             [100, 1000] if q else [100, 1000, 10000]),
        "firewall": lambda r: section_firewall(r, [100, 1000] if q else [100, 1000, 10000, 50000],
                                               1 if q else 3, 300 if q else 1000),
        "apply": lambda r: section_apply(r, [100] if q else [100, 1000], 1 if q else 3, ["iptables", "nftables"]),
        "connrate": lambda r: section_connrate(r, [0, 1000] if q else [0, 10000, 50000], 2 if q else 5,
                                               1.0 if q else 2.0, ["iptables", "nftables"]),
        "profile": lambda r: section_profile(r, 1000 if q else 10000),
        "dualstack": lambda r: section_dualstack(r, 1000 if q else 10000, 2 if q else 5),
    }
    res = json.loads(RESULTS.read_text()) if args.only and RESULTS.exists() else {}
    command = "make bench" if not (q or args.only) else "bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if not (args.only and "machine" in res):  # `--only` adds to an earlier run: its header stays
        res["machine"] = machine()
        res["command"] = command
    if not args.only:
        res["quick"] = q
    res["_command"] = command
    global WORK
    WORK = memory_dir()
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for name, fn in plan.items():
            if args.only and name not in args.only:
                continue
            t = time.perf_counter()
            fn(res)
            res.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t, 1)
            if not args.only:
                res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
        shutil.rmtree(DISK_WORK, ignore_errors=True)
    if not args.only:
        res["total_seconds"] = round(time.perf_counter() - started, 1)
    res.pop("_command", None)
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    say(f"== done in {res['total_seconds']:.0f} s; raw figures in {RESULTS.relative_to(ROOT)}")
    if not args.no_report:
        import report
        report.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
