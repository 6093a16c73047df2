"""The pure entry points: spec file -> diagnostics, IR, lock, artifacts.

Nothing here writes a file; the CLI does. `load` runs the front end (parse,
build, resolve); `compile` adds the backends and returns artifact name -> text.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass

from .frontend import build, parse
from . import resolve
from .resolve import lock as lockfile
from .diagnostics import CompileFailed, Diagnostic, Reporter, Sources
from .ir import Network
from .resolve.lock import Lock

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


def lock_path(spec_path: str) -> str:
    root, ext = os.path.splitext(spec_path)
    return (root if ext == ".netc" else spec_path) + ".lock"


def read_lock(spec_path: str, reporter: Reporter) -> Lock:
    path = lock_path(spec_path)
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        return Lock()
    except (OSError, UnicodeDecodeError) as exc:
        reporter.error(None, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        return Lock()
    try:
        return lockfile.parse(text)
    except lockfile.LockError as exc:
        reporter.error(None, f"{path} is damaged: {exc}; delete it to allocate afresh")
        return Lock()


def load(spec_path: str, *, netns_prefix: str = NETNS_PREFIX, frozen: bool = False,
         lock: Lock | None = None) -> Loaded:
    """Parse, build and resolve a spec. Raises CompileFailed with every error found."""
    with _no_gc():
        return _load(spec_path, netns_prefix=netns_prefix, frozen=frozen, lock=lock)


def _load(spec_path: str, *, netns_prefix: str, frozen: bool, lock: Lock | None) -> Loaded:
    reporter, sources = Reporter(), Sources()
    blocks = parse.parse_file(spec_path, reporter, sources)
    spec = build.build(blocks, reporter)
    old = lock if lock is not None else read_lock(spec_path, reporter)
    if reporter.errors:
        raise CompileFailed(reporter.sorted(), sources)
    network, new = resolve.resolve(spec, reporter, sources, old, netns_prefix, spec_path)
    if network is not None and frozen and new != old:
        changes = lockfile.diff(old, new)
        reporter.error(None, f"--frozen: {lock_path(spec_path)} would change ({len(changes)} value(s)):\n  "
                             + "\n  ".join(changes) + "\nrun `netc compile` without --frozen and commit the lock")
    if reporter.errors or network is None:
        raise CompileFailed(reporter.sorted(), sources)
    return Loaded(network, new, old, reporter.sorted(), sources)


def compile(spec_path: str, *, backend: str = "iptables", netns_prefix: str = NETNS_PREFIX,
            frozen: bool = False, lock: Lock | None = None) -> tuple[dict[str, str], Loaded]:
    """The output tree as artifact name -> text (and what load returned). Writes nothing."""
    from .emit.render import render
    with _no_gc():
        loaded = _load(spec_path, netns_prefix=netns_prefix, frozen=frozen, lock=lock)
        return render(loaded.network, backend), loaded
