"""netc verify: explain agrees with the kernel on every probe of every example, for both backends."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES
from netc.prove import verify
from netc.resolve.lock import Lock
from netc.pipeline import load
from netns import require_namespaces

BACKENDS = ["iptables", "nftables"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*.netc")), ids=lambda p: p.stem)
def test_verify_example(spec, backend):
    require_namespaces()
    probes = verify.run(lambda prefix: load(str(spec), netns_prefix=prefix, lock=Lock()).network, backend, 80)
    assert probes
    bad = [p for p in probes if not p.agrees]
    assert not bad, verify.table(bad)


# ------------------------------------------------------------------ differential
# Random small topologies; verify (the kernel) must agree with explain on every
# probe, for both backends. `make verify-long` runs many more examples.

# Each family mode (IPv4 only, dual stack) draws its own examples: a derandomized run of a
# few would otherwise not be sure to draw one dual-stack topology.
EXAMPLES_N = int(os.environ.get("NETC_DIFFERENTIAL_EXAMPLES", "2"))


@st.composite
def topologies(draw, dual: bool):
    n = draw(st.integers(2, 5))
    names = [f"c{i}" for i in range(n)]
    two = draw(st.booleans())
    # Dual stack: the default bridge, and br1 either with IPv6 of its own or IPv4 only.
    v6 = "; ipv6 true; fixed-cidr-v6 2001:db8:1::/64" if dual else ""
    lines = [f"daemon {{ icc {str(draw(st.booleans())).lower()}; ip-masq {str(draw(st.booleans())).lower()}{v6} }}"]
    br1_v6 = ""
    if dual and two:
        br1_v6 = draw(st.sampled_from(["; fixed-cidr-v6 fd00:77::/120", "; ipv6 false"]))
    if two:
        lines.append(f"bridge br1 {{ bip 10.77.0.1/24; icc {str(draw(st.booleans())).lower()}{br1_v6} }}")
    has_v6 = {"bridge": dual, "br1": dual and "fixed-cidr-v6" in br1_v6}
    bridge_of, port = {}, 8000
    for i, name in enumerate(names):
        opts = []
        mode = draw(st.sampled_from(["bridge"] * 4 + ["br1"] * (2 if two else 0) + ["none", "container"]
                                    if i else ["bridge", "br1"] if two else ["bridge"]))
        if mode == "container":
            owner = draw(st.sampled_from([x for x in names[:i] if bridge_of.get(x)]
                                         or [None]))
            if owner is None:
                mode = "bridge"
            else:
                opts.append(f"net container:{owner}")
                bridge_of[name] = None
        if mode in ("bridge", "br1"):
            bridge_of[name] = mode
            if mode == "br1":
                opts.append("net br1")
            for p in draw(st.lists(st.sampled_from(["80", "443/tcp", "53/udp", "7000-7001"]), max_size=2, unique=True)):
                opts.append(f"expose {p}")
            forms = ["explicit", "local", "drawn", "udp", "range", "any4"] + (["any6", "host6", "drawn6"]
                                                                                if has_v6[mode] else [])
            for form in draw(st.lists(st.sampled_from(forms), max_size=2, unique=True)):
                port += 10
                opts.append({"explicit": f"publish {port}:80", "local": f"publish 127.0.0.1:{port}:81",
                             "drawn": "publish 82", "udp": f"publish {port}:53/udp",
                             "range": f"publish {port}-{port + 1}:90-91", "any4": f"publish 0.0.0.0:{port}:83",
                             "any6": f"publish [::]:{port}:84", "host6": f"publish [2001:db8:ff::1]:{port}:85/udp",
                             "drawn6": "publish [::]::86"}[form])
            if draw(st.booleans()):
                opts.append("publish-all")
            peers = [x for x in names[:i] if bridge_of.get(x) == mode]
            for peer in draw(st.lists(st.sampled_from(peers), max_size=1, unique=True)) if peers else []:
                opts.append(f"link {peer}")
        elif mode == "none":
            opts.append("net none")
            bridge_of[name] = None
        lines.append(f"container {name} {{ {'; '.join(opts)} }}")
    return "\n".join(lines) + "\n"


def _differential(tmp_path, backend, spec_text):
    require_namespaces()
    path = tmp_path / f"t{abs(hash(spec_text))}.netc"
    path.write_text(spec_text)
    probes = verify.run(lambda prefix: load(str(path), netns_prefix=prefix, lock=Lock()).network, backend, 60)
    bad = [p for p in probes if not p.agrees]
    assert not bad, spec_text + verify.table(bad)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=EXAMPLES_N, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_text=topologies(dual=False))
def test_differential(tmp_path, backend, spec_text):
    _differential(tmp_path, backend, spec_text)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=EXAMPLES_N, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_text=topologies(dual=True))
def test_differential_dual_stack(tmp_path, backend, spec_text):
    assert "ipv6 true" in spec_text
    _differential(tmp_path, backend, spec_text)


@pytest.mark.parametrize("backend", BACKENDS)
def test_verify_reaches_p2p_peers_by_name(backend):
    """explain names a p2p peer by its container name; the kernel agrees."""
    require_namespaces()
    spec = EXAMPLES / "p2p.netc"
    probes = verify.run(lambda prefix: load(str(spec), netns_prefix=prefix, lock=Lock()).network, backend)
    by_name = [p for p in probes if p.target.split(":")[0] in ("one", "two")]
    assert len(by_name) >= 2 and all(p.agrees for p in by_name), verify.table(by_name)
    assert all(p.predicted.split()[0] in ("one", "two") for p in by_name)   # delivered, over the link


@pytest.mark.parametrize("calls", ["0", "1"])
def test_verify_runs_the_sandbox_as_the_host_hands_bridged_frames(tmp_path, calls):
    """verify's sandbox takes this host's bridge-nf-call sysctls (a new namespace would get 1
    wherever br_netfilter is loaded): run from a namespace where they are CALLS, it says so, and
    the nftables backend's icc, links and same-bridge publishes agree with explain."""
    import sys
    from pathlib import Path
    from netns import in_ns, namespace
    require_namespaces()
    spec = tmp_path / "s.netc"
    spec.write_text("daemon { icc false; ipv6 true; fixed-cidr-v6 2001:db8:1::/64 }\n"
                    "container db { expose 5432 }\ncontainer web { link db; publish 8080:80 }\ncontainer lone {}\n")
    with namespace("nv") as ns:
        for key in verify.BRIDGE_NF_CALLS:
            in_ns(ns, "sh", "-c", f"echo {calls} > /proc/sys/net/bridge/{key}")
        r = in_ns(ns, str(Path(sys.executable).parent / "netc"), "verify", str(spec), "--backend", "nftables",
                  check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"net.bridge.bridge-nf-call-iptables {calls} as on this host" in r.stderr
    assert "probes agree with explain" in r.stdout
