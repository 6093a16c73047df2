"""The benchmark suite behind `make bench` (as root: it needs network namespaces).

    .venv/bin/python bench/run.py [--quick] [--only SECTION ...]

Sections, each printing its progress:
    compile    wall time and peak RSS of `netc compile` at 100 to 50,000 containers
    firewall   loading N publishes and N links: netc's iptables and nftables
               backends, one `iptables` command per rule (sampled), one nft rule
               per entry, and a hand-written nft file with sets and maps
    apply      the whole apply.sh (namespaces, links, files, rules) at 100 and
               1,000 containers; then `netc plan` of the intact host (and `sh
               apply.sh --plan`, without Python), `netc apply` of the unchanged
               output and of the same spec with one container more, `netc teardown`
    disruption 20 re-applies of a changed spec (containers added and removed)
               while an open TCP connection through a publish and a new
               connection every 10 ms to an unchanged publish are watched
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
from nsutil import Netns, measured  # noqa: E402

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
    wall, usage = measured(cmd, **kw)
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

def _firewall_up(out: Path) -> list[str]:
    """The firewall object's up commands, exactly as `objects` writes them (the `sh` lines apply.sh
    runs for it, TREE being the tree), with netc-lib.sh's helpers: the load, not the engine's
    reading of the rest of the objects."""
    lines, mine = [], False
    for line in (out / "objects").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            mine = line.startswith("firewall ")
        elif mine and line.startswith("  up    sh "):
            lines.append(line[len("  up    sh "):])
    script = out / "firewall-up.sh"
    script.write_text(f'set -f\n. "{out}/netc-lib.sh"\nTREE="{out}"\nset -e\n' + "\n".join(lines) + "\n")
    return ["sh", str(script)]


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
            "netc_iptables": _firewall_up(ipt_out),
            "netc_nftables": _firewall_up(nft_out),
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

def _apply_timed(sb, out: Path, *args: str) -> tuple[float, list[tuple[str, float]], str]:
    """Run apply.sh (or teardown.sh, or apply.sh --plan) in the sandbox with progress lines:
    (seconds, [(step, seconds)], stderr tail)."""
    from netc.prove.sandbox import NETNS_DIR
    script = args[0] if args and args[0].endswith(".sh") else "apply.sh"
    rest = [a for a in args if not a.endswith(".sh")]
    proc = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{sb.host}", "--", "sh", str(out / script), *rest],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=sb.env(NETC_PROGRESS="1"))
    start = last = time.perf_counter()
    steps: list[tuple[str, float]] = []
    name, tail = "observe, compare, check (before the first step)", []
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
        raise RuntimeError(f"{script} {' '.join(rest)} failed ({rc}):\n{''.join(tail)[-3000:]}")
    return now - start, steps, "".join(tail)


def _netc_timed(sb, *args: str, ok: tuple[int, ...] = (0,)) -> float:
    """Seconds of one `netc ARGS` in the sandbox host (as a user runs it)."""
    from netc.prove.sandbox import NETNS_DIR
    start = time.perf_counter()
    r = subprocess.run(["nsenter", f"--net={NETNS_DIR}/{sb.host}", "--", NETC, *args], capture_output=True,
                       text=True, env=sb.env())
    took = time.perf_counter() - start
    if r.returncode not in ok:
        raise RuntimeError(f"netc {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return took


def section_apply(res: dict, scales: list[int], runs: int, backends: list[str]) -> None:
    from netc.prove.sandbox import Sandbox
    say("== apply: the whole apply.sh in a sandbox host namespace; plan of the intact host; a re-apply of the"
        " same output; the output with one container more; teardown")
    res["apply"] = {}
    for backend in backends:
        for n in scales:
            d = WORK / "apply" / f"{backend}-{n}"
            spec = fresh_spec(d, specs.scale(n))
            plus = fresh_spec(d / "plus", specs.scale(n + 1))
            times: dict[str, list[float]] = {k: [] for k in ("apply", "plan", "plan_sh", "reapply", "add_one",
                                                             "teardown")}
            profiles = []
            for i in range(runs):
                sb = Sandbox(state_parent=str(WORK))  # in memory, as /run (apply's default) is on a real host
                try:
                    (d / "spec.lock").unlink(missing_ok=True)
                    compile_to(spec, d / "out", backend, prefix=sb.prefix)
                    # the same lock: the n containers keep their addresses and ports
                    shutil.copy(d / "spec.lock", d / "plus" / "spec.lock")
                    compile_to(plus, d / "plus" / "out", backend, prefix=sb.prefix)
                    t, steps, _ = _apply_timed(sb, d / "out")
                    times["apply"].append(t)
                    profiles.append((t, steps))
                    times["plan"].append(_netc_timed(sb, "plan", str(d / "out")))
                    times["plan_sh"].append(_apply_timed(sb, d / "out", "--plan")[0])
                    times["reapply"].append(_netc_timed(sb, "apply", str(d / "out")))
                    times["add_one"].append(_netc_timed(sb, "apply", str(d / "plus" / "out")))
                    times["teardown"].append(_netc_timed(sb, "teardown", str(d / "plus" / "out")))
                    say(f"   {backend:<8} {n:>5} containers, run {i + 1}/{runs}: "
                        + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
                finally:
                    sb.close()
            profiles.sort(key=lambda p: p[0])
            res["apply"][f"{backend}-{n}"] = {"backend": backend, "containers": n,
                                              **{k: summary(v) for k, v in times.items()},
                                              "steps_of_median_run": profiles[len(profiles) // 2][1]}
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ disruption

def section_disruption(res: dict, others: int, reapplies: int, backends: list[str]) -> None:
    """Re-apply a changed spec (half of `others` containers removed, as many added, each time)
    while traffic to a container that does not change is watched from outside."""
    from netc import pipeline
    from netc.prove.sandbox import HOST_IP, NETNS_DIR, Sandbox
    say(f"== disruption: {reapplies} re-applies of a changed spec ({others // 2} containers added and "
        f"{others // 2} removed each time) while traffic to an unchanged publish is watched")
    res["disruption"] = {"others": others, "reapplies": reapplies, "results": {}}
    script = str(BENCH / "disrupt.py")
    for backend in backends:
        d = WORK / "disruption" / backend
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        sb = Sandbox(state_parent=str(WORK))
        server = watcher = None
        try:
            spec = d / "spec.netc"
            outs = []
            for k, first in enumerate((0, others // 2)):   # one lock: what both keep keeps its address
                spec.write_text(specs.churn(others, first))
                compile_to(spec, d / f"out{k}", backend, prefix=sb.prefix)
                outs.append(d / f"out{k}")
            _apply_timed(sb, outs[0])
            keep = pipeline.load(str(spec), netns_prefix=sb.prefix).network.container(specs.KEEP)
            server = subprocess.Popen(["ip", "netns", "exec", keep.netns, sys.executable, script, "serve",
                                       str(specs.HOLD_PORT), str(specs.NEW_PORT)], stdout=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True)
            if server.stdout.readline().strip() != "ready":
                raise RuntimeError("disruption: the server did not start")
            watcher = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{sb.outside}", "--", sys.executable, script,
                                        "watch", HOST_IP, str(specs.HOLD_PORT), str(specs.NEW_PORT)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if watcher.stdout.readline().strip() != "ready":
                raise RuntimeError("disruption: the watcher did not start")
            time.sleep(0.5)
            took = []
            for i in range(reapplies):
                took.append(_apply_timed(sb, outs[(i + 1) % 2])[0])
            time.sleep(0.5)
            watcher.stdin.close()
            seen = json.loads(watcher.stdout.readline())
            watcher.wait()
            watcher = None
            res["disruption"]["results"][backend] = {**seen, "apply": summary(took)}
            say(f"   {backend:<8}: {reapplies} re-applies ({fmt(summary(took))}); held connection: "
                f"{seen['held_lines']} lines, {seen['held_failures']} failed; new connections: "
                f"{seen['new_connections']}, {seen['new_failures']} failed"
                + (f"; {seen['failures'][:3]}" if seen["failures"] else ""))
        finally:
            for p in (watcher, server):
                if p is not None:
                    p.kill()   # the processes this run started, by their handles
                    p.wait()
            sb.close()
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ connection rate

def _objects_for_probe(out: Path, prefix: str) -> None:
    """Keep only the objects the two measured containers need: the rules stay whole."""
    mine = {f"{prefix}{specs.SERVER}", f"{prefix}{specs.CLIENT}"}
    head, *sections = (out / "objects").read_text().split("\n\n")
    keep = [head]
    for section in sections:
        lines = section.splitlines()
        kind, ident = lines[0].split()
        namespaces = {ident} | {l.split()[2] for l in lines if l.startswith("  need  netns ")}
        if kind in ("bridge", "sysctl", "firewall") or namespaces & mine:
            keep.append(section)
    (out / "objects").write_text("\n\n".join(keep).rstrip("\n") + "\n")


def section_connrate(res: dict, counts: list[int], runs: int, seconds: float, backends: list[str],
                     ipv6: bool = False, alternate: bool = False) -> None:
    """ipv6: every container dual stack, the connections in IPv6 (the dual-stack section's part).
    alternate: the sandboxes of every count are set up first and measured by turns, run by run,
    so that each count sees the same load (else one count after the other)."""
    say(f"== connrate{' in IPv6' if ipv6 else ''}: new connections per second, client -> server container "
        "through the host's bridge, with the rules of N other containers installed"
        + (" (counts by turns)" if alternate else ""))
    res["connrate"] = {"seconds_per_run": seconds, "runs": runs, "alternated": alternate, "results": {}}
    for backend in backends:
        groups = [counts] if alternate else [[n] for n in counts]
        for group in groups:
            setups: list[dict] = []
            try:
                for n in group:
                    setups.append(_connrate_setup(backend, n, ipv6))
                rates: dict[int, list[float]] = {n: [] for n in group}
                for i in range(runs + 1):  # the first run warms up and is not counted
                    for e in setups:
                        r = subprocess.run(["ip", "netns", "exec", e["client"], sys.executable,
                                            str(BENCH / "connrate.py"), "client", e["address"],
                                            str(specs.SERVER_PORT), str(seconds)],
                                           capture_output=True, text=True, check=True, timeout=seconds + 60)
                        rate, done, errors = r.stdout.split()
                        if int(errors):
                            raise RuntimeError(f"connrate: {errors} failed connections")
                        if i:
                            rates[e["n"]].append(float(rate))
                for n in group:
                    res["connrate"]["results"][f"{backend}-{n}"] = {"backend": backend, "others": n,
                                                                    "rate": summary(rates[n])}
                    say(f"   {backend:<8} {n:>6} other containers: median {statistics.median(rates[n]):.0f} conn/s "
                        f"(min {min(rates[n]):.0f}, max {max(rates[n]):.0f})")
            finally:
                for e in setups:
                    e["server"].kill()  # the process this run started, by its handle
                    e["server"].wait()
                    e["sandbox"].close()
                    shutil.rmtree(e["dir"], ignore_errors=True)


def _connrate_setup(backend: str, n: int, ipv6: bool) -> dict:
    """A sandbox with the rules of N other containers and the two measured ones, its server started."""
    from netc.prove.sandbox import Sandbox
    d = WORK / "connrate" / f"{backend}-{n}"
    spec = fresh_spec(d, specs.probe(n, ipv6=ipv6))
    sb = Sandbox(state_parent=str(WORK))   # the record of N containers' files: in memory, quick to remove
    try:
        compile_to(spec, d / "out", backend, prefix=sb.prefix)
        _objects_for_probe(d / "out", sb.prefix)
        _apply_timed(sb, d / "out")
        from netc import pipeline
        net = pipeline.load(str(spec), netns_prefix=sb.prefix).network
        srv, cli = net.container(specs.SERVER), net.container(specs.CLIENT)
        subprocess.run(["ip", "netns", "exec", cli.netns, "sh", "-c",
                        "echo 1024 65535 > /proc/sys/net/ipv4/ip_local_port_range"], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", srv.netns, sys.executable, str(BENCH / "connrate.py"),
                                   "serve", str(specs.SERVER_PORT), *(["6"] if ipv6 else [])],
                                  stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    except BaseException:
        sb.close()
        shutil.rmtree(d, ignore_errors=True)
        raise
    if server.stdout.readline().strip() != "ready":
        server.kill()  # the process this run started, by its handle
        server.wait()
        sb.close()
        raise RuntimeError("connrate server did not start")
    return {"n": n, "sandbox": sb, "server": server, "dir": d, "client": cli.netns,
            "address": str(srv.address6 if ipv6 else srv.address)}


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

def section_dualstack(res: dict, n: int, runs: int, others: list[int], seconds: float) -> None:
    """bench/dualstack.py's parts, and the connection rate in IPv6 (section_connrate's, dual
    stack); they record the machine and command they ran under."""
    ds = res["dualstack"] = {"machine": machine(), "command": res.get("_command", "bench/run.py --only dualstack")}
    ds["compile"] = dualstack.section_compile(WORK, NETC, runs, say, n)
    ds["nft"] = dualstack.section_nft(WORK, NETC, runs, say, n)
    section_connrate(ds, others, runs, seconds, ["iptables", "nftables"], ipv6=True, alternate=True)
    ds["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="netc's benchmark suite (make bench)")
    p.add_argument("--quick", action="store_true", help="small scales and one run each: a check of the suite")
    p.add_argument("--only", nargs="*", choices=["compile", "firewall", "apply", "disruption", "connrate", "profile",
                                                 "dualstack"])
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
        "disruption": lambda r: section_disruption(r, 40 if q else 100, 4 if q else 20, ["iptables", "nftables"]),
        "connrate": lambda r: section_connrate(r, [0, 1000] if q else [0, 10000, 50000], 2 if q else 5,
                                               1.0 if q else 2.0, ["iptables", "nftables"]),
        "profile": lambda r: section_profile(r, 1000 if q else 10000),
        "dualstack": lambda r: section_dualstack(r, 1000 if q else 10000, 2 if q else 5,
                                                 [0, 1000] if q else [0, 50000], 1.0 if q else 2.0),
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
