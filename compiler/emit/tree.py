"""The output tree on disk: the only writer of one (its readers, for `compile --check` and
for graph, run-config and completion, are manifest.py's, and named here too).

compile owns only the files it wrote. Every tree carries `manifest`, the list
of them; a recompile replaces and removes only files of the previous manifest
and never touches anything else in OUT (.git, a README, the spec). A folder
that holds files and no manifest is refused, with the list of what is in the
way; so is a file of someone else's where netc would write one, and a spec,
include or lock that netc would overwrite or delete.

The replacement is atomic: any failure (a full disk, a read-only folder, a
signal, SIGKILL) leaves the previous tree byte-identical.

1. stage: the new tree is written whole into OUT/.netc-tmp/new and synced
   (syncfs: one flush for the filesystem instead of one per file); so is the
   lock (beside the spec) and any other file given in `beside`;
2. journal: the renames that swap the trees are listed in OUT/.netc-tmp/journal
   (written, synced, then renamed into place); each moves a whole folder where
   the folder holds nothing but netc's files (containers/, as a rule), else
   netc's files one by one, so a tree of 10,000 containers swaps in a dozen
   renames: netc's old entries into .netc-tmp/old, then the new ones in;
3. commit: the journal is renamed to `committed`; then the beside files are
   renamed over theirs, and .netc-tmp is removed.

A failure before the commit undoes the renames done so far, in reverse. A run
killed half-way leaves .netc-tmp behind: the next compile into OUT (which holds
an flock on OUT, so two never interleave) rolls the journal back, or finishes
a committed one, before it starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil

from ..quote import printable as _show
from .manifest import TMP, Plan, TreeError, plan, read_data, read_tree  # noqa: F401 (the readers, for the CLI)

_MARK = "netc-tmp"          # the file that says a .netc-tmp folder is netc's own
PARALLEL_WRITE_FROM = 4000  # files in a new tree from which two processes write it


def write_tree(out: str, artifacts: dict[str, str], protect=(), beside: dict[str, str] | None = None,
               on_wait=None) -> None:
    """Make OUT hold exactly the tree ARTIFACTS of netc's files (and whatever else it held),
    atomically; then replace each file of BESIDE (path -> text, e.g. the lock) the same way.
    PROTECT: files netc must never overwrite or delete. ON_WAIT(out) is called when another
    compile holds OUT, before waiting for it."""
    if out == "":
        raise TreeError("the output folder is an empty name: give -o a folder")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise TreeError(f"{_show(out)} exists and is not a folder")
    made = _make_out(out)
    try:
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        _remove_made(made)
        raise TreeError(f"cannot open {_show(out)}: {exc.strerror}") from None
    staged: list[tuple[str, str, int]] = []
    try:
        working = False
        try:
            _lock(fd, out, on_wait)
            recover(out)
            p = plan(out, artifacts, protect)
            working = True                     # from here on, .netc-tmp is this run's
            _stage(out, fd, artifacts, p)
            staged = _stage_beside(beside or {})
            _commit(out, fd, p)
        except _Stuck:
            raise  # .netc-tmp holds files of the previous tree: kept, for the next compile to put back
        except BaseException:
            if working:
                _discard(out)
            _remove_made(made)
            raise
        for tmp, path, _ in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise TreeError(f"{_show(out)} is written, but {_show(path)} could not be replaced: "
                                f"{exc.strerror}") from None
        _discard(out)
        _sync(fd, out)
    finally:
        _drop(staged)  # unlinks those not renamed into place
        os.close(fd)


class _Stuck(TreeError):
    """A swap that failed and could not be undone: .netc-tmp must be kept."""


def _make_out(out: str) -> list[str]:
    """Create OUT and missing parents; the folders made (to remove again on failure)."""
    made = []
    path = os.path.abspath(out)
    while not os.path.lexists(path):
        made.append(path)
        path = os.path.dirname(path)
    for folder in reversed(made):
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        except OSError as exc:
            _remove_made(made)
            raise TreeError(f"cannot create {_show(folder)}: {exc.strerror}; nothing was written") from None
    return made


def _remove_made(made: list[str]) -> None:
    for folder in made:  # deepest first
        try:
            os.rmdir(folder)
        except OSError:
            break


def _lock(fd: int, out: str, on_wait) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if on_wait:
            on_wait(out)
        fcntl.flock(fd, fcntl.LOCK_EX)


def _stage(out: str, fd: int, artifacts: dict[str, str], p: Plan) -> None:
    """Write the new tree into .netc-tmp/new, make the folders of .netc-tmp/old, sync."""
    tmp = os.path.join(out, TMP)
    try:
        os.mkdir(tmp, 0o700)
        os.close(os.open(os.path.join(tmp, _MARK), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        for d in ("new", "old"):
            os.mkdir(os.path.join(tmp, d))
        for d in p.old_dirs:
            os.makedirs(os.path.join(tmp, "old", d), exist_ok=True)
    except OSError as exc:
        raise TreeError(f"cannot write in {_show(out)}: {exc.strerror}; {_show(out)} is unchanged") from None
    new = os.path.join(tmp, "new")
    items = list(artifacts.items())
    umask = os.umask(0o022)  # plain os.open/os.write, modes given at creation under a known umask
    try:
        if len(items) >= PARALLEL_WRITE_FROM and (os.cpu_count() or 1) > 1:
            half = len(items) // 2  # a new tree of many files: a forked child writes the second half
            from .fork import Forked
            child = Forked(_write_files, new, items[half:])
            try:
                failed = _write_files(new, items[:half])
            finally:
                done = child.result()
            if failed is None and done is not None:
                failed = done
            elif failed is None:  # the child could not: write its half here
                failed = _write_files(new, items[half:])
        else:
            failed = _write_files(new, items)
    finally:
        os.umask(umask)
    if failed:
        name, reason = failed
        raise TreeError(f"cannot write {_show(os.path.join(out, name))}: {reason}; {_show(out)} is unchanged")
    _sync(fd, out)


def _write_files(root: str, items: list[tuple[str, str]]) -> tuple[str, str] | None:
    """Write ITEMS (name, text) under ROOT, a new folder. None when all are written, else
    (the name that failed, why): what a forked writer sends back."""
    made: set[str] = set()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for name, text in items:
        path = os.path.join(root, name)
        folder = os.path.dirname(path)
        try:
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            fd = os.open(path, flags, 0o755 if name.endswith(".sh") else 0o644)
            try:
                data = memoryview(text.encode("utf-8"))
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)
        except OSError as exc:
            return name, exc.strerror or str(exc)
    return None


_BESIDE = ".netc-tmp"   # the suffix of a file staged beside its place (.web.lock.XXXX.netc-tmp)


def _stage_beside(beside: dict[str, str]) -> list[tuple[str, str, int]]:
    """Write each file of BESIDE that changes next to its place, synced: (temporary, path, fd) triples.
    Each temporary file is flocked while this run may still rename it, so that a later
    run removes only those a killed run left (and never a live one of a compile beside)."""
    import tempfile
    staged: list[tuple[str, str, int]] = []
    try:
        for path, text in beside.items():
            folder, base = os.path.split(path)
            _remove_stale(folder or ".", f".{base}.")
            if _same(path, text):
                continue
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=_BESIDE, dir=folder or ".")
            staged.append((tmp, path, fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.fchmod(fd, 0o644 & ~_umask())
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
    except OSError as exc:
        _drop(staged)
        raise TreeError(f"cannot write {_show(path)}: {exc.strerror}; nothing was changed") from None
    return staged


def _same(path: str, text: str) -> bool:
    """Whether PATH holds TEXT already (then it is left as it is, its time stamps too)."""
    try:
        with open(path, "rb") as f:
            return f.read() == text.encode("utf-8")
    except OSError:
        return False


def _drop(staged: list[tuple[str, str, int]]) -> None:
    """Remove the staged files not renamed into place, and let go of them."""
    for tmp, _, fd in staged:
        _unlink(tmp)
        os.close(fd)
    staged.clear()


def _remove_stale(folder: str, prefix: str) -> None:
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(_BESIDE)]
    except OSError:
        return
    for name in names:
        try:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _unlink(os.path.join(folder, name))   # no run holds it: a killed run's
        except OSError:
            pass
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _commit(out: str, fd: int, p: Plan) -> None:
    """The journaled swap (see the module's docstring). On any failure, renames done are undone."""
    tmp = os.path.join(out, TMP)
    moves = [(e, f"{TMP}/old/{e}") for e in p.out_moves] + [(f"{TMP}/new/{e}", e) for e in p.in_moves]
    try:
        part = os.path.join(tmp, "journal.part")
        with open(part, "w", encoding="utf-8") as f:
            json.dump(moves, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(part, os.path.join(tmp, "journal"))
        _fsync_dir(tmp)
    except OSError as exc:
        raise TreeError(f"cannot write in {_show(out)}: {exc.strerror}; {_show(out)} is unchanged") from None
    done, committed = 0, False
    try:
        for src, dst in moves:
            os.rename(os.path.join(out, src), os.path.join(out, dst))
            done += 1
        _sync(fd, out)
        os.rename(os.path.join(tmp, "journal"), os.path.join(tmp, "committed"))
        committed = True
        _fsync_dir(tmp)
    except BaseException as exc:  # a signal too (SIGINT): the renames done are undone
        if committed:
            raise
        try:
            _undo(out, moves[:done])
        except OSError as undo:
            raise _Stuck(f"the swap of {_show(out)} failed ({_why(exc)}) and could not be undone "
                         f"({undo.strerror}): the next `netc compile` into it puts the previous files back "
                         f"from {_show(tmp)}/old") from None
        if not isinstance(exc, (OSError, TreeError)):
            raise
        target = os.path.join(out, moves[done][1]) if done < len(moves) else out
        raise TreeError(f"cannot move {_show(target)} into place: {_why(exc)}; {_show(out)} is unchanged") from None


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def _undo(out: str, moves: list[tuple[str, str]]) -> None:
    """Undo MOVES (those that happened) in reverse: what stands at dst goes back to src."""
    for src, dst in reversed(moves):
        s, d = os.path.join(out, src), os.path.join(out, dst)
        if os.path.lexists(d) and not os.path.lexists(s):
            os.rename(d, s)


def recover(out: str) -> None:
    """Finish what a compile killed in OUT left: roll back an uncommitted journal, or keep a
    committed one; then remove .netc-tmp. A folder of that name that is not netc's is an error."""
    tmp = os.path.join(out, TMP)
    if not os.path.lexists(tmp):
        return
    if not os.path.isdir(tmp) or os.path.islink(tmp) or (os.listdir(tmp) and not os.path.exists(os.path.join(tmp, _MARK))):
        raise TreeError(f"{_show(tmp)} is in the way: netc works in a folder of that name; move it away")
    journal = os.path.join(tmp, "journal")
    if os.path.exists(journal) and not os.path.exists(os.path.join(tmp, "committed")):
        try:
            with open(journal, encoding="utf-8") as f:
                moves = [tuple(m) for m in json.load(f)]
            _undo(out, moves)
        except (OSError, ValueError, TypeError) as exc:
            raise TreeError(f"a compile into {_show(out)} was killed half-way and its journal cannot be "
                            f"rolled back ({exc}); the previous files are in {_show(tmp)}/old") from None
    _discard(out)


def _discard(out: str) -> None:
    shutil.rmtree(os.path.join(out, TMP), ignore_errors=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_libc = None


def _sync(fd: int, out: str) -> None:
    """Flush the filesystem of FD to disk: syncfs(2), one call for every file written."""
    global _libc
    if _libc is None:
        import ctypes
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.syncfs
        except (OSError, AttributeError):
            _libc = False
    if _libc is False:
        os.sync()
        return
    if _libc.syncfs(fd) != 0:
        import ctypes
        code = ctypes.get_errno()
        raise TreeError(f"cannot sync {_show(out)} to disk: {os.strerror(code)}")
