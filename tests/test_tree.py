"""The output tree on disk (emit/tree.py, emit/manifest.py): compile writes only what it
owns, never loses a file, and replaces the tree atomically.

Failures are injected where they happen for real: a rename that fails (or a signal)
at every step of the swap, a process killed (os._exit in a forked child, SIGKILL of
a large compile) at every step, two compiles at once. The tests that fill a disk and
write to a read-only one mount a small tmpfs in a throwaway mount namespace
(tests/mountns.py) and are in test_tree_disk.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import netc, write_spec
from netc.emit import manifest, tree

SPEC = """
container db { expose 5432 }
container web { link db:database; publish 8080:80 }
container extra {}
"""
NEW_SPEC = SPEC.replace("container extra {}", "container fresh { publish 9090:90 }")


def files(folder: Path) -> dict[str, bytes]:
    """Every file and symlink under FOLDER (symlinks as their target), and empty folders."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes() + f" mode={p.stat().st_mode:o}".encode()
        elif p.is_dir() and not any(p.iterdir()):
            out[rel + "/"] = b""
    return out


def compiled(tmp_path: Path, text: str = SPEC, out: str = "out", *extra: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec = write_spec(tmp_path, text)
    r = netc("compile", str(spec), "-o", str(tmp_path / out), *extra)
    assert r.returncode == 0, r.stderr
    return tmp_path / out


def add_foreign(out: Path, git_init=None) -> dict[str, bytes]:
    """What a user keeps in an output folder: git, notes, their own file beside netc's.
    GIT_INIT: how to run `git init` there (from another mount namespace)."""
    if git_init:
        git_init()
    else:
        subprocess.run(["git", "init", "-q", str(out)], check=True, capture_output=True)
    (out / "NOTES.md").write_text("mine\n")
    (out / ".gitignore").write_text("*.tmp\n")
    (out / "extra").mkdir()
    (out / "extra" / "file").write_text("x\n")
    (out / "containers" / "web" / "notes").write_text("web notes\n")
    (out / "empty-folder").mkdir()
    (out / "link").symlink_to("NOTES.md")
    return {k: v for k, v in files(out).items() if not _netc_file(out, k)}


def _netc_file(out: Path, name: str) -> bool:
    return name in (manifest.read_manifest(str(out)) or set())


# ---------------------------------------------------------------- only what it owns

def test_recompile_keeps_every_file_that_is_not_netcs(tmp_path):
    out = compiled(tmp_path)
    foreign = add_foreign(out)
    spec = write_spec(tmp_path, NEW_SPEC)
    r = netc("compile", str(spec), "-o", str(out))
    assert r.returncode == 0, r.stderr
    after = files(out)
    assert {k: v for k, v in after.items() if k in foreign} == foreign
    assert not (out / "containers" / "extra").exists()           # netc's folder it emptied: gone
    assert (out / "containers" / "fresh" / "hosts").is_file()
    assert (out / "containers" / "web" / "notes").read_text() == "web notes\n"
    # ... and the tree is exactly what a compile into an empty folder gives
    clean = compiled(tmp_path / "clean", NEW_SPEC)
    assert {k: v for k, v in after.items() if k not in foreign} == files(clean)


def test_a_folder_with_files_and_no_manifest_is_refused_with_the_list(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "o"
    out.mkdir()
    subprocess.run(["git", "init", "-q", str(out)], check=True)
    (out / "NOTES.md").write_text("mine\n")
    before = files(out)
    r = netc("compile", str(spec), "-o", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no netc manifest" in r.stderr and ".git" in r.stderr and "NOTES.md" in r.stderr
    assert files(out) == before


def test_the_spec_in_a_project_folder_is_never_deleted(tmp_path):
    """The issue's case: a netc.json in the project folder, the spec beside it, -o the folder."""
    proj = tmp_path / "proj"
    proj.mkdir()
    spec = write_spec(proj, SPEC, "net.netc")
    (proj / "netc.json").write_text("{}\n")
    r = netc("compile", str(spec), "-o", str(proj))
    assert r.returncode == 2 and "net.netc" in r.stderr, r.stderr
    assert spec.read_text() == SPEC and (proj / "netc.json").read_text() == "{}\n"
    assert sorted(p.name for p in proj.iterdir()) == ["net.netc", "netc.json"]


def test_a_spec_moved_into_its_output_folder_stays_with_its_lock(tmp_path):
    out = compiled(tmp_path)
    spec = write_spec(out, SPEC, "net.netc")
    for text in (NEW_SPEC, SPEC):
        spec.write_text(text)
        r = netc("compile", str(spec), "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert spec.read_text() == text and (out / "net.lock").is_file()


@pytest.mark.parametrize("where", ["spec", "lock", "include"])
def test_a_spec_lock_or_include_where_netc_writes_is_refused(tmp_path, where):
    out = compiled(tmp_path)
    before = files(out)
    if where == "spec":       # the spec is OUT/objects (a file netc writes)
        spec = out / "objects"
        spec.write_text(SPEC)
        args = [str(spec)]
    elif where == "lock":     # a lock that would be OUT/rules.nft, which the nftables backend writes
        args = [str(write_spec(tmp_path, SPEC)), "--lock", str(out / "rules.nft"), "--backend", "nftables"]
    else:                     # an include that is OUT/netc.json
        (out / "netc.json").write_text("container inc {}\n")
        args = [str(write_spec(tmp_path, SPEC + f'include "{out / "netc.json"}"\n'))]
    before = files(out)
    r = netc("compile", *args, "-o", str(out))
    assert r.returncode == 2 and "a file netc writes" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert files(out) == before


def test_a_file_of_someone_elses_where_netc_writes_is_refused(tmp_path):
    out = compiled(tmp_path)
    (out / "rules.nft").write_text("my own rules\n")     # the nftables backend writes rules.nft
    (out / "containers" / "fresh").write_text("a file where a folder goes\n")
    before = files(out)
    r = netc("compile", str(write_spec(tmp_path, NEW_SPEC)), "-o", str(out), "--backend", "nftables")
    assert r.returncode == 2, r.stderr
    assert "rules.nft" in r.stderr and "containers/fresh" in r.stderr
    assert files(out) == before


@pytest.mark.parametrize("line", ["../outside", "/etc/passwd", "a/../../b", ".netc-tmp/x", "a\x1bb"])
def test_a_damaged_manifest_deletes_nothing(tmp_path, line):
    victim = tmp_path / "outside"
    victim.write_text("keep\n")
    out = compiled(tmp_path)
    with open(out / "manifest", "a") as f:
        f.write(line + "\n")
    before = files(out)
    r = netc("compile", str(write_spec(tmp_path, NEW_SPEC)), "-o", str(out))
    assert r.returncode == 2 and "damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert files(out) == before and victim.read_text() == "keep\n"


def test_a_manifest_file_replaced_by_a_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    out = compiled(tmp_path)
    (out / "objects").unlink()
    (out / "objects").symlink_to(victim)
    r = netc("compile", str(write_spec(tmp_path, NEW_SPEC)), "-o", str(out))
    assert r.returncode == 2 and "objects" in r.stderr, r.stderr
    assert victim.read_text() == "keep\n" and (out / "objects").is_symlink()


def test_check_compares_only_netcs_files_and_the_lock(tmp_path):
    out = compiled(tmp_path)
    add_foreign(out)
    spec = tmp_path / "spec.netc"
    r = netc("compile", str(spec), "-o", str(out), "--check")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    (tmp_path / "spec.lock").write_text((tmp_path / "spec.lock").read_text().replace("172.17.0.4", "172.17.0.9"))
    r = netc("compile", str(spec), "-o", str(out), "--check")
    # the lock keeps .9 (a valid address): the tree follows the lock, and only the tree differs
    assert r.returncode == 1 and "+++ b/netc.json" in r.stdout


# ---------------------------------------------------------------- atomic

def _artifacts(tmp_path: Path, text: str) -> dict[str, str]:
    from netc.pipeline import compile as compile_spec
    from netc.resolve.lock import Lock
    return compile_spec(str(write_spec(tmp_path, text, "a.netc")), lock=Lock())[0]


@pytest.mark.parametrize("failure", ["oserror", "interrupt"])
def test_a_failure_at_every_rename_leaves_the_previous_tree(tmp_path, monkeypatch, failure):
    out = tmp_path / "out"
    tree.write_tree(str(out), _artifacts(tmp_path, SPEC))
    add_foreign(out)
    new = _artifacts(tmp_path, NEW_SPEC)
    before = files(out)
    real = os.rename
    k = 0
    while True:
        calls = [0]

        def rename(src, dst, *a, **kw):
            calls[0] += 1
            if calls[0] == k + 1:
                if failure == "interrupt":
                    raise KeyboardInterrupt
                raise OSError(28, "No space left on device", dst)
            return real(src, dst, *a, **kw)
        monkeypatch.setattr(tree.os, "rename", rename)
        try:
            tree.write_tree(str(out), new)
        except tree.TreeError as exc:
            assert failure == "oserror" and "No space left on device" in str(exc) and str(out) in str(exc)
        except KeyboardInterrupt:
            assert failure == "interrupt"
        else:
            break
        finally:
            monkeypatch.setattr(tree.os, "rename", real)
        assert files(out) == before, f"the tree changed after a failure at rename {k + 1}"
        k += 1
    assert k >= 4, "too few renames to have tested the swap"
    assert not (out / ".netc-tmp").exists()
    assert files(out)["manifest"].startswith(new["manifest"].encode())


def _killed_at(out: Path, new: dict[str, str], k: int) -> int:
    """Run write_tree in a forked child that dies (os._exit: no cleanup at all, as SIGKILL)
    at its Kth rename; the child's exit status (9: killed, 0: it finished)."""
    pid = os.fork()
    if pid == 0:
        real, calls = os.rename, [0]

        def rename(src, dst, *a, **kw):
            calls[0] += 1
            if calls[0] == k:
                os._exit(9)
            return real(src, dst, *a, **kw)
        tree.os.rename = rename
        try:
            tree.write_tree(str(out), new)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_compile_killed_at_every_rename_is_rolled_back_by_the_next(tmp_path):
    out = tmp_path / "out"
    old = _artifacts(tmp_path, SPEC)
    new = _artifacts(tmp_path, NEW_SPEC)
    tree.write_tree(str(out), old)
    add_foreign(out)
    before = files(out)
    k = 1
    while _killed_at(out, new, k) == 9:
        assert (out / ".netc-tmp").exists()
        tree.recover(str(out))          # what the next compile does first
        after = files(out)
        # killed before its commit: rolled back; after it: the new tree stands
        if after != before:
            assert after["manifest"].startswith(new["manifest"].encode()), f"a mixture after a kill at rename {k}"
        assert not (out / ".netc-tmp").exists()
        tree.write_tree(str(out), old)   # back to the old tree for the next round
        assert files(out) == before
        k += 1
    assert k > 4


def test_two_compiles_at_once_never_interleave(tmp_path):
    a = write_spec(tmp_path, SPEC, "a.netc")
    b = write_spec(tmp_path, NEW_SPEC, "b.netc")
    out = tmp_path / "out"
    exe = str(Path(sys.executable).parent / "netc")
    clean_a, clean_b = tmp_path / "ca", tmp_path / "cb"
    for spec, clean in ((a, clean_a), (b, clean_b)):
        assert subprocess.run([exe, "compile", str(spec), "-o", str(clean)]).returncode == 0
    for _ in range(4):
        procs = [subprocess.Popen([exe, "compile", str(s), "-o", str(out)], stderr=subprocess.PIPE, text=True)
                 for s in (a, b, a, b)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        assert files(out) in (files(clean_a), files(clean_b))
        assert not (out / ".netc-tmp").exists()


def test_a_stale_lock_file_of_a_killed_run_is_removed(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    stale = tmp_path / ".spec.lock.abc123.netc-tmp"
    stale.write_text("{}")
    r = netc("compile", str(spec), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert not stale.exists()
    assert [p.name for p in tmp_path.glob(".*")] == []


def test_a_large_tree_swaps_in_a_few_renames(tmp_path, monkeypatch):
    """Folders that hold only netc's files move whole: the number of renames does not
    grow with the number of containers."""
    text = "".join(f"container c{i} {{}}\n" for i in range(300))
    out = tmp_path / "out"
    tree.write_tree(str(out), _artifacts(tmp_path, text))
    (out / "NOTES.md").write_text("mine\n")
    real, count = os.rename, [0]

    def rename(*a, **kw):
        count[0] += 1
        return real(*a, **kw)
    monkeypatch.setattr(tree.os, "rename", rename)
    tree.write_tree(str(out), _artifacts(tmp_path, text + "container more {}\n"))
    assert count[0] < 30, count[0]
    assert (out / "NOTES.md").read_text() == "mine\n"


def test_check_on_a_half_swapped_tree_says_so(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0
    assert _killed_at(out, _artifacts(tmp_path, NEW_SPEC), 3) == 9      # killed in the middle of the swap
    r = netc("compile", str(spec), "-o", str(out), "--check")
    assert r.returncode == 2 and "killed while it swapped" in r.stderr, r.stdout + r.stderr
    assert netc("compile", str(spec), "-o", str(out)).returncode == 0   # rolls back, then compiles
    assert netc("compile", str(spec), "-o", str(out), "--check").returncode == 0
    assert not (out / ".netc-tmp").exists()
