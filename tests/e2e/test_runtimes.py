"""A real container runtime in netc's network (docs/runtimes.md): runc with a busybox rootfs.

The spec is applied in a sandbox (a throwaway "host" namespace and an
"outside" one, compiler/prove/sandbox.py). runc runs in the machine's own
namespaces but each container joins only what the test made: the network
namespace netc created for it (by path, from `netc run-config`), plus its own
UTS, mount, pid and ipc namespaces. Nothing is configured in the root network
namespace. Every runc container is deleted by its id in a finally, under a
runc state folder of the test's own.

What is proven in the kernel:
- web's busybox httpd answers from the outside namespace through the publish
  (198.51.100.1:8080 -> web:80), and db, which is not published, does not,
  even to a peer that routes the container subnet via the host;
- web reaches db by its link alias with busybox wget (hosts file from
  /etc/netns/<ns>/, icc false: only the link's rule lets it through), and db
  cannot reach web (no link that way);
- web's UTS host name and domain name are netc's hostname file, its
  /etc/hosts, /etc/resolv.conf and /etc/hostname are netc's files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netns import require_namespaces, sh
from util import compile_for, container, netc

SPEC = """
daemon { icc false }
container db { expose 80 }
container web {
    hostname web.example.com
    link db:database
    publish 8080:80
}
"""

APPLETS = ("sh", "httpd", "wget", "cat", "hostname", "timeout")
TIMED_OUT = 143  # busybox timeout: the command killed by SIGTERM (busybox-static's wget -T crashes)


def requirements() -> tuple[str, str]:
    """runc and a static busybox, or a skip that says which is missing."""
    require_namespaces()  # root and `ip netns`
    runc = shutil.which("runc")
    busybox = shutil.which("busybox")
    missing = [name for name, path in (("runc", runc), ("busybox-static", busybox)) if path is None]
    if missing:
        reason = f"needs Debian's {' and '.join(missing)} (make system installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the runtime test: it {reason}")
        pytest.skip(reason)
    if subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        pytest.skip(f"{busybox} is linked dynamically: the rootfs needs busybox-static's")
    return runc, busybox


def make_rootfs(folder: Path, busybox: str, page: str) -> Path:
    """A root file system of busybox alone, serving `page` from /www."""
    root = folder / "rootfs"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "www"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "www" / "index.html").write_text(page)
    return root


class Runc:
    """runc with a state folder of this test's own; delete() removes every container it made."""

    def __init__(self, runc: str, state: Path) -> None:
        self.runc, self.state, self.made = runc, state, []

    def __call__(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        r = subprocess.run([self.runc, "--root", str(self.state), *args], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"runc {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def run_detached(self, bundle: Path, cid: str) -> None:
        self.made.append(cid)
        log = bundle / "output.log"
        with open(log, "w") as out:  # the container's own output, for a failure's message
            r = subprocess.run([self.runc, "--root", str(self.state), "run", "--detach", "--bundle", str(bundle),
                                cid], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0, f"runc run {cid} failed: {log.read_text()}"

    def exec(self, cid: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self("exec", cid, *argv, check=check)

    def delete(self) -> None:
        for cid in self.made:
            subprocess.run([self.runc, "--root", str(self.state), "delete", "--force", cid],
                           capture_output=True, timeout=30)


def bundle_for(tmp_path: Path, runc: Runc, out: Path, name: str, busybox: str) -> Path:
    """An OCI bundle: `runc spec`'s defaults, with netc run-config's parts put in (--base)."""
    bundle = tmp_path / f"bundle-{name}"
    bundle.mkdir()
    rootfs = make_rootfs(bundle, busybox, f"hello from {name}\n")
    runc("spec", "--bundle", str(bundle))
    r = netc("run-config", str(out), name, "--rootfs", str(rootfs), "--base", str(bundle / "config.json"))
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


def wait_for(check, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_run_config_snippet(tmp_path):
    """What run-config prints, without a kernel: namespaces by path, files, hostname, merge."""
    spec = tmp_path / "spec.netc"
    spec.write_text(SPEC + "container tool { net host }\ncontainer side { net container:web }\n")
    out = tmp_path / "out"
    assert netc("compile", str(spec), "-o", str(out), "--netns-prefix", "t-").returncode == 0
    part = json.loads(netc("run-config", str(out), "web").stdout)
    assert part["hostname"] == "web" and part["linux"]["sysctl"] == {"kernel.domainname": "example.com"}
    assert part["linux"]["namespaces"] == [{"type": "network", "path": "/var/run/netns/t-web"}, {"type": "uts"}]
    assert [(m["destination"], m["source"]) for m in part["mounts"]] == [
        ("/etc/hosts", "/etc/netns/t-web/hosts"), ("/etc/resolv.conf", "/etc/netns/t-web/resolv.conf"),
        ("/etc/hostname", "/etc/netns/t-web/hostname")]
    assert "root" not in part and "sysctl" not in json.loads(netc("run-config", str(out), "db").stdout)["linux"]
    side = json.loads(netc("run-config", str(out), "side").stdout)
    assert side["linux"]["namespaces"][0]["path"] == "/var/run/netns/t-web"
    r = netc("run-config", str(out), "tool")
    assert r.returncode == 0 and json.loads(r.stdout) == {"linux": {"namespaces": []}} and "net host" in r.stderr
    base = {"hostname": "runc", "domainname": "old", "mounts": [{"destination": "/proc", "type": "proc"},
                                           {"destination": "/etc/hosts", "type": "bind", "source": "/x"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "uts"}]}}
    (tmp_path / "base.json").write_text(json.dumps(base))
    merged = json.loads(netc("run-config", str(out), "web", "--base", str(tmp_path / "base.json"),
                             "--rootfs", "rootfs").stdout)
    assert merged["linux"]["namespaces"] == [{"type": "pid"}, *part["linux"]["namespaces"]]
    assert [m["destination"] for m in merged["mounts"]] == ["/proc", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]
    assert merged["hostname"] == "web" and merged["root"]["path"] == str(Path.cwd() / "rootfs")
    assert "domainname" not in merged and merged["linux"]["sysctl"] == {"kernel.domainname": "example.com"}
    host = json.loads(netc("run-config", str(out), "tool", "--base", str(tmp_path / "base.json")).stdout)
    assert host["linux"]["namespaces"] == [{"type": "pid"}, {"type": "uts"}] and host["hostname"] == "runc"
    assert host["domainname"] == "old" and "sysctl" not in host["linux"]
    r = netc("run-config", str(out), "wbe")
    assert r.returncode == 2 and "did you mean 'web'" in r.stderr
    (tmp_path / "bad.json").write_text("{")
    r = netc("run-config", str(out), "web", "--base", str(tmp_path / "bad.json"))
    assert r.returncode == 2 and "is not JSON" in r.stderr
    r = netc("run-config", str(tmp_path), "web")
    assert r.returncode == 2 and "holds no netc.json" in r.stderr


def test_runc_containers_in_a_netc_network(sandbox, tmp_path):
    runc_path, busybox = requirements()
    out, net = compile_for(sandbox, tmp_path, SPEC)
    r = sandbox.apply(out)
    assert r.returncode == 0, r.stderr
    runc = Runc(runc_path, tmp_path / "runc-state")
    ids = {name: f"{sandbox.tag}-{name}" for name in ("db", "web")}
    try:
        for name in ("db", "web"):
            runc.run_detached(bundle_for(tmp_path, runc, out, name, busybox), ids[name])

        # The container's process is in netc's namespace: same inode as /var/run/netns/<ns>.
        web_ns = container(net, "web")["netns"]
        pid = json.loads(runc("state", ids["web"]).stdout)["pid"]
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/var/run/netns/{web_ns}").st_ino
        assert os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino

        # Host name, domain name and files are netc's.
        assert runc.exec(ids["web"], "hostname").stdout.strip() == "web"
        assert runc.exec(ids["web"], "cat", "/proc/sys/kernel/domainname").stdout.strip() == "example.com"
        for f in ("hosts", "resolv.conf", "hostname"):
            assert runc.exec(ids["web"], "cat", f"/etc/{f}").stdout == (out / "containers" / "web" / f).read_text()
        assert runc.exec(ids["web"], "sh", "-c", "echo x > /etc/hosts", check=False).returncode != 0, \
            "netc's files are bound read-only"

        # The publish, from the outside namespace: web answers; db, not published, does not.
        def outside_get(url: str) -> subprocess.CompletedProcess:
            # Python, not the host's busybox wget: a static glibc binary crashes loading the host's NSS modules.
            fetch = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=3).read().decode(), end='')"
            return sh("nsenter", f"--net=/var/run/netns/{sandbox.outside}", "--", sys.executable, "-c", fetch,
                      check=False)
        wait_for(lambda: outside_get("http://198.51.100.1:8080/").returncode == 0, "web's httpd via the publish")
        assert outside_get("http://198.51.100.1:8080/").stdout == "hello from web\n"
        # Even for a peer that routes the container subnet via the host (netc drops what no publish
        # translated), db's port is closed.
        db_ip = container(net, "db")["address"]
        sh("ip", "-n", sandbox.outside, "route", "add", "172.17.0.0/16", "via", "198.51.100.1")
        r = outside_get(f"http://{db_ip}:80/")
        assert r.returncode != 0 and "timed out" in r.stderr, f"db from outside, without a publish: {r.stderr}"

        # The link: web reaches db by its alias (icc false: only the link's rule lets it through) ...
        r = runc.exec(ids["web"], "timeout", "5", "wget", "-q", "-O", "-", "http://database/", check=False)
        assert r.returncode == 0 and r.stdout == "hello from db\n", r.stderr
        # ... and db cannot open web (no link that way, icc false): its SYN is dropped, wget waits.
        web_ip = container(net, "web")["address"]
        r = runc.exec(ids["db"], "timeout", "3", "wget", "-q", "-O", "-", f"http://{web_ip}/", check=False)
        assert r.returncode == TIMED_OUT, f"db -> web: exit {r.returncode} {r.stderr}"

        # A plain process (docs/runtimes.md, ip netns exec): netc's files over /etc, and with
        # unshare --uts the host and domain name from the hostname file.
        name_it = ('hostname "$(cut -d. -f1 /etc/hostname)"; domainname "$(cut -s -d. -f2- /etc/hostname)"; '
                   'cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname /etc/hosts')
        r = sh("ip", "netns", "exec", web_ns, "unshare", "--uts", "sh", "-c", name_it)
        assert r.stdout == "web\nexample.com\n" + (out / "containers" / "web" / "hosts").read_text()
    finally:
        runc.delete()
    assert runc("list", "--quiet").stdout.split() == [], "runc containers left behind"
    assert sandbox.teardown(out).returncode == 0
