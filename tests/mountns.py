"""A small tmpfs in a throwaway mount namespace, for tests that fill a disk or make it
read-only, never touching a mount of the machine's.

    with tmpfs(size="1M", nr_inodes=200) as fs:
        fs.run("netc", "compile", fs.at("spec.netc"), "-o", fs.at("out"))   # inside the namespace
        fs.path("out/manifest").read_text()                                    # from the test

`unshare -m --propagation private` starts a process in a new mount namespace that
mounts the tmpfs on an empty folder the test made and then sleeps; commands run in
that namespace through `nsenter --mount`, and the test reads and writes its files
through /proc/PID/root. Closing kills that process (by its PID): the namespace and
its mount go with it, and nothing was ever mounted in the machine's own namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest


class Tmpfs:
    def __init__(self, size: str, nr_inodes: int | None) -> None:
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
            pytest.skip("needs root, unshare and nsenter (a tmpfs in a mount namespace of its own)")
        self.dir = tempfile.mkdtemp(prefix="netc-tmpfs-")
        options = f"size={size}" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o "$1" netc-test "$2" && echo ready && exec sleep 900', "sh", options, self.dir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"could not mount a tmpfs in a new mount namespace: {self.proc.stderr.read()}")

    def at(self, rel: str = "") -> str:
        """REL as a path inside the namespace."""
        return os.path.join(self.dir, rel) if rel else self.dir

    def path(self, rel: str = "") -> Path:
        """REL as the test reaches it from outside the namespace."""
        return Path(f"/proc/{self.proc.pid}/root{self.at(rel)}")

    def run(self, *args: str, check: bool = False, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run(["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt", "--", *args],
                           capture_output=True, text=True, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {r.stderr}")
        return r

    def free(self) -> tuple[int, int]:
        """Free bytes and free inodes of the tmpfs."""
        st = os.statvfs(self.path())
        return st.f_bavail * st.f_frsize, st.f_favail

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)   # the process this object started
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        os.rmdir(self.dir)   # empty in the machine's namespace: the tmpfs was never mounted there


@contextlib.contextmanager
def tmpfs(size: str = "4M", nr_inodes: int | None = None):
    fs = Tmpfs(size, nr_inodes)
    try:
        yield fs
    finally:
        fs.close()
