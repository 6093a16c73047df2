"""Compile a spec for a sandbox, and read back what netc allocated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import netc


def compile_for(box, tmp_path: Path, text: str, backend: str = "iptables") -> tuple[Path, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec = tmp_path / "spec.netc"
    spec.write_text(text)
    out = tmp_path / "out"
    r = netc("compile", str(spec), "-o", str(out), "--netns-prefix", box.prefix, "--backend", backend)
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "netc.json").read_text())


def container(net: dict, name: str) -> dict:
    return next(c for c in net["containers"] if c["name"] == name)


def host_port(net: dict, name: str, cport: int, proto: str = "tcp", host_ip: str | None = None) -> int:
    for m in container(net, name)["mappings"]:
        lo, _, hi = m["container_ports"].partition("-")
        hi = hi or lo
        if m["proto"] == proto and int(lo) <= cport <= int(hi) and (host_ip is None or m["host_ip"] == host_ip):
            hlo = int(m["host_ports"].split("-")[0])
            return hlo + cport - int(lo)
    raise KeyError((name, cport, proto))


def plan(box, out: Path, *args: str) -> subprocess.CompletedProcess:
    """`netc plan OUT` in the sandbox's host namespace."""
    from netc.prove.sandbox import NETNS_DIR
    netc_bin = str(Path(sys.executable).parent / "netc")
    return subprocess.run(["nsenter", f"--net={NETNS_DIR}/{box.host}", "--", netc_bin, "plan", str(out), *args],
                          capture_output=True, text=True, env=box.env(), timeout=300)
