"""Which files of an output tree are netc's: the manifest, and the plan of a compile.

Every tree netc writes carries `manifest`, the list of its files. `plan` reads
OUT (symlinks not followed), checks that the new tree may be written there (a
folder with files and no manifest, a file of someone else's where netc would
write one, a spec, include or lock netc would overwrite: each refused with
the list of what is in the way) and plans the renames that swap the trees,
which tree.py carries out. `read_tree` reads what `compile --check` compares, `read_data`
a tree's netc.json (for graph, run-config and completion).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field

from ..quote import printable

MANIFEST = "manifest"
TMP = ".netc-tmp"           # netc's working folder inside OUT, only while a compile runs
MANIFEST_HEAD = ("# netc: the files netc wrote in this folder, one a line. `netc compile` replaces\n"
                 "# and removes only these; anything else here is yours and stays untouched.\n")


class TreeError(Exception):
    """OUT cannot be written: the message says why, for the user."""


def manifest_text(names) -> str:
    """The manifest of a tree of NAMES (the manifest itself among them)."""
    return MANIFEST_HEAD + "".join(f"{n}\n" for n in sorted(set(names) | {MANIFEST}))


_NAME = re.compile(r"[\x21-\x7e]+")   # printable ASCII without spaces: every name netc writes


def _valid_name(name: str) -> bool:
    """NAME is a path below the tree that netc could have written: no '/', '.' or '..' at
    its start, end or between two '/', not in .netc-tmp, printable ASCII."""
    return bool(_NAME.fullmatch(name)) and not (
        name.startswith(("/", "./", "../", TMP + "/")) or name.endswith(("/", "/.", "/..")) or "//" in name
        or "/./" in name or "/../" in name or name in (".", "..", TMP))


def read_manifest(out: str) -> set[str] | None:
    """The names of OUT's manifest; None when OUT has none. A damaged one is an error."""
    path = os.path.join(out, MANIFEST)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise TreeError(f"cannot read {_show(path)}: {getattr(exc, 'strerror', None) or exc}") from None
    names = {line for line in text.splitlines() if line and not line.startswith("#")}
    bad = sorted(n for n in names if not _valid_name(n))
    if bad:
        raise TreeError(f"{_show(path)} is damaged: {_show(bad[0])} is not a file name netc writes; "
                        "remove the manifest and the files netc wrote, then compile again")
    return names


def _show(path: str) -> str:
    return printable(path)


# ---------------------------------------------------------------- what is in OUT

@dataclass
class _Scan:
    files: dict[str, bool] = field(default_factory=dict)   # every non-folder entry -> a regular file?
    dirs: set[str] = field(default_factory=set)             # every folder (not OUT itself)


def _scan(out: str) -> _Scan:
    """Every entry under OUT (symlinks not followed; .netc-tmp left out)."""
    found = _Scan()
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(out, rel) if rel else out) as it:
            for e in it:
                name = f"{rel}/{e.name}" if rel else e.name
                if name == TMP:
                    continue
                if e.is_dir(follow_symlinks=False):
                    found.dirs.add(name)
                    stack.append(name)
                else:
                    found.files[name] = e.is_file(follow_symlinks=False)
    return found


