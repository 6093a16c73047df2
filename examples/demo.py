"""`make demo`: compile a shipped example, apply it in a throwaway sandbox,
show the traffic that flows and the traffic that is blocked, tear down.

    python examples/demo.py              # examples/demo.netc (make demo)
    python examples/demo.py dual-stack   # examples/dual-stack.netc, in both families (make demo-ipv6)

Everything happens in network namespaces this script creates (a "host" and an
"outside" joined by 198.51.100.0/24 and 2001:db8:ff::/64) and deletes again;
the machine's own network namespace is never touched. Without root it compiles
the example, shows the output tree, and says why it stops there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETC = str(Path(sys.executable).parent / "netc")


def demo_probes(c: dict, host: str, outside: str, six: dict) -> list:
    """(who, PROTO:ADDRESS:PORT, answers?, why) for demo.netc."""
    db, web = c["db"]["address"], c["web"]["address"]
    return [
        ("web", f"tcp:{db}:5432", True, "the link: web -> db on the exposed port"),
        ("web", f"tcp:{db}:6000", False, "icc false: a port db does not expose"),
        ("other", f"tcp:{db}:5432", False, "icc false: other has no link to db"),
        ("db", f"tcp:{web}:80", False, "icc false: links are one way"),
        ("outside", f"tcp:{host}:8080", True, "the publish, from outside the host"),
        ("other", f"tcp:{host}:8080", True, "the publish, from another container"),
        ("web", f"tcp:{host}:8080", True, "the publish, from web itself (hairpin)"),
    ]


def dual_stack_probes(c: dict, host: str, outside: str, six: dict) -> list:
    """The same questions in IPv6, and the publishes of one family asked in the other."""
    db6, web6, h6, o6 = (f"[{c['db']['address6']}]", f"[{c['web']['address6']}]", f"[{six['host']}]",
                         f"[{six['outside']}]")
    return [
        ("web", f"tcp:{db6}:5432", True, "IPv6: the link, web -> db on the exposed port"),
        ("web", f"tcp:{db6}:6000", False, "IPv6: icc false, a port db does not expose"),
        ("other", f"tcp:{db6}:5432", False, "IPv6: icc false, other has no link to db"),
        ("db", f"tcp:{web6}:80", False, "IPv6: links are one way"),
        ("outside", f"tcp:{h6}:8080", True, "IPv6: publish 8080:80, from outside"),
        ("outside", f"tcp:{host}:8080", True, "IPv4: the same publish"),
        ("outside", f"tcp:{h6}:8443", True, "IPv6: publish [::]:8443:443"),
        ("outside", f"tcp:{host}:8443", False, "IPv4: [::] is IPv6 only"),
        ("outside", f"tcp:{host}:8081", True, "IPv4: publish 0.0.0.0:8081:81"),
        ("outside", f"tcp:{h6}:8081", False, "IPv6: 0.0.0.0 is IPv4 only"),
        ("other", f"tcp:{h6}:8080", True, "IPv6: the publish, from another container"),
        ("web", f"tcp:{h6}:8080", True, "IPv6: the publish, from web itself (hairpin)"),
        ("outside", f"tcp:{db6}:5432", False, "IPv6: routed straight to db: direct-routing protection"),
        ("db", f"tcp:{o6}:7777", True, "IPv6: egress, masqueraded to the host's address"),
    ]


DEMOS = {"demo": ("demo.netc", demo_probes), "dual-stack": ("dual-stack.netc", dual_stack_probes)}


def title(text: str) -> None:
    print(f"\n== {text}")


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "demo"
    if which not in DEMOS:
        print(f"demo.py: unknown demo {which!r}: one of {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    name, probes_of = DEMOS[which]
    source = HERE / name
    work = Path(tempfile.mkdtemp(prefix="netc-demo-"))
    try:
        spec = work / name
        shutil.copy(source, spec)
        title(f"the spec ({source.relative_to(HERE.parent)})")
        print(source.read_text(), end="")
        from netc.prove.sandbox import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, Sandbox, sh
        from netc.prove.requirements import why_not
        reason = why_not()
        box = Sandbox() if reason is None else None
        try:
            out = work / "out"
            args = [NETC, "compile", str(spec), "-o", str(out)] + (["--netns-prefix", box.prefix] if box else [])
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode:
                print(r.stderr)
                return 1
            title(f"netc compile {name} -o out")
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    print(f"  {p.relative_to(out)}")
            for rules in ("rules.v4", "rules.v6"):
                if (out / rules).exists():
                    title(f"out/{rules} (the filter chain)")
                    for line in (out / rules).read_text().splitlines():
                        if line.startswith("-A NETC-FORWARD"):
                            print(f"  {line}")
            if box is None:
                title(f"stopping here: applying needs {reason} (run `make demo` as root)")
                return 0
            net = json.loads((out / "netc.json").read_text())
            c = {x["name"]: x for x in net["containers"]}
            title(f"apply.sh in a sandbox host namespace ({box.host})")
            r = box.apply(out)
            print("  " + r.stderr.strip().replace("\n", "\n  "))
            if r.returncode:
                return 1
            box.serve(c["db"]["netns"], "db", "tcp:5432", "tcp:6000")
            box.serve(c["web"]["netns"], "web", "tcp:80", "tcp:81", "tcp:443")
            box.serve(box.outside, "outside", "tcp:7777")
            for b in net["bridges"]:  # outside routes the containers' subnets via the host, to try them directly
                if b.get("network6"):
                    sh("ip", "-n", box.outside, "route", "add", b["network6"], "via", HOST_IP6)
            probes = probes_of(c, HOST_IP, OUTSIDE_IP, {"host": HOST_IP6, "outside": OUTSIDE_IP6})
            title("traffic")
            agree = 0
            for who, target, expect, why in probes:
                ns = box.outside if who == "outside" else c[who]["netns"]
                answer = box.ask(ns, target)[target]
                ok = (answer != "no answer") == expect
                agree += ok
                shown = f"answered ({answer})" if answer != "no answer" else "blocked"
                print(f"  {'ok ' if ok else 'BAD'} {who:>7} -> {target:<34} {shown:<40} {why}")
            box.stop_servers()
            title("teardown.sh")
            r = box.teardown(out)
            print("  " + r.stderr.strip())
            print(f"\n{agree} of {len(probes)} probes behaved as the spec says.")
            to = f"[{c['db']['address6']}]:5432" if which == "dual-stack" else "db:5432"
            title(f"netc explain {name} --from other --to {to} --backend iptables")
            r2 = subprocess.run([NETC, "explain", str(spec), "--from", "other", "--to", to,
                                 "--backend", "iptables"], capture_output=True, text=True)
            print(r2.stdout, end="")
            title(f"netc verify {name}: every probe of the matrix, in a fresh sandbox, against explain")
            r3 = subprocess.run([NETC, "verify", str(spec)], capture_output=True, text=True)
            print(r3.stdout, end="")
            return 0 if agree == len(probes) and r.returncode == 0 and r3.returncode == 0 else 1
        finally:
            if box is not None:
                box.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
