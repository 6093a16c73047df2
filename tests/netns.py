"""Throwaway network namespaces for tests (DESIGN.md, "Testing in real network namespaces").

Every namespace gets a unique name and is deleted in a `finally`, also when a
test fails. Nothing here touches the machine's own network namespace: commands
run inside a namespace with `ip netns exec` / `ip -n`, or, for scripts that
must create namespaces of their own (apply.sh), with `nsenter --net=`, which
switches the network namespace only (a private mount namespace, as `ip netns
exec` makes, would hide the namespaces apply.sh creates from everyone else).
"""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from netc.prove.requirements import why_not
from netc.prove.sandbox import NETNS_DIR, in_ns, leftover, sh, unique  # noqa: F401


def require_namespaces() -> None:
    why = why_not()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the kernel tests: {why}")
        pytest.skip(why)


@contextlib.contextmanager
def namespace(prefix: str = "nt"):
    name = unique(prefix)
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


