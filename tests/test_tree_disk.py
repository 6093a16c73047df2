"""compile on a disk that fills up, a read-only disk, and under SIGKILL: the previous tree
stays byte-identical, nothing temporary stays behind, and the error names the path and
the reason. Each test works in a small tmpfs of its own mount namespace (mountns.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT
from mountns import tmpfs
from test_tree import NEW_SPEC, SPEC, add_foreign, files

NETC = str(Path(sys.executable).parent / "netc")
BIGGER = NEW_SPEC + "".join(f"container more{i} {{ publish {7000 + i}:80 }}\n" for i in range(30))
PAGE = 4096


def _reference(tmp_path: Path, text: str) -> dict[str, bytes]:
    """The tree a compile of TEXT into an empty folder gives (the spec named spec.netc)."""
    (tmp_path / "ref").mkdir()
    spec = tmp_path / "ref" / "spec.netc"
    spec.write_text(text)
    r = subprocess.run([NETC, "compile", str(spec), "-o", str(tmp_path / "ref" / "out")], capture_output=True)
    assert r.returncode == 0
    return files(tmp_path / "ref" / "out")


def _old_tree(fs) -> tuple[dict[str, bytes], dict[str, bytes], bytes]:
    """An output tree of SPEC with a user's files in it: (everything, the user's files, the lock)."""
    fs.path("spec.netc").write_text(SPEC)
    fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"), check=True)
    foreign = add_foreign(fs.path("out"), lambda: fs.run("git", "init", "-q", fs.at("out"), check=True))
    return files(fs.path("out")), foreign, fs.path("spec.lock").read_bytes()


def _leftovers(fs) -> list[str]:
    return [p.name for p in fs.path().rglob("*") if "netc-tmp" in p.name]


def _assert_unchanged(fs, before, lock, r, reason: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert reason in r.stderr and fs.at() in r.stderr, r.stderr      # the reason, and the path
    assert files(fs.path("out")) == before
    assert fs.path("spec.lock").read_bytes() == lock
    assert _leftovers(fs) == [], _leftovers(fs)


def test_a_disk_that_fills_up_at_any_point_leaves_the_previous_tree(tmp_path):
    want = _reference(tmp_path, BIGGER)
    with tmpfs(size="2M") as fs:
        before, foreign, lock = _old_tree(fs)
        fs.path("spec.netc").write_text(BIGGER)
        filler = fs.path("filler")
        with open(filler, "wb") as f:           # the disk full: then free PAGES pages a run
            f.write(b"\0" * fs.free()[0])
        size = filler.stat().st_size
        failures = 0
        for pages in list(range(0, 150, 5)) + list(range(150, 400, 2)):
            with open(filler, "r+b") as f:
                f.truncate(max(0, size - pages * PAGE))
            r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"))
            if r.returncode == 0:
                break
            _assert_unchanged(fs, before, lock, r, "No space left on device")
            failures += 1
        else:
            raise AssertionError("the compile never fitted")
        assert failures >= 20, failures
        after = files(fs.path("out"))
        assert {k: v for k, v in after.items() if k in foreign} == foreign
        assert {k: v for k, v in after.items() if k not in foreign} == want
        assert fs.path("spec.lock").read_bytes() != lock and _leftovers(fs) == []


def test_running_out_of_inodes_at_any_point_leaves_the_previous_tree(tmp_path):
    want = _reference(tmp_path, BIGGER)
    with tmpfs(size="64M", nr_inodes=600) as fs:
        before, foreign, lock = _old_tree(fs)
        fs.path("spec.netc").write_text(BIGGER)
        fs.path("fill").mkdir()
        count = fs.free()[1]
        for i in range(count):                  # every inode taken: then free SPARE of them a run
            fs.path(f"fill/{i}").touch()
        failures = 0
        for spare in range(0, 300, 5):
            for i in range(max(0, spare - 5), spare):
                fs.path(f"fill/{i}").unlink(missing_ok=True)
            r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"))
            if r.returncode == 0:
                break
            _assert_unchanged(fs, before, lock, r, "No space left on device")
            failures += 1
        else:
            raise AssertionError("the compile never fitted")
        assert failures >= 20, failures
        after = files(fs.path("out"))
        assert {k: v for k, v in after.items() if k not in foreign and not k.startswith("fill")} == want


def test_a_read_only_folder_is_an_error_that_changes_nothing():
    with tmpfs() as fs:
        before, _, lock = _old_tree(fs)
        fs.path("spec.netc").write_text(BIGGER)
        fs.run("mount", "-o", "remount,ro", fs.at(), check=True)
        r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"))
        _assert_unchanged(fs, before, lock, r, "Read-only file system")
        r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("new-out"))
        assert r.returncode == 2 and "Read-only file system" in r.stderr and fs.at("new-out") in r.stderr


def test_a_read_only_part_of_the_tree_fails_the_swap_which_is_undone():
    """containers/ read-only (a bind mount): the new tree stages fine, and the swap fails
    half-way, after other entries moved; every rename is undone."""
    with tmpfs() as fs:
        before, _, lock = _old_tree(fs)
        fs.path("spec.netc").write_text(BIGGER)
        folder = fs.at("out/containers")
        fs.run("mount", "--bind", folder, folder, check=True)
        fs.run("mount", "-o", "remount,bind,ro", folder, check=True)
        r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"))
        assert "containers" in r.stderr
        _assert_unchanged(fs, before, lock, r, "unchanged")


def test_sigkill_during_a_large_compile_leaves_the_previous_tree():
    """A compile of 3,000 containers (9,000 files, written by two processes) killed at
    several moments: the previous tree is intact each time (or, killed after its commit,
    the new one is whole), and the next compile succeeds and leaves nothing temporary."""
    sys.path.insert(0, str(ROOT / "bench"))
    import gen
    with tmpfs(size="512M") as fs:
        before, foreign, _ = _old_tree(fs)
        fs.path("big.netc").write_text(gen.generate(3000))
        start = time.monotonic()
        fs.run(NETC, "compile", fs.at("big.netc"), "-o", fs.at("timing"), check=True)
        whole = time.monotonic() - start
        killed = intact = 0
        for fraction in (0.2, 0.4, 0.6, 0.8, 0.95):
            p = subprocess.Popen(["nsenter", f"--mount=/proc/{fs.proc.pid}/ns/mnt", "--",
                                  NETC, "compile", fs.at("big.netc"), "-o", fs.at("out")],
                                 stderr=subprocess.DEVNULL)
            time.sleep(whole * fraction)
            p.send_signal(signal.SIGKILL)   # the process this test started (nsenter execs netc)
            p.wait()
            killed += p.returncode == -signal.SIGKILL
            # Killed while it staged (nearly all of the time): the tree is the previous one as it
            # stands. Killed during the few renames of the swap: the next compile rolls them back.
            now = {k: v for k, v in files(fs.path("out")).items() if not k.startswith(".netc-tmp/")}
            intact += now == before
            r = fs.run(NETC, "compile", fs.at("spec.netc"), "-o", fs.at("out"))
            assert r.returncode == 0, r.stderr
            assert files(fs.path("out")) == before, f"the tree changed after a kill at {fraction}"
            assert _leftovers(fs) == []
        assert killed >= 3 and intact >= 3, (killed, intact)
        r = fs.run(NETC, "compile", fs.at("big.netc"), "-o", fs.at("out"))
        assert r.returncode == 0, r.stderr
        after = files(fs.path("out"))
        assert {k: v for k, v in after.items() if k in foreign} == foreign
        assert "containers/c02999/hosts" in after and _leftovers(fs) == []
