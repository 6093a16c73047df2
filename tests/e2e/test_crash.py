"""A run that dies, is interrupted, runs out of room or races another, in a real kernel.

Every case ends the same way: the next run leaves the host exactly as a clean
run would (the sandbox's full snapshot: links, addresses and routes in every
namespace, namespaces, files, sysctls, the firewall, netc's state folder), and
nothing of a dead run is left behind. The SIGKILL matrices kill the whole
process group of apply.sh or teardown.sh at moments spread over their steps
(a step's progress line, then a delay), on 200 containers.

`make test` shares each matrix between the two backends: iptables takes its even
moments, nftables its odd ones, and both take the moments in the firewall step (where
the backends differ), so every moment is still killed at once per run. NETC_LONG=1
(`make test-long`) runs every moment on both backends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from netc.prove.sandbox import NETNS_DIR, Sandbox
from util import compile_for

BACKENDS = ["iptables", "nftables"]
LONG = os.environ.get("NETC_LONG", "") not in ("", "0")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import gen  # noqa: E402  (bench/gen.py: the benchmark's deterministic specs)


def spec(n: int, drop: range = range(0)) -> str:
    """bench/gen.py's n containers (half publish, half link to an earlier one), without those in DROP
    (and their links): the same containers keep the same names, addresses and ports."""
    text = gen.generate(n)
    if not drop:
        return text
    gone = {f"c{i:05d}" for i in drop}
    blocks, out = text.split("\ncontainer "), []
    for block in blocks[1:]:
        name = block.split()[0]
        if name in gone:
            continue
        out.append("\n".join(line for line in block.splitlines() if not any(f"link {g}" in line for g in gone)))
    return blocks[0] + "".join("\ncontainer " + b for b in out) + "\n"


def start(box: Sandbox, out: Path, script: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", "sh", str(out / script)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=box.env(NETC_PROGRESS="1", **env), start_new_session=True)


def kill_at(box: Sandbox, out: Path, script: str, step: int, delay: float, **env: str) -> str:
    """Run SCRIPT and SIGKILL its whole process group `delay` seconds after step STEP begins."""
    p = start(box, out, script, **env)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith("netc-progress ") and int(line.split()[1]) == step:
            time.sleep(delay)
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the group of the run this test started
            except ProcessLookupError:
                pass
            break
    p.wait()
    p.stderr.close()
    assert p.returncode == -signal.SIGKILL, f"the run ended before step {step}+{delay}s:\n{''.join(seen)}"
    return "".join(seen)


def recovered(stderr: str) -> bool:
    """The next run says it found the run that died, and what it did about it."""
    return "died half-way: rolling back" in stderr or "died while it recorded its work" in stderr


@pytest.fixture(autouse=True)
def own_tmpdir(tmp_path_factory, monkeypatch):
    """Each test's runs make their scratch folders in a folder of the test's own, so that
    netc runs of other processes on this machine (another suite, a developer's apply) are
    not counted as this test's leftovers."""
    tmp = tmp_path_factory.mktemp("scratch")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield


def scratch() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("netc-work.")}


def leftovers(box: Sandbox, scratch_before: set[str]) -> list[str]:
    """What runs left in the state folder besides the record, and their scratch folders."""
    state = sorted(p.name for p in box.state.iterdir()) if box.state.exists() else []
    return [p for p in state if p not in ("current", "saved")] + sorted(scratch() - scratch_before)


# Moments: (step, seconds after its progress line). Apply of 200 containers:
# 1 bridge, 2 sysctls, 3 namespaces, 4 veths, 5 files, 6 firewall, 7 record.
APPLY_MOMENTS = [(1, 0), (2, 0), (3, 0), (3, 0.02), (4, 0), (4, 0.03), (4, 0.12), (5, 0.01), (6, 0.01), (7, 0)]
# An update 200 -> 250 with 20 removed: removals (files, veths, namespaces), then
# namespaces, veths, files (new ones and the hosts files that lose a link), firewall, record.
UPDATE_MOMENTS = [(1, 0), (2, 0), (3, 0), (3, 0.01), (4, 0), (5, 0), (5, 0.02), (6, 0.01), (7, 0), (8, 0)]
# Teardown: 1 firewall, 2 files, 3 veths (with their namespaces), 4 namespaces, 5 sysctls, 6 bridge.
TEARDOWN_MOMENTS = [(1, 0), (2, 0), (2, 0.01), (3, 0), (4, 0), (4, 0.01), (5, 0), (6, 0), (1, 0.01), (3, 0.01)]


