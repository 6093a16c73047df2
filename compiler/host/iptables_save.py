"""`iptables-save` text (the legacy or the nf_tables flavour, IPv4 or IPv6) as ruleset Tables.

iptables-save writes every option in its canonical form and the target last;
the options doctor models become conditions, any other match an unknown one.
"""

from __future__ import annotations


from .ruleset import Chain, Cond, Rule, Table, networks as _networks, shell_join

# The hook of each built-in chain, and the kind of table.
BUILTIN_HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward",
                 "OUTPUT": "output", "POSTROUTING": "postrouting"}
TABLE_KINDS = {"filter": "filter", "nat": "nat", "mangle": "route", "raw": "raw", "security": "filter"}
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return",
            "DNAT": "dnat", "REDIRECT": "dnat", "SNAT": "snat", "MASQUERADE": "snat", "NETMAP": "dnat"}
# Matches that change nothing about whether a packet matches: their options are skipped.
NEUTRAL_MODULES = {"comment", "tcp", "udp", "multiport", "conntrack", "state", "addrtype"}
# (their options that doctor does not model still count as unknown conditions, below)


SKIP_CHAINS = ("-A NETC-FORWARD ", "-A NETC-DNAT ", "-A NETC-POSTROUTING ", "-A NETC-GUARD ")


