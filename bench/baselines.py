"""The firewall baselines, made from the same compiled network as netc's own rules.

    per_rule_iptables(rules.v4)   one `iptables` command per rule, as Docker installs
                                  its rules: a shell script, one process per rule
    per_entry_nft(rules.v4)       one nft rule per entry: rules.v4 translated by
                                  iptables-restore-translate (counters left out),
                                  loaded in one `nft -f` transaction
    floor_nft(network)            what a person would write by hand with sets and
                                  maps: the same elements as netc's sets, no
                                  comments, interval flags only where a range needs
                                  them, the fewest rules; the floor netc's nftables
                                  backend is measured against
"""

from __future__ import annotations

import re
import shlex
import subprocess

from netc.backends import iptables as ipt
from netc.backends import nftables as nft
from netc.values import PortRange, Proto


# ------------------------------------------------------------------ iptables, one command per rule

def iptables_commands(rules_v4: str) -> tuple[list[str], list[str]]:
    """(chain creations, rule appends) as shell command lines, in rules.v4 order."""
    table = None
    chains, rules = [], []
    for line in rules_v4.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.append(f"iptables -w -t {table} -N {line[1:].split()[0]}")
        elif line.startswith("-A "):
            rules.append(shlex.join(["iptables", "-w", "-t", table] + shlex.split(line)))
    for j in ipt.jumps():
        rules.append(shlex.join(["iptables", "-w", "-t", j.table, "-I", j.chain, "1"] + ipt.args(j.rule, "netc")))
    return chains, rules


def script(lines: list[str]) -> str:
    return "set -e\n" + "\n".join(lines) + "\n"


# ------------------------------------------------------------------ nft, one rule per entry

def per_entry_nft(rules_v4_path: str) -> str:
    r = subprocess.run(["iptables-restore-translate", "-f", rules_v4_path], capture_output=True, text=True,
                       check=True)
    return re.sub(r" counter\b", "", r.stdout)


# ------------------------------------------------------------------ nft, sets and maps by hand

def _v(x) -> str:
    if isinstance(x, PortRange):
        return str(x.lo) if x.lo == x.hi else f"{x.lo}-{x.hi}"
    if isinstance(x, Proto):
        return x.value
    return str(x)


def floor_nft(network, table: str = "floor") -> str:
    """The hand-written floor: an `ip` table for an IPv4-only network (as a person would write
    one), an `inet` table with each family's sets for a dual-stack one."""
    rs = nft.ruleset(network)
    sets = rs.sets
    v6 = "published6" in sets
    family = "inet" if v6 else "ip"
    fams = (("", "ip", "ipv4"), ("6", "ip6", "ipv6")) if v6 else (("", "ip", "ipv4"),)
    out = [f"table {family} {table} {{}}", f"delete table {family} {table}", f"table {family} {table} {{"]

    def block(kind: str, name: str, type_: str, elements: list[str], interval: bool) -> None:
        out.append(f"\t{kind} {name} {{")
        out.append(f"\t\ttype {type_}")
        if interval:
            out.append("\t\tflags interval")
        if elements:
            out.append("\t\telements = { " + ",\n\t\t\t".join(elements) + " }")
        out.append("\t}")

    def ranged(name: str) -> bool:
        return any(isinstance(k, PortRange) and k.lo != k.hi for e in sets[name] for k in e.key)

    for six, _, _ in fams:
        for base in ("published", "links", "hairpin"):
            name = base + six
            if sets[name]:
                block("set", name, nft.SET_TYPES[name], [" . ".join(_v(k) for k in e.key) for e in sets[name]],
                      ranged(name))
        for base in ("dnat-any", "dnat-addr"):
            name = base + six
            if sets[name]:
                block("map", name, nft.SET_TYPES[name],
                      [" . ".join(_v(k) for k in e.key) + f" : {_v(e.value[0])} . {_v(e.value[1])}"
                       for e in sets[name]], False)
    bridges = [b.name for b in network.bridges]
    nat = ["\tchain prerouting {", "\t\ttype nat hook prerouting priority -100; policy accept;",
           "\t\tfib daddr type local ip daddr != 127.0.0.0/8 jump publish"]
    nat += ["\t\tfib daddr type local ip6 daddr != ::1 jump publish"] if v6 else []
    nat += ["\t}", "\tchain output {", "\t\ttype nat hook output priority -100; policy accept;",
            "\t\tfib daddr type local ip6 daddr != ::1 jump publish" if v6 else "",
            "\t\tfib daddr type local jump publish" if not v6 else "\t\tmeta nfproto ipv4 fib daddr type local jump publish",
            "\t}", "\tchain publish {"]
    nat = [line for line in nat if line]
    for six, ip, _ in fams:
        for name, fields in (("dnat-addr", f"{ip} daddr . meta l4proto . th dport"),
                             ("dnat-any", "meta l4proto . th dport")):
            if sets[name + six]:
                guard = f"meta nfproto {'ipv6' if six else 'ipv4'} " if v6 and name == "dnat-any" else ""
                nat.append(f"\t\t{guard}meta l4proto {{ tcp, udp }} dnat {ip} to {fields} map @{name}{six}")
    nat.append("\t}")
    out += nat
    fwd = ["\tchain forward {", "\t\ttype filter hook forward priority 0; policy accept;"]
    for b in network.bridges:
        q = f'"{b.name}"'
        fwd.append(f"\t\toifname {q} ct state established,related accept")
        for other in bridges:
            if other != b.name:
                fwd.append(f'\t\tiifname "{other}" oifname {q} ct status & dnat == 0 drop')
        fwd.append(f"\t\tiifname != {q} oifname {q} ct status & dnat == 0 drop")
        for six, ip, _ in fams:
            if sets["published" + six]:
                fwd.append(f"\t\toifname {q} ct status dnat {ip} daddr . meta l4proto . th dport @published{six} accept")
            if sets["links" + six]:
                fwd.append(f"\t\tiifname {q} oifname {q} {ip} saddr . {ip} daddr . meta l4proto . th dport "
                           f"@links{six} accept")
                fwd.append(f"\t\tiifname {q} oifname {q} {ip} daddr . {ip} saddr . meta l4proto . th sport "
                           f"@links{six} accept")
        if v6:
            fwd.append(f"\t\tiifname {q} oifname {q} icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept")
        fwd.append(f"\t\tiifname {q} oifname {q} {'accept' if b.icc else 'drop'}")
    for b in network.bridges:
        fwd.append(f'\t\tiifname "{b.name}" oifname != "{b.name}" accept')
    fwd.append("\t}")
    out += fwd
    post = ["\tchain postrouting {", "\t\ttype nat hook postrouting priority 100; policy accept;"]
    for b in network.bridges:
        post.append(f'\t\toifname "{b.name}" fib saddr type local masquerade')
    for b in network.bridges:
        post.append(f'\t\tip saddr {b.network} oifname != "{b.name}" masquerade')
        if v6 and b.network6 is not None:
            post.append(f'\t\tip6 saddr {b.network6} oifname != "{b.name}" masquerade')
    for six, ip, _ in fams:
        if sets["hairpin" + six]:
            post.append(f"\t\t{ip} saddr . {ip} daddr . meta l4proto . th dport @hairpin{six} masquerade")
    post.append("\t}")
    out += post
    out.append("}")
    return "\n".join(out) + "\n"