APPLY_FIREWALL, UPDATE_FIREWALL = 6, 7   # the firewall's step in the apply and in the update


def step_name(progress: str, step: int) -> str:
    """What a run's progress lines call STEP ("make 1 firewall object(s)")."""
    prefix = f"netc-progress {step} "
    return next((line[len(prefix):].strip() for line in progress.splitlines() if line.startswith(prefix)), "")


def moments_for(moments: list[tuple[int, float]], backend: str, firewall: int) -> list[tuple[int, tuple[int, float]]]:
    """(index, moment) of MOMENTS this backend kills at: all of them under NETC_LONG=1; else the even
    ones (iptables) or the odd ones (nftables), and on both those of step FIREWALL."""
    parity = BACKENDS.index(backend)
    return [(i, m) for i, m in enumerate(moments) if LONG or i % 2 == parity or m[0] == firewall]


def test_the_backends_share_every_moment_of_the_matrices():
    """Whatever the sample, each moment is killed on at least one backend, the firewall's on both."""
    for moments, firewall in ((APPLY_MOMENTS, APPLY_FIREWALL), (UPDATE_MOMENTS, UPDATE_FIREWALL)):
        taken = [{i for i, _ in moments_for(moments, b, firewall)} for b in BACKENDS]
        assert set().union(*taken) == set(range(len(moments)))
        assert all({i for i, m in enumerate(moments) if m[0] == firewall} <= t for t in taken)
    assert {TEARDOWN_MOMENTS[i % len(TEARDOWN_MOMENTS)] for b in BACKENDS
            for i, _ in moments_for(APPLY_MOMENTS, b, APPLY_FIREWALL)} == set(TEARDOWN_MOMENTS)


