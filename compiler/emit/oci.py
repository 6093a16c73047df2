"""A real container in netc's network: the OCI runtime configuration of one container.

`netc run-config OUT NAME` reads OUT/netc.json and prints the part of an OCI
runtime configuration (config.json, as runc, crun and youki read it) that
puts a container into what netc applied:

- linux.namespaces: the network namespace netc made for NAME, by path
  (/var/run/netns/<prefix><name>), and a UTS namespace of its own;
- hostname, from netc's hostname file; for a dotted name the domain as the
  UTS namespace's kernel.domainname sysctl (`-h web.example.com` is host name
  web in domain example.com, as in classic Docker; the sysctl, not the
  runtime-spec 1.1 `domainname` field, which runc before 1.2 ignores);
- mounts: /etc/hosts, /etc/resolv.conf and /etc/hostname bound read-only from
  /etc/netns/<namespace>/, where apply installed them (the same files
  `ip netns exec` binds over /etc);
- root.path, given --rootfs.

With `base`, the snippet is merged into a whole configuration (e.g. what
`runc spec` wrote): its network and UTS namespaces and any mounts on those
three files are replaced, everything else kept. A `net host` container gets
no network namespace (it shares the host's) and keeps the host's files; a
`net container:X` container joins X's namespace and files.
"""

from __future__ import annotations

import copy
import json
import os

NETNS_DIR = "/var/run/netns"
ETC_NETNS = "/etc/netns"
FILES = ("hosts", "resolv.conf", "hostname")


class RunConfigError(Exception):
    """The configuration cannot be made: the message says why, for the user."""


def container(data: dict, name: str) -> dict:
    for c in data.get("containers", []):
        if isinstance(c, dict) and c.get("name") == name:
            return c
    from ..diagnostics import did_you_mean, quote
    known = [c.get("name") for c in data.get("containers", []) if isinstance(c, dict) and c.get("name")]
    raise RunConfigError(f"no container {quote(name)} in this output{did_you_mean(name, known)}")


def snippet(data: dict, name: str, rootfs: str | None = None) -> dict:
    """The OCI fragment for container `name` of netc.json's `data`."""
    c = container(data, name)
    out: dict = {}
    if c.get("mode") == "host":
        out["linux"] = {"namespaces": []}  # the host's network namespace and files
    else:
        netns = c.get("netns")
        if not netns:
            raise RunConfigError(f"container {name} has no network namespace in this output")
        hostname = str(c.get("hostname") or name)
        host, _, domain = hostname.partition(".")
        out["hostname"] = host
        out["linux"] = {"namespaces": [{"type": "network", "path": f"{NETNS_DIR}/{netns}"}, {"type": "uts"}]}
        if domain:
            out["linux"]["sysctl"] = {"kernel.domainname": domain}
        out["mounts"] = [{"destination": f"/etc/{f}", "type": "bind", "source": f"{ETC_NETNS}/{netns}/{f}",
                          "options": ["bind", "ro"]} for f in FILES]
    if rootfs is not None:
        out["root"] = {"path": rootfs}
    return out


def merge(base: dict, part: dict) -> dict:
    """`base` (a whole OCI configuration) with `part` (a snippet) put in."""
    if not isinstance(base, dict) or not isinstance(base.get("linux", {}), dict):
        raise RunConfigError("the base configuration is not an OCI runtime configuration (no linux object)")
    out = copy.deepcopy(base)
    linux = out.setdefault("linux", {})
    ours = part["linux"]["namespaces"]
    replaced = {"network"} | {ns["type"] for ns in ours}
    linux["namespaces"] = [ns for ns in linux.get("namespaces", []) if ns.get("type") not in replaced] + ours
    mounts = part.get("mounts", [])
    taken = {m["destination"] for m in mounts}
    out["mounts"] = [m for m in out.get("mounts", []) if m.get("destination") not in taken] + mounts
    if any(ns["type"] == "uts" for ns in ours):  # net host: the base's UTS choice stands
        out["hostname"] = part["hostname"]
        out.pop("domainname", None)
        sysctl = {k: v for k, v in linux.get("sysctl", {}).items() if k != "kernel.domainname"}
        sysctl.update(part["linux"].get("sysctl", {}))
        if sysctl:
            linux["sysctl"] = sysctl
        else:
            linux.pop("sysctl", None)
    if "root" in part:
        out.setdefault("root", {})["path"] = part["root"]["path"]
    return out


def run_config(data: dict, name: str, rootfs: str | None = None, base: str | None = None) -> tuple[dict, str | None]:
    """What `netc run-config` prints, and a note for the user (or None)."""
    part = snippet(data, name, os.path.abspath(rootfs) if rootfs else None)
    if base is not None:
        try:
            with open(base, encoding="utf-8") as f:
                part = merge(json.load(f), part)
        except json.JSONDecodeError as exc:
            raise RunConfigError(f"{base} is not JSON: {exc}") from None
    note = None
    if container(data, name).get("mode") == "host":
        note = (f"{name} is net host: it runs in the host's network namespace, with the host's files "
                "(no network namespace, no mounts)")
    return part, note
