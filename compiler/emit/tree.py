"""The output tree on disk: write it, read it back (for `compile --check`), and read its
netc.json (for graph, run-config and completion).

The only module that writes an output tree; the CLI calls it with what
`pipeline.compile` returned (artifact name -> text).
"""

from __future__ import annotations

import json
import os


class TreeError(Exception):
    """OUT cannot be written: the message says why, for the user."""


def _names(out: str) -> set[str]:
    found = set()
    for root, _, files in os.walk(out):
        for f in files:
            found.add(os.path.relpath(os.path.join(root, f), out).replace(os.sep, "/"))
    return found


def write_tree(out: str, artifacts: dict[str, str]) -> None:
    """Make OUT exactly the tree: write every artifact, remove files netc no longer makes.

    Into an existing tree each file is written beside its target and renamed
    into place, so a reader never sees half a file; a new tree has no readers
    yet, so its files are written straight away (a third of the system calls
    for the 30,000 files of 10,000 containers), each folder made once."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise TreeError(f"{out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "netc.json")):
        raise TreeError(f"{out} is not empty and holds no netc output (no netc.json): refusing to overwrite it")
    fresh = not os.path.isdir(out) or not os.listdir(out)
    existing = set() if fresh else _names(out)
    items = list(artifacts.items())
    # Plain os.open/os.write, modes given at creation under a known umask:
    # a Python file object per file cost more than the writing itself.
    umask = os.umask(0o022)
    try:
        if fresh and len(items) >= PARALLEL_WRITE_FROM and (os.cpu_count() or 1) > 1:
            # A new tree of many files: a forked child writes the second half.
            half = len(items) // 2
            from .fork import Forked
            child = Forked(_write_files, out, items[half:], True)
            try:
                _write_files(out, items[:half], True)
            finally:
                done = child.result()
            if done is None:  # the child could not: write its half here
                _write_files(out, items[half:], True)
        else:
            _write_files(out, items, fresh)
    finally:
        os.umask(umask)
    for stale in sorted(existing - set(artifacts)):
        os.remove(os.path.join(out, stale))
    if existing:
        for root, dirs, files in os.walk(out, topdown=False):
            if root != out and not os.listdir(root):
                os.rmdir(root)


PARALLEL_WRITE_FROM = 4000   # files in a new tree from which two processes write it


def _write_files(out: str, items: list[tuple[str, str]], fresh: bool) -> bool:
    """Write ITEMS (name, text) under OUT; into an existing tree through a rename each.
    True when done (what a forked writer sends back)."""
    made: set[str] = set()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for name, text in items:
        path = os.path.join(out, name)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        mode = 0o755 if name.endswith(".sh") else 0o644
        target = path if fresh else path + ".netc-tmp"
        fd = os.open(target, flags, mode)
        try:
            if not fresh:
                os.fchmod(fd, mode)  # a stale .netc-tmp keeps its own mode
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        if not fresh:
            os.replace(target, path)
    return True


def read_tree(out: str) -> dict[str, str]:
    found = {}
    for root, _, files in os.walk(out):
        for f in files:
            path = os.path.join(root, f)
            rel = os.path.relpath(path, out).replace(os.sep, "/")
            try:
                found[rel] = open(path, encoding="utf-8").read()
            except (OSError, UnicodeDecodeError):
                found[rel] = "<unreadable>\n"
    return found


def read_data(out: str) -> dict:
    """OUT/netc.json, checked to be netc's."""
    path = os.path.join(out, "netc.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise TreeError(f"{out} holds no netc.json: it is not a folder `netc compile -o` wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TreeError(f"{path} is not netc's JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("bridges", "containers")):
        raise TreeError(f"{path} is not netc's JSON (no bridges and containers)")
    for key in ("bridges", "containers"):
        if not all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in data[key]):
            raise TreeError(f"{path} is not netc's JSON (a nameless entry in {key})")
    return data