@pytest.fixture
def box():
    from netns import require_namespaces
    require_namespaces()
    b = Sandbox(state_parent="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        yield b
    finally:
        b.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_of_apply_or_teardown_at_any_moment_is_recovered(box, tmp_path, backend):
    """SIGKILL of apply at 10 moments of a 200-container apply, each followed by SIGKILL of
    teardown at one of 10 moments: the next apply recovers (rolls back) and applies, equal to a
    fresh apply; the next teardown finishes, equal to before. (The moments of this backend:
    moments_for.)"""
    out, _ = compile_for(box, tmp_path, spec(200), backend)
    was = scratch()
    before = box.snapshot()
    assert box.apply(out).returncode == 0
    fresh = box.snapshot()
    assert box.teardown(out).returncode == 0
    assert box.snapshot() == before
    for i, (step, delay) in moments_for(APPLY_MOMENTS, backend, APPLY_FIREWALL):
        died = kill_at(box, out, "apply.sh", step, delay)
        assert step != APPLY_FIREWALL or "firewall" in step_name(died, step), died
        r = box.apply(out)
        assert r.returncode == 0 and recovered(r.stderr), r.stderr
        assert box.snapshot() == fresh, f"state differs from a fresh apply after SIGKILL at step {step}+{delay}s"
        assert leftovers(box, was) == [], f"left behind after SIGKILL at step {step}+{delay}s"
        tstep, tdelay = TEARDOWN_MOMENTS[i % len(TEARDOWN_MOMENTS)]
        kill_at(box, out, "teardown.sh", tstep, tdelay)
        r = box.teardown(out)
        assert r.returncode == 0 and "did not finish: finishing it first" in r.stderr, r.stderr
        assert box.snapshot() == before, f"state differs from before after SIGKILL of teardown at {tstep}+{tdelay}s"
        assert not box.state.exists(), "teardown leaves the state folder behind"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_of_an_update_at_any_moment_is_recovered(box, tmp_path, backend):
    """200 containers applied, then an update to 250 with 20 of the first removed, killed at 10
    moments: the next apply of the update equals a fresh apply of it; then back to the 200 (an
    update too), and at the end teardown equals before. (These runs read the namespaces as
    `netc apply` does, from one process: NETC_OBSERVE_NS. The moments of this backend: moments_for.)"""
    first, _ = compile_for(box, tmp_path / "200", spec(200), backend)
    (tmp_path / "250").mkdir()   # the same lock: the containers kept keep their addresses and ports
    (tmp_path / "250" / "spec.lock").write_text((tmp_path / "200" / "spec.lock").read_text())
    second, _ = compile_for(box, tmp_path / "250", spec(250, drop=range(20, 40)), backend)
    fast = {"NETC_OBSERVE_NS": f"{sys.executable} -m netc.host.observe"}
    was = scratch()
    before = box.snapshot()
    assert box.apply(second, **fast).returncode == 0
    fresh = box.snapshot()
    assert box.teardown(second).returncode == 0
    assert box.apply(first, **fast).returncode == 0
    for _, (step, delay) in moments_for(UPDATE_MOMENTS, backend, UPDATE_FIREWALL):
        died = kill_at(box, second, "apply.sh", step, delay, **fast)
        assert step != UPDATE_FIREWALL or "firewall" in step_name(died, step), died
        r = box.apply(second, **fast)
        assert r.returncode == 0 and recovered(r.stderr), r.stderr
        assert box.snapshot() == fresh, f"state differs from a fresh apply after SIGKILL at step {step}+{delay}s"
        assert leftovers(box, was) == []
        r = box.apply(first, **fast)   # back to the 200, for the next moment
        assert r.returncode == 0, r.stderr
    r = box.teardown(first)
    assert r.returncode == 0, r.stderr
    assert box.snapshot() == before
    assert not box.state.exists()


def _signals_as_on_a_terminal() -> None:
    """The run starts with SIGINT and SIGHUP at their defaults, as from a shell on a terminal: a
    suite started under nohup or with `&` passes them on ignored, and a shell cannot trap a
    signal ignored on entry (POSIX), nor does netc take one over (nohup means it)."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize("how,backend", [(f"netc {s}", b) for s in ("SIGTERM", "SIGINT", "SIGHUP") for b in BACKENDS]
                         + [("sh SIGTERM", "iptables"), ("sh SIGINT", "nftables"), ("group SIGHUP", "iptables")])
def test_a_signal_rolls_back_and_releases_the_lock(box, tmp_path, backend, how):
    """SIGTERM/SIGINT/SIGHUP to `netc apply` (which passes it on), to `sh apply.sh`, or to the
    whole group (a lost SSH session): exit 1, 'rolled back', the state of before, and the next
    apply succeeds at once (no lock left)."""
    via, name = how.split()
    sig = getattr(signal, name)
    out, _ = compile_for(box, tmp_path, spec(30), backend)
    was = scratch()
    before = box.snapshot()
    if via == "netc":
        cmd = [str(Path(sys.executable).parent / "netc"), "apply", str(out)]
    else:
        cmd = ["sh", str(out / "apply.sh")]
    p = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", *cmd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=box.env(NETC_PROGRESS="1"), start_new_session=True,
                         preexec_fn=_signals_as_on_a_terminal)
    if via == "netc":   # netc reads the progress lines: signal it once the veths are being made
        for _ in range(400):
            if (box.state / "journal").exists() and "veth" in (box.state / "journal").read_text():
                break
            time.sleep(0.01)
        os.kill(p.pid, sig)
        err = p.stderr.read()
    else:
        err = ""
        for line in p.stderr:
            err += line
            if line.startswith("netc-progress ") and "veth" in line:
                time.sleep(0.02)
                os.killpg(p.pid, sig) if via == "group" else os.kill(p.pid, sig)
                break
        err += p.stderr.read()
    p.wait()
    assert p.returncode == 1, err
    assert "rolled back" in err and "interrupted" in err, err
    assert box.snapshot() == before
    assert leftovers(box, was) == [] and not (box.state / "lock").exists()
    start_time = time.monotonic()
    r = box.apply(out)
    assert r.returncode == 0 and "waiting" not in r.stderr and "died" not in r.stderr, r.stderr
    assert time.monotonic() - start_time < 60


def test_netc_apply_never_lets_the_script_die_of_a_closed_pipe(box, tmp_path):
    """netc apply killed outright (its pipe closed under the script): the script, in a session of
    its own, goes on to the end, and the host is applied whole, not half-built."""
    out, _ = compile_for(box, tmp_path, spec(60))
    assert box.apply(out).returncode == 0
    applied = box.snapshot()
    assert box.teardown(out).returncode == 0
    p = subprocess.Popen(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", str(Path(sys.executable).parent / "netc"),
                          "apply", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=box.env(), start_new_session=True)
    for _ in range(400):
        if (box.state / "journal").exists():
            break
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)   # netc only: the script is in a session of its own
    p.wait()
    p.stderr.close()                 # nobody reads the script's messages any more
    for _ in range(600):
        if not (box.state / "lock").exists():
            break
        time.sleep(0.1)
    assert not (box.state / "lock").exists(), "the script did not finish"
    assert box.snapshot() == applied


@pytest.mark.parametrize("first", ["apply", "teardown"])
def test_apply_racing_teardown_ends_with_whichever_ran_last(box, tmp_path, first):
    out, _ = compile_for(box, tmp_path, spec(40))
    before = box.snapshot()
    assert box.apply(out).returncode == 0
    applied = box.snapshot()
    other = "teardown" if first == "apply" else "apply"
    for delay in (0, 0.03, 0.1, 0.3):
        assert (box.apply(out) if first == "teardown" else box.teardown(out)).returncode == 0
        a = start(box, out, f"{first}.sh")
        time.sleep(delay)
        b = start(box, out, f"{other}.sh")
        ends: dict[str, float] = {}
        while len(ends) < 2:
            for name, p in ((first, a), (other, b)):
                if name not in ends and p.poll() is not None:
                    ends[name] = time.monotonic()
            time.sleep(0.005)
        errs = {first: a.stderr.read(), other: b.stderr.read()}
        a.stderr.close()
        b.stderr.close()
        assert a.returncode == 0 and b.returncode == 0, errs
        assert not any("error" in e for e in errs.values()), errs
        last = max(ends, key=ends.get)
        assert box.snapshot() == (applied if last == "apply" else before), f"{first} then {other} after {delay} s"


def test_a_waiting_run_names_the_holder_and_gives_up_after_the_timeout(box, tmp_path):
    out, _ = compile_for(box, tmp_path, spec(5))
    box.state.mkdir(exist_ok=True)
    lock = box.state / "lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])   # holds the lock as a run would
    try:
        for _ in range(100):
            if lock.exists():
                break
            time.sleep(0.01)
        lock.write_text(f"{holder.pid} apply -\n")
        before = box.snapshot()
        r = box.apply(out, NETC_LOCK_TIMEOUT="2")
        assert r.returncode == 1
        assert f"waiting for the netc apply (pid {holder.pid})" in r.stderr, r.stderr
        assert f"the netc apply (pid {holder.pid}) still holds" in r.stderr, r.stderr
        assert box.snapshot() == before
    finally:
        holder.kill()   # the process this test started
        holder.wait()
    lock.unlink()
    assert box.apply(out).returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_state_folder_never_ends_in_a_false_rollback(tmp_path, backend):
    """The state folder on a tmpfs of many sizes, from too small for the record to room to
    spare: apply either succeeds, or fails with the host as it was; 'rolled back' is said only
    when that is true."""
    from netns import require_namespaces
    require_namespaces()

    def one(size: str) -> tuple[int, str]:
        mnt = tempfile.mkdtemp(prefix="netc-tmpfs-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt], check=True)
        try:
            b = Sandbox(state_parent=mnt)
            try:
                out, _ = compile_for(b, tmp_path / size, spec(40), backend)
                before = b.snapshot()
                r = b.apply(out)
                st = os.statvfs(mnt)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                if r.returncode == 0:
                    assert "applied" in r.stderr
                    assert b.teardown(out).returncode == 0
                else:
                    assert r.returncode == 1 and ("rolled back" in r.stderr or "nothing was changed" in r.stderr), \
                        r.stderr
                assert b.snapshot() == before, f"size {size}: {r.stderr}"
                return r.returncode, used
            finally:
                b.close()
        finally:
            subprocess.run(["umount", mnt], check=True)
            os.rmdir(mnt)

    rc, need = one("64m")           # room to spare: how much the record takes
    assert rc == 0
    outcomes = [one(s)[0] for s in ("16k", str(need // 2))]
    outcomes += [one(str(need + k * 4096))[0] for k in range(0, 4)]   # the journal, then the firewall's digest
    assert 1 in outcomes and 0 in outcomes
