"""No stale connection tracking (issue 14, part 5), in a real kernel, both backends.

A UDP client outside keeps sending from one source port to a published host port
(one conntrack entry, which would keep its translation until it times out). A
re-apply that moves the publish to another container, or to another container
port, or removes it, deletes that port's entries: within a second the client's
datagrams reach the new target, or nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from netc.prove.sandbox import HOST_IP
from util import compile_for, container

BACKENDS = ["iptables", "nftables"]
A = "container a { publish 5353:53/udp }\ncontainer b { expose 53/udp }\n"
B = "container a { expose 53/udp }\ncontainer b { publish 5353:53/udp }\n"
B2 = "container a { expose 53/udp }\ncontainer b { publish 5353:54/udp }\n"
NONE = "container a { expose 53/udp }\ncontainer b { expose 53/udp }\n"

# Sends one datagram every 50 ms from source port 40053 for SECONDS; prints "TIME ANSWER" per reply.
CLIENT = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40053)); s.settimeout(0.05)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    s.sendto(b"?", (sys.argv[1], 5353))
    try:
        data = s.recv(200)
        print(f"{time.monotonic():.3f} {data.decode().split()[0]}", flush=True)
    except OSError:
        pass
    time.sleep(0.05)
"""


def replies_after(lines: list[str], t: float) -> list[str]:
    return [w for line in lines for ts, w in [line.split()] if float(ts) > t]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_udp_flow_follows_a_moved_publish_at_once(sandbox, tmp_path, backend):
    out_a, net = compile_for(sandbox, tmp_path / "a", A, backend)
    assert sandbox.apply(out_a).returncode == 0
    a, b = container(net, "a"), container(net, "b")
    sandbox.serve(a["netns"], "a", "udp:53")
    sandbox.serve(b["netns"], "b", "udp:53")
    sandbox.serve(b["netns"], "b54", "udp:54")
    out_b, _ = compile_for(sandbox, tmp_path / "b", B, backend)
    out_b2, _ = compile_for(sandbox, tmp_path / "b2", B2, backend)
    out_none, _ = compile_for(sandbox, tmp_path / "none", NONE, backend)
    log = (tmp_path / "client.log").open("w")
    client = subprocess.Popen(["ip", "netns", "exec", sandbox.outside, sys.executable, "-c", CLIENT, HOST_IP, "120"],
                              stdout=log, text=True)
    try:
        time.sleep(1.0)
        steps, starts = [], []
        for out in (out_b, out_b2, out_none):
            starts.append(time.monotonic())
            r = sandbox.apply(out)
            assert r.returncode == 0, r.stderr
            steps.append(time.monotonic())
            time.sleep(2.0)
    finally:
        client.terminate()   # the client this test started, by its handle
        client.wait(timeout=30)
        log.close()
    lines = (tmp_path / "client.log").read_text().splitlines()
    before = [w for line in lines for ts, w in [line.split()] if float(ts) < starts[0]]
    assert before and set(before) == {"a"}, lines
    # One second after each apply: only the new target answers (b on 53, then b on 54), then nobody.
    moved = [w for line in lines for ts, w in [line.split()] if steps[0] + 1 < float(ts) < starts[1]]
    assert moved and set(moved) == {"b"}, lines
    moved = [w for line in lines for ts, w in [line.split()] if steps[1] + 1 < float(ts) < starts[2]]
    assert moved and set(moved) == {"b54"}, lines
    assert replies_after(lines, steps[2] + 1) == [], lines
    sandbox.stop_servers()
    assert sandbox.teardown(out_none).returncode == 0