def parse_iptables_save(text: str, owner: str, family: str, tool_for: str = "iptables") -> tuple[Table, ...]:
    """`iptables-save` text -> its tables. tool_for: the command a fix runs (iptables-legacy, ...)."""
    tables: list[Table] = []
    name: str | None = None
    policies: dict[str, str | None] = {}
    rules: dict[str, list[Rule]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            name, policies, rules = line[1:], {}, {}
        elif line.startswith(":") and name:
            chain, _, rest = line[1:].partition(" ")
            policy = rest.split(" ", 1)[0]
            policies[chain] = policy.lower() if policy in ("ACCEPT", "DROP") else None
            rules.setdefault(chain, [])
        elif line == "COMMIT" and name:
            _resolve(rules)
            chains = tuple(Chain(c, tuple(rules.get(c, ())),
                                 hook=BUILTIN_HOOKS.get(c) if policies.get(c) else None,
                                 kind=TABLE_KINDS.get(name, "filter"),
                                 priority=TABLE_PRIORITY.get(name),
                                 policy=policies.get(c)) for c in policies)
            tables.append(Table(owner, family, name, chains, _tool(c.name for c in chains)))
            name = None
        elif line.startswith("-A ") and name:
            if line.startswith(SKIP_CHAINS):  # netc's own chains: never judged, and the bulk at scale
                continue
            words = split_words(line) if '"' in line else line.split()
            chain = words[1]
            rules.setdefault(chain, []).append(_iptables_rule(words, name, tool_for))
    return tuple(tables)


def split_words(line: str) -> list[str]:
    """An iptables-save line as its words. Not shell quoting: iptables-save puts a word
    with other characters than letters, digits, '_' and '-' in double quotes, and escapes
    '"', '\\' and "'" inside with a backslash (xtables_save_string)."""
    words: list[str] = []
    word: list[str] = []
    quoted = started = False
    i = 0
    while i < len(line):
        c = line[i]
        if quoted and c == "\\" and i + 1 < len(line):
            word.append(line[i + 1])
            i += 1
        elif c == '"':
            quoted, started = not quoted, True
        elif c.isspace() and not quoted:
            if word or started:
                words.append("".join(word))
            word, started = [], False
        else:
            word.append(c)
        i += 1
    if word or started:
        words.append("".join(word))
    return words


def _ports(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        try:
            out.append((int(lo or 0), int(hi or (lo if not part.endswith(":") else 65535))))
        except ValueError:
            return ()
    return tuple(out)


def _iptables_rule(words: list[str], table: str, tool: str) -> Rule:
    """One `-A CHAIN ...` line of iptables-save -> a Rule (iptables-save writes every
    option in its long or short canonical form, the target last)."""
    conds: list[Cond] = []
    verdict, target, negate = "continue", "", False
    i = 2
    while i < len(words):
        w = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if w == "!":
            negate, i = True, i + 1
            continue
        step = 1 if w in _VALUELESS or not w.startswith("-") else 2
        if w in ("-j", "--jump", "-g", "--goto"):
            target = value
            if target in TERMINAL:
                verdict, target = TERMINAL[target], _target_detail(words[i + 2:])
            else:  # a chain of the table (a jump) or an extension target (LOG, MARK, ...): see _resolve
                verdict = "goto" if w in ("-g", "--goto") else "jump"
            break
        if w in ("-p", "--protocol"):
            conds.append(Cond("proto", (value.lower(),), negate))
        elif w in ("-s", "--source", "-d", "--destination"):
            nets = _networks(value.split(","))
            kind = "saddr" if w in ("-s", "--source") else "daddr"
            conds.append(Cond(kind, nets, negate) if nets else Cond("other", (w, value)))
        elif w in ("-i", "--in-interface", "-o", "--out-interface"):
            kind = "iif" if w in ("-i", "--in-interface") else "oif"
            conds.append(Cond(kind, (value[:-1] + "*" if value.endswith("+") else value,), negate))
        elif w in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports = _ports(value)
            conds.append(Cond("dport", ports, negate) if ports else Cond("other", (w, value)))
        elif w in ("--ctstate", "--state"):
            conds.append(Cond("ctstate", tuple(s.lower() for s in value.split(",")), negate))
        elif w in ("--dst-type", "--src-type"):
            local = "dstlocal" if w == "--dst-type" else "srclocal"
            conds.append(Cond(local, (), negate) if value.upper() == "LOCAL" else Cond("other", (w, value)))
        elif w in ("-m", "--match"):
            if value not in NEUTRAL_MODULES:
                conds.append(Cond("other", ("-m", value)))
        elif w == "--comment":
            pass
        elif w.startswith("-"):
            conds.append(Cond("other", (w,)))  # an option of a match doctor does not model
        negate = False
        i += step
    text = shell_join(words)
    delete = (tool, "-t", table, "-D", *words[1:])
    return Rule(tuple(conds), verdict, target, text, delete)


def _resolve(chains: dict[str, list[Rule]]) -> None:
    """A jump to a name that is no chain of the table is an extension target (LOG, MARK):
    the packet goes on."""
    for rules in chains.values():
        for k, r in enumerate(rules):
            if r.verdict in ("jump", "goto") and r.target not in chains:
                rules[k] = Rule(r.conds, "continue", "", r.text, r.delete)


_VALUELESS = {"--syn", "--rsource", "--rcheck", "--update", "--set", "--remove", "--log-uid", "--log-tcp-sequence",
              "--log-tcp-options", "--log-ip-options", "--random", "--random-fully", "--persistent", "--fragment",
              "-f", "--clamp-mss-to-pmtu", "--notrack", "--physdev-is-bridged", "--physdev-is-in",
              "--physdev-is-out", "--tcp-flags-any"}


def _target_detail(words: list[str]) -> str:
    """Where a DNAT, REDIRECT or SNAT sends the packet, in words."""
    for i, w in enumerate(words[:-1]):
        if w == "--to-destination":
            return words[i + 1]
        if w == "--to-ports":
            return f"port {words[i + 1]} of this host"
        if w == "--to-source":
            return words[i + 1]
    return ""


def _tool(chain_names) -> str:
    names = list(chain_names)
    for prefix, tool in (("ufw", "ufw"), ("DOCKER", "Docker"), ("KUBE-", "kube-proxy"),
                         ("LIBVIRT_", "libvirt"), ("NETAVARK", "Podman (netavark)"), ("CNI-", "Podman (CNI)"),
                         ("FORWARD_", "firewalld"), ("f2b-", "fail2ban")):
        if any(n.startswith(prefix) for n in names):
            return tool
    return ""
