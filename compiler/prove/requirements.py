"""Whether this machine can run the kernel parts (verify, the demo): root and the tools."""

from __future__ import annotations

import os
import shutil


def why_not() -> str | None:
    """None when namespaces and the tools are there, else what is missing."""
    if os.geteuid() != 0:
        return "root (it builds network namespaces)"
    missing = [t for t in ("ip", "nsenter", "iptables-restore", "nft") if shutil.which(t) is None]
    return f"these tools: {', '.join(missing)}" if missing else None
