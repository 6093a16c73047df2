"""explain and verify: what the compiled rules do, predicted and proven."""

from __future__ import annotations

import sys

from ..backends import REGISTRY
from ..completion import NAMES, SPEC
from ..pipeline import NETNS_PREFIX, load
from .common import UserError, positive, report


def cmd_explain(args) -> int:
    import json
    from ..prove.explain import ExplainError, explain, render
    loaded = load(args.spec, netns_prefix=NETNS_PREFIX)
    report([d for d in loaded.diagnostics if d.severity == "error"], loaded.sources)
    backends = [args.backend] if args.backend else ["iptables", "nftables"]
    try:
        answers = {b: explain(loaded.network, args.source, args.to, b) for b in backends}
    except ExplainError as exc:
        raise UserError(str(exc)) from None
    first = answers[backends[0]]
    if args.json:
        data = first.to_json()
        data["backends"] = {b: {"verdict": a.verdict, "delivered_to": a.delivered_to} for b, a in answers.items()}
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        for b, a in answers.items():
            sys.stdout.write(f"[{b}] " + render(a, args.source, args.to))
    disagree = {(a.verdict, a.delivered_to, a.source_seen) for a in answers.values()}
    if len(disagree) > 1:
        sys.stderr.write("netc: error: the backends disagree on this packet (a bug in netc)\n")
        return 1
    return 0


def cmd_verify(args) -> int:
    import json
    from ..prove import verify
    from ..prove.requirements import why_not
    load(args.spec)  # errors in the spec are reported before any namespace is made
    reason = why_not()
    if reason:
        raise UserError(f"verify needs {reason}")
    backends = [args.backend] if args.backend else ["iptables", "nftables"]
    say = verify.progress_printer()
    results, bad = {}, 0
    for backend in backends:
        probes = verify.run(lambda prefix: load(args.spec, netns_prefix=prefix).network, backend,
                            args.sample, lambda text, b=backend: say(f"[{b}] {text}"))
        say.clear()
        results[backend] = probes
        bad += sum(not p.agrees for p in probes)
    if args.json:
        sys.stdout.write(json.dumps({b: {"agree": sum(p.agrees for p in ps), "disagree": sum(not p.agrees for p in ps),
                                         "probes": [p.to_json() for p in ps]} for b, ps in results.items()},
                                    indent=2, sort_keys=True) + "\n")
    else:
        for backend, probes in results.items():
            agree = sum(p.agrees for p in probes)
            sys.stdout.write(f"[{backend}] {agree} of {len(probes)} probes agree with explain\n")
            sys.stdout.write(verify.table(probes, only_differences=not args.all))
    return 0 if bad == 0 else 1


def add(sub) -> None:
    c = sub.add_parser("explain", help="what the compiled rules do to one packet, rule by rule",
                       description="Follow one packet through the compiled rules the way the kernel does "
                                   "(prerouting, routing, forward, postrouting, the reply), naming each rule "
                                   "and the spec line it comes from. A and B are container names, host, "
                                   "outside, or addresses; host:PORT is the host's outside address "
                                   "(198.51.100.1; 127.0.0.1 when the host sends), outside is 198.51.100.2. "
                                   "An IPv6 address asks in IPv6 (host 2001:db8:ff::1, outside 2001:db8:ff::2), "
                                   "with a port in brackets: [2001:db8:ff::1]:8080/tcp. "
                                   "Without --backend both backends answer, and must agree.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("--from", dest="source", required=True, metavar="A").complete = NAMES
    c.add_argument("--to", required=True, metavar="B[:PORT[/PROTO]]").complete = NAMES
    c.add_argument("--backend", choices=sorted(REGISTRY))
    c.add_argument("--json", action="store_true", help="print an object: verdict, delivered_to, translations, steps")
    c.set_defaults(run=cmd_explain)

    c = sub.add_parser("verify", help="prove the compiled rules in throwaway namespaces against explain",
                       description="Compile SPEC, apply it in a throwaway host and outside namespace, send real "
                                   "TCP and UDP probes (every pair of containers on their exposed ports and one "
                                   "unexposed port, every publish from outside, the host and a container, "
                                   "hairpin, egress, p2p), in IPv6 too where a container has it, compare each "
                                   "with explain's prediction, and tear "
                                   "down. The sandbox hands bridged frames to the IP hooks "
                                   "(net.bridge.bridge-nf-call-*) as this host does. "
                                   "Exit 0 when all agree, 1 otherwise. Needs root.")
    c.add_argument("spec", metavar="SPEC").complete = SPEC
    c.add_argument("--backend", choices=sorted(REGISTRY), help="one backend (default: both)")
    c.add_argument("--sample", type=positive, metavar="N", help="at most N probes per backend (a fixed sample)")
    c.add_argument("--json", action="store_true", help="print every probe as JSON")
    c.add_argument("--all", action="store_true", help="list every probe, not only the disagreements")
    c.set_defaults(run=cmd_verify)
