"""Exposure (LANGUAGE.md "Exposure"): who may reach a publish, in a real kernel, both backends.

A client whose source address, as the host receives it, lies outside a publish's
allow-list gets no answer, whether it is outside the host, the host itself or a
container; inside the list nothing changes. The sandbox's outside peer
(198.51.100.2, 2001:db8:ff::2) also owns a second address in each family
(192.0.2.9, 2001:db8:ee::9), which it uses as the source towards the host when
`other_source` is on: one peer stands for a client inside a list and one outside.
"""

from __future__ import annotations

import pytest

from netns import in_ns, sh
from netc.prove.sandbox import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6
from util import compile_for, container

BACKENDS = ["iptables", "nftables"]
OTHER, OTHER6 = "192.0.2.9", "2001:db8:ee::9"

SPEC = """
daemon { ipv6 true; fixed-cidr-v6 2001:db8:1::/64; publish-from 198.51.100.0/24, 2001:db8:ff::/64 }
container web {
    publish 8080:80
    publish 8081:81 from 192.0.2.0/24, 2001:db8:ee::/64
    publish 8082:82 from 0.0.0.0/0
    publish 5353:53/udp from 198.51.100.2
    publish 198.51.100.1:8083:83 from 172.17.0.0/16
    publish 127.0.0.1:9000:9000
}
container other {}
"""


def other_source(box, on: bool) -> None:
    """From now on the outside peer reaches the host from OTHER (OTHER6), or from its own address."""
    if on:
        in_ns(box.outside, "ip", "addr", "replace", f"{OTHER}/32", "dev", "eth0")
        in_ns(box.outside, "ip", "addr", "replace", f"{OTHER6}/128", "dev", "eth0", "nodad")
        sh("ip", "-n", box.host, "route", "replace", f"{OTHER}/32", "via", OUTSIDE_IP)
        sh("ip", "-n", box.host, "route", "replace", f"{OTHER6}/128", "via", OUTSIDE_IP6)
        in_ns(box.outside, "ip", "route", "replace", f"{HOST_IP}/32", "dev", "eth0", "src", OTHER)
        in_ns(box.outside, "ip", "-6", "route", "replace", f"{HOST_IP6}/128", "dev", "eth0", "src", OTHER6)
    else:
        in_ns(box.outside, "ip", "route", "del", f"{HOST_IP}/32")
        in_ns(box.outside, "ip", "-6", "route", "del", f"{HOST_IP6}/128")


def ask(box, ns: str, *targets: str) -> dict[str, str]:
    return box.ask(ns, *targets)


def who(answer: str) -> str:
    return answer.split()[0] if answer != "no answer" else "-"


@pytest.mark.parametrize("backend", BACKENDS)
def test_allow_lists_from_outside_the_host_and_containers(sandbox, tmp_path, backend):
    out, net = compile_for(sandbox, tmp_path, SPEC, backend)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    web, other = container(net, "web"), container(net, "other")
    sandbox.serve(web["netns"], "web", "tcp:80", "tcp:81", "tcp:82", "tcp:83", "udp:53", "tcp:9000")
    sandbox.serve(other["netns"], "other", "tcp:1")
    h, h6 = HOST_IP, f"[{HOST_IP6}]"
    targets = [f"tcp:{h}:8080", f"tcp:{h}:8081", f"tcp:{h}:8082", f"udp:{h}:5353", f"tcp:{h}:8083",
               f"tcp:{h6}:8080", f"tcp:{h6}:8081", f"tcp:{h6}:8082", f"udp:{h6}:5353"]

    def seen(ns):
        a = ask(sandbox, ns, *targets)
        return [who(a[t]) for t in targets]

    # The outside peer from 198.51.100.2 / 2001:db8:ff::2: in the daemon's list, in 5353's (IPv4).
    #                              8080   8081  8082   5353   8083   8080/6 8081/6 8082/6 5353/6
    assert seen(sandbox.outside) == ["web", "-", "web", "web", "-", "web", "-", "web", "-"]
    # The same peer from 192.0.2.9 / 2001:db8:ee::9: in 8081's list only (8082 is public).
    other_source(sandbox, True)
    assert seen(sandbox.outside) == ["-", "web", "web", "-", "-", "-", "web", "web", "-"]
    other_source(sandbox, False)
    assert seen(sandbox.outside)[0] == "web"
    # The host itself, from its own address 198.51.100.1 (in the daemon's list; not in 172.17/16).
    a = ask(sandbox, sandbox.host, f"tcp:{h}:8080", f"tcp:{h}:8081", f"tcp:{h}:8083", "tcp:127.0.0.1:9000")
    assert [who(v) for v in a.values()] == ["web", "-", "-", "web"], a
    # A container (172.17.0.3): only 8083 lists it; 8082 is public. And web's own hairpin.
    a = ask(sandbox, other["netns"], f"tcp:{h}:8080", f"tcp:{h}:8082", f"tcp:{h}:8083")
    assert [who(v) for v in a.values()] == ["-", "web", "web"], a
    a = ask(sandbox, web["netns"], f"tcp:{h}:8083", f"tcp:{h}:8081")
    assert [who(v) for v in a.values()] == ["web", "-"], a
    sandbox.stop_servers()
    assert sandbox.teardown(out).returncode == 0
