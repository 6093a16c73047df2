"""The `objects` file: every command apply may run, literal, object by object (no kernel needed).

The kernel tests prove what these commands do (tests/e2e); here: the file's
shape, that a reviewer's diff of a changed spec is a diff of the commands that
change and of nothing else, and plan's machine-readable form.
"""

from __future__ import annotations

import difflib
import re

from conftest import GOLDEN
from netc.cli.host import parse_plan
from netc.emit.objects import KINDS, bridge_mac, sysctl_path
from netc.pipeline import compile as compile_spec
from netc.resolve.lock import Lock

PHASES = {"from", "need", "gone", "must", "free", "want", "prev", "up", "down", "pub"}
SPEC = """
container db { expose 5432 }
container web { link db:database; publish 8080:80 }
container cache {}
"""


def objects(text: str, tmp_path, backend: str = "iptables", lock: Lock | None = None) -> tuple[str, Lock]:
    spec = tmp_path / "spec.netc"
    spec.write_text(text)
    artifacts, loaded = compile_spec(str(spec), backend=backend, lock=lock or Lock())
    return artifacts["objects"], loaded.lock


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    key = None
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith(("netc-objects ", "kind ")):
            continue
        if not line.startswith(" "):
            key = line
            assert key not in out, f"two objects {key}"
            out[key] = []
        else:
            out[key].append(line)
    return out


def test_every_golden_objects_file_is_well_formed():
    files = sorted(GOLDEN.rglob("objects"))
    assert files
    kinds = {k for k, _ in KINDS}
    for path in files:
        text = path.read_text()
        assert "\nnetc-objects 2\n" in text, path
        assert [l.split()[1] for l in text.splitlines() if l.startswith("kind ")] == [k for k, _ in KINDS]
        for head, lines in sections(text).items():
            kind, ident = head.split(" ")
            assert kind in kinds, f"{path}: {head}"
            assert lines and lines[0].startswith("  from  "), f"{path}: {head} names no spec line"
            for line in lines:
                phase = line.split()[0]
                assert phase in PHASES, f"{path}: {line}"
                if phase in ("up", "down"):
                    where = line.split()[1]
                    assert where in ("ip", "sh", "files") or re.fullmatch(r"ns:[A-Za-z0-9_.-]+", where), line
                if phase == "need" or phase == "gone":
                    assert " ".join(line.split()[1:3]) in sections(text), f"{path}: {line} names no object"


def test_a_reviewers_diff_of_a_changed_spec_shows_the_changed_commands(tmp_path):
    before, lock = objects(SPEC, tmp_path)
    changed = SPEC.replace("publish 8080:80", "publish 8090:80").replace("container cache {}\n", "") + \
        "container queue {}\n"
    after, _ = objects(changed, tmp_path, lock=lock)
    diff = [l for l in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    added = [l[1:] for l in diff if l.startswith("+")]
    removed = [l[1:] for l in diff if l.startswith("-")]
    # The new container's commands, literal, and the removed one's.
    assert "  up    ip netns add netc-queue" in added
    assert any(l.startswith("  up    ip link add ve-queue mtu 1500 type veth peer name eth0 address ") for l in added)
    assert "  up    ip netns add netc-cache" in removed and "  down  ip link del ve-cache" in removed
    # The moved publish changes the firewall object (its rules' digest), nothing of db or web.
    assert any(l.startswith("  want  firewall iptables rules.v4 ") for l in added)
    assert not [l for l in diff if "netc-db" in l or "ve-db" in l or "netc-web" in l or "ve-web" in l]


def test_bridge_mac_and_sysctl_paths():
    from netaddr import IPAddress
    assert bridge_mac(IPAddress("172.17.42.1")) == "02:42:ac:11:2a:01"
    assert sysctl_path("net.ipv4.ip_forward") == ("net/ipv4/ip_forward", None)
    assert sysctl_path("net.ipv4.conf.br.0.route_localnet") == ("net/ipv4/conf/br.0/route_localnet", "br.0")
    assert sysctl_path("net.ipv6.conf.all.forwarding") == ("net/ipv6/conf/all/forwarding", "all")


def test_a_bridge_name_with_a_dot_keeps_its_sysctl_path(tmp_path):
    text, _ = objects("bridge br.1 { bip 10.9.0.1/24 }\ncontainer a { net br.1 }\n", tmp_path)
    assert "sysctl net/ipv4/conf/br.1/route_localnet" in text
    assert "  need  bridge br.1" in text


def test_plan_raw_records_become_plans_json():
    raw = "\n".join([
        "object create veth ve-a",
        "from spec.netc:1 container a",
        "differs ",
        "run up veth ve-a ip link add ve-a mtu 1500 type veth peer name eth0 netns netc-a",
        "run up veth ve-a ns:netc-a addr add 172.17.0.2/16 dev eth0",
        "object remove netns netc-b",
        "from spec.netc:2 container b",
        "differs it is no longer in the output",
        "goes netns netc-b",
        "total 1 0 0 1 7",
    ])
    doc = parse_plan(raw)
    assert doc["summary"] == {"create": 1, "change": 0, "repair": 0, "remove": 1, "keep": 7}
    a, b = doc["changes"]
    assert a["kind"] == "veth" and a["id"] == "ve-a" and a["from"] == "spec.netc:1 container a"
    assert a["commands"][1] == {"phase": "up", "where": "ns:netc-a", "command": "addr add 172.17.0.2/16 dev eth0"}
    assert b["action"] == "remove" and b["differs"] == "it is no longer in the output"
    assert b["removed_with"] == "netns netc-b" and b["commands"] == []