def _listing(names, limit: int = 12) -> str:
    names = sorted(names)
    shown = ", ".join(_show(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class Plan:
    """What a compile does to OUT: the files of the previous tree, and the renames."""
    out: str
    old: set[str]                                  # the previous manifest's files present in OUT
    out_moves: list[str] = field(default_factory=list)   # entries of OUT moved into .netc-tmp/old
    in_moves: list[str] = field(default_factory=list)    # entries of .netc-tmp/new moved into OUT
    old_dirs: list[str] = field(default_factory=list)    # folders made in .netc-tmp/old before moving


def plan(out: str, names, protect=()) -> Plan:
    """Check that NAMES may be written into OUT and plan the swap; TreeError when they may not.
    PROTECT: files that must survive (the spec, its includes, its lock)."""
    if out == "":
        raise TreeError("the output folder is an empty name: give -o a folder")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise TreeError(f"{_show(out)} exists and is not a folder")
    names = set(names)
    if not os.path.isdir(out):
        return Plan(out, set(), in_moves=sorted({n.split("/")[0] for n in names}))
    journal = os.path.join(out, TMP, "journal")
    if os.path.exists(journal) and not os.path.exists(os.path.join(out, TMP, "committed")):
        raise TreeError(f"a compile into {_show(out)} was killed while it swapped the tree in: "
                        "`netc compile` rolls it back first")
    manifest = read_manifest(out)
    scan = _scan(out)
    if manifest is None:
        if scan.files or scan.dirs:
            present = set(scan.files) | {d for d in scan.dirs if "/" not in d}
            hint = " (netc.json and no manifest: a tree from an older netc, which kept none)" \
                if "netc.json" in scan.files else ""
            raise TreeError(f"refusing to write into {_show(out)}: it is not empty and holds no netc manifest, "
                            f"so netc cannot tell its files from yours: "
                            f"{_listing({n for n in present if '/' not in n} or present)}"
                            f"{hint}; compile into an empty folder (netc then keeps its manifest there)")
        manifest = set()
    old = {n for n in manifest if scan.files.get(n) is True}
    odd = sorted(n for n in manifest if n in scan.files and not scan.files[n]) + \
        sorted(n for n in manifest if n in scan.dirs)
    if odd:
        raise TreeError(f"in {_show(out)}, what the manifest names is no longer a file netc wrote: "
                        f"{_listing(odd)}; move it away and compile again")
    # What netc would overwrite that is not its own: a file, a folder where a file goes,
    # or a file where a folder goes.
    way = {n for n in names if (n in scan.files and n not in old) or n in scan.dirs}
    way |= {d for d in _dirs_of(names) if d in scan.files}
    if way:
        raise TreeError(f"{_show(out)} holds files netc did not write where it would write its own: "
                        f"{_listing(way)}; move them away and compile again")
    kept = _protected_inside(out, protect, old | names)
    moves = Plan(out, old)
    _plan_moves(scan, old, names, kept, moves)
    return moves


def _protected_inside(out: str, protect, touched: set[str]) -> set[str]:
    """PROTECT's files inside OUT, as names in OUT (a refusal if netc would touch one).
    A name in OUT is one path below it: the scan follows no symlink, and a symlink where
    netc writes a folder is in the way, so comparing real paths relative to OUT's suffices."""
    real_out = os.path.realpath(out)
    kept = set()
    for path in protect:
        real = os.path.realpath(path)
        if not real.startswith(real_out + os.sep):
            continue
        name = os.path.relpath(real, real_out).replace(os.sep, "/")
        if name in touched:
            raise TreeError(f"{_show(path)} is {_show(os.path.join(out, name))}, a file netc writes in the output "
                            "folder: keep the spec and its lock out of OUT, or under other names")
        kept.add(name)
    return kept


def _dirs_of(names) -> set[str]:
    """Every folder above any of NAMES (a tree of 30,000 files has 10,000 folders: each
    is walked up once)."""
    found: set[str] = set()
    for d in {n.rpartition("/")[0] for n in names}:
        while d and d not in found:
            found.add(d)
            d = d.rpartition("/")[0]
    return found


def _plan_moves(scan: _Scan, old: set[str], new: set[str], kept: set[str], p: Plan) -> None:
    """Plan the swap: a folder that holds only netc's old files moves out whole, and a new
    folder moves in whole where nothing stays in its place; a folder that holds anything
    else stays, and is planned inside. Indexes first: a tree has tens of thousands of files."""
    children: dict[str, list[str]] = {}
    for n in list(scan.files) + sorted(scan.dirs):
        children.setdefault(n.rpartition("/")[0], []).append(n)
    new_dirs = _dirs_of(new)
    new_children: dict[str, set[str]] = {}
    for n in list(new) + list(new_dirs):
        new_children.setdefault(n.rpartition("/")[0], set()).add(n)
    # folders holding something that is not an old file of netc's
    impure = _dirs_of([f for f in scan.files if f not in old]) | _dirs_of(kept)
    holds_old = _dirs_of(old)
    wanted = holds_old | new_dirs

    def visit(rel: str) -> None:
        staying: set[str] = set()
        for n in sorted(children.get(rel, ())):
            if n in scan.files:
                if n in old:
                    p.out_moves.append(n)
                else:
                    staying.add(n)
            elif n in holds_old and n not in impure:
                p.out_moves.append(n)          # nothing but netc's files: the folder moves whole
            else:
                staying.add(n)                 # someone else's folder, or one with their files in it
                if n in wanted:
                    p.old_dirs.append(n)
                    visit(n)
        for n in sorted(new_children.get(rel, ())):
            if n not in staying:
                p.in_moves.append(n)
            # else: a folder that stays: its new entries were planned inside it

    visit("")


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


def read_tree(out: str, names) -> dict[str, str]:
    """The text of each of NAMES in OUT that is a file there (what --check compares)."""
    found = {}
    for name in names:
        path = os.path.join(out, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                found[name] = "<not a file>\n"
                continue
            with open(path, "rb") as f:
                found[name] = f.read().decode("utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            found[name] = "<unreadable>\n"
    return found


def read_data(out: str) -> dict:
    """OUT/netc.json, checked to be netc's."""
    path = os.path.join(out, "netc.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise TreeError(f"{_show(out)} holds no netc.json: it is not a folder `netc compile -o` wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TreeError(f"{_show(path)} is not netc's JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("bridges", "containers")):
        raise TreeError(f"{_show(path)} is not netc's JSON (no bridges and containers)")
    for key in ("bridges", "containers"):
        if not all(isinstance(x, dict) and isinstance(x.get("name"), str) for x in data[key]):
            raise TreeError(f"{_show(path)} is not netc's JSON (a nameless entry in {key})")
    return data
