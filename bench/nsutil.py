"""Throwaway network namespaces for the benchmark, and timing inside them.

Every namespace gets a unique name (`nb` + 8 hex digits + a tag) and is
deleted when its `with` block ends, also on an exception or Ctrl-C. Commands
run inside with `nsenter --net=` (the network namespace only); nothing here
changes the machine's own network namespace.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

NETNS_DIR = "/var/run/netns"
PREFIX = "nb"


def unique(tag: str) -> str:
    return f"{PREFIX}{uuid.uuid4().hex[:8]}-{tag}"


class Netns:
    """`with Netns("fw") as ns:` a fresh namespace with lo up; deleted on exit."""

    def __init__(self, tag: str) -> None:
        self.name = unique(tag)
        self.made = False

    def __enter__(self) -> "Netns":
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.made = True
        self.run("ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self.made = False

    def cmd(self, *args: str) -> list[str]:
        return ["nsenter", f"--net={NETNS_DIR}/{self.name}", "--", *args]

    def run(self, *args: str, input: str | None = None, timeout: float = 900,
            env: dict | None = None, stdin=None) -> subprocess.CompletedProcess:
        r = subprocess.run(self.cmd(*args), capture_output=True, text=True, input=input, timeout=timeout,
                           env=env, stdin=stdin)
        if r.returncode != 0:
            raise RuntimeError(f"in {self.name}: {' '.join(args)} failed ({r.returncode}):\n"
                               f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r

    def timed(self, *args: str, stdin_path: str | None = None, env: dict | None = None,
              timeout: float = 900) -> float:
        """Wall seconds of one command inside the namespace (it must succeed)."""
        f = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            r = subprocess.run(self.cmd(*args), stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=timeout, env=env)
            elapsed = time.perf_counter() - start
        finally:
            if stdin_path:
                f.close()
        if r.returncode != 0:
            raise RuntimeError(f"in {self.name}: {' '.join(args)} failed ({r.returncode}):\n"
                               f"{r.stderr.decode(errors='replace')[-2000:]}")
        return elapsed


def leftovers() -> list[str]:
    """Namespaces of this benchmark still listed (for the final check)."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.startswith(PREFIX) and "-" in line.split()[0]]


def delete(names: list[str]) -> None:
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        try:
            os.unlink(os.path.join(NETNS_DIR, name))
        except OSError:
            pass


def measured(cmd: list[str], **kw):
    """(wall seconds, resource usage of the process and its reaped children) of a command
    in a fresh process; it must succeed."""
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
    return wall, usage
