"""`make demo`: compile a shipped example, apply it in a throwaway sandbox,
show the traffic that flows and the traffic that is blocked, tear down.

Everything happens in network namespaces this script creates (a "host" and an
"outside" joined by 198.51.100.0/24) and deletes again; the machine's own
network namespace is never touched. Without root it compiles the example,
shows the output tree, and says why it stops there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "demo.netc"
NETC = str(Path(sys.executable).parent / "netc")


def title(text: str) -> None:
    print(f"\n== {text}")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="netc-demo-"))
    try:
        spec = work / "demo.netc"
        shutil.copy(SPEC, spec)
        title(f"the spec ({SPEC.relative_to(HERE.parent)})")
        print(SPEC.read_text(), end="")
        from netc.prove.sandbox import HOST_IP, OUTSIDE_IP, Sandbox
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
            title("netc compile demo.netc -o out")
            for p in sorted(out.rglob("*")):
                if p.is_file():
                    print(f"  {p.relative_to(out)}")
            title("out/rules.v4 (the filter chain)")
            for line in (out / "rules.v4").read_text().splitlines():
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
            box.serve(c["web"]["netns"], "web", "tcp:80")
            db, web = c["db"]["address"], c["web"]["address"]
            probes = [
                ("web", f"tcp:{db}:5432", True, "the link: web -> db on the exposed port"),
                ("web", f"tcp:{db}:6000", False, "icc false: a port db does not expose"),
                ("other", f"tcp:{db}:5432", False, "icc false: other has no link to db"),
                ("db", f"tcp:{web}:80", False, "icc false: links are one way"),
                ("outside", f"tcp:{HOST_IP}:8080", True, "the publish, from outside the host"),
                ("other", f"tcp:{HOST_IP}:8080", True, "the publish, from another container"),
                ("web", f"tcp:{HOST_IP}:8080", True, "the publish, from web itself (hairpin)"),
            ]
            title("traffic")
            agree = 0
            for who, target, expect, why in probes:
                ns = box.outside if who == "outside" else c[who]["netns"]
                answer = box.ask(ns, target)[target]
                ok = (answer != "no answer") == expect
                agree += ok
                shown = f"answered ({answer})" if answer != "no answer" else "blocked"
                print(f"  {'ok ' if ok else 'BAD'} {who:>7} -> {target:<22} {shown:<34} {why}")
            box.stop_servers()
            title("teardown.sh")
            r = box.teardown(out)
            print("  " + r.stderr.strip())
            print(f"\n{agree} of {len(probes)} probes behaved as the spec says.")
            title("netc explain demo.netc --from other --to db:5432 --backend iptables")
            r2 = subprocess.run([NETC, "explain", str(spec), "--from", "other", "--to", "db:5432",
                                 "--backend", "iptables"], capture_output=True, text=True)
            print(r2.stdout, end="")
            title("netc verify demo.netc: every probe of the matrix, in a fresh sandbox, against explain")
            r3 = subprocess.run([NETC, "verify", str(spec)], capture_output=True, text=True)
            print(r3.stdout, end="")
            return 0 if agree == len(probes) and r.returncode == 0 and r3.returncode == 0 else 1
        finally:
            if box is not None:
                box.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
