"""The pure entry points: spec file -> diagnostics, IR, lock, artifacts.

Nothing here writes a file; the CLI does. `load` runs the front end (parse,
build, resolve); `compile` adds the backends and returns artifact name -> text.
"""

from __future__ import annotations

import gc
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass

from .frontend import build, parse
from . import resolve
from .resolve import lock as lockfile
from .diagnostics import CompileFailed, Diagnostic, Reporter, Sources
from .ir import Network
from .resolve.lock import Lock
from .quote import printable

NETNS_PREFIX = "netc-"


@contextmanager
def _no_gc():
    """Hold the cyclic garbage collector off while a spec compiles.

    The front end and the renderers make millions of small objects that all
    live until the output is written; each automatic full collection walks
    every one of them again, which made compile time grow faster than the
    spec (50,000 containers: 40% of the time). What compile makes holds no
    reference cycles worth collecting, and reference counting frees the rest.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Loaded:
    network: Network
    lock: Lock
    old_lock: Lock
    diagnostics: list[Diagnostic]
    sources: Sources
    lock_path: str | None = None    # where the lock was read from and is written to; None: no lock
    files: tuple[str, ...] = ()     # every file the spec was read from (the spec, its includes)


STDIN = "-"   # the spec path that means standard input


def spec_name(spec_path: str) -> str:
    """The spec's name in headers and messages: its file name, or <stdin>."""
    return "<stdin>" if spec_path == STDIN else os.path.basename(spec_path)


def lock_path(spec_path: str, lock_file: str | None = None) -> str | None:
    """Where the lock of SPEC_PATH lives: LOCK_FILE (--lock) when given; else beside a spec
    that is a regular file (web.netc -> web.lock); else nowhere (None): a spec read from
    standard input, a pipe (`<(generate)`) or a device has no folder a lock belongs in."""
    if lock_file is not None:
        return lock_file
    if spec_path == STDIN:
        return None
    try:
        if not stat.S_ISREG(os.stat(spec_path).st_mode):
            return None
    except (OSError, ValueError):
        return None  # the spec cannot be read: load reports that
    root, ext = os.path.splitext(spec_path)
    return (root if ext == ".netc" else spec_path) + ".lock"


LOCK_MAX_BYTES = 64 << 20


def read_lock(path: str | None, reporter: Reporter) -> Lock:
    """The lock at PATH (none there, or no PATH: an empty lock). A lock that cannot be read
    or is damaged in any way is an error that names it, never a traceback."""
    if path is None:
        return Lock()
    shown = printable(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            reporter.error(None, f"cannot read the lock {shown}: it is not a regular file")
            return Lock()
        with open(path, "rb") as f:
            data = f.read(LOCK_MAX_BYTES + 1)
        if len(data) > LOCK_MAX_BYTES:
            raise lockfile.LockError(f"larger than {LOCK_MAX_BYTES >> 20} MiB")
        return lockfile.parse(data.decode("utf-8"))
    except FileNotFoundError:
        return Lock()
    except OSError as exc:
        reporter.error(None, f"cannot read the lock {shown}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        reporter.error(None, f"{shown} is damaged: not UTF-8 text (byte {exc.start}); "
                             "delete it to allocate afresh")
    except lockfile.LockError as exc:
        reporter.error(None, f"{shown} is damaged: {exc}; delete it to allocate afresh")
    return Lock()


def load(spec_path: str, *, netns_prefix: str = NETNS_PREFIX, frozen: bool = False,
         lock: Lock | None = None, lock_file: str | None = None) -> Loaded:
    """Parse, build and resolve a spec (STDIN: standard input). Raises CompileFailed with
    every error found. The old lock is LOCK when given, else read from lock_path()."""
    with _no_gc():
        return _load(spec_path, netns_prefix=netns_prefix, frozen=frozen, lock=lock, lock_file=lock_file)


def _load(spec_path: str, *, netns_prefix: str, frozen: bool, lock: Lock | None,
          lock_file: str | None = None) -> Loaded:
    reporter, sources = Reporter(), Sources()
    blocks = parse.parse_file(spec_path, reporter, sources)
    spec = build.build(blocks, reporter)
    where = lock_path(spec_path, lock_file)
    old = lock if lock is not None else read_lock(where, reporter)
    if reporter.errors:
        raise CompileFailed(reporter.sorted(), sources)
    name = spec_name(spec_path)
    network, new = resolve.resolve(spec, reporter, sources, old, netns_prefix,
                                   name if spec_path == STDIN else spec_path)
    if network is not None and frozen and new != old:
        changes = lockfile.diff(old, new)
        reporter.error(None, f"--frozen: {printable(where or 'the lock')} would change ({len(changes)} value(s)):\n  "
                             + "\n  ".join(changes) + "\nrun `netc compile` without --frozen and commit the lock")
    if reporter.errors or network is None:
        raise CompileFailed(reporter.sorted(), sources)
    return Loaded(network, new, old, reporter.sorted(), sources, where, tuple(reporter.files))


def compile(spec_path: str, *, backend: str = "iptables", netns_prefix: str = NETNS_PREFIX,
            frozen: bool = False, lock: Lock | None = None,
            lock_file: str | None = None) -> tuple[dict[str, str], Loaded]:
    """The output tree as artifact name -> text (and what load returned). Writes nothing."""
    from .emit.render import render
    with _no_gc():
        loaded = _load(spec_path, netns_prefix=netns_prefix, frozen=frozen, lock=lock, lock_file=lock_file)
        return render(loaded.network, backend), loaded
