"""Rule evaluation: a packet against a backend's Ruleset, chain by chain, as netfilter
runs them (base chains in priority order, jumps, verdict maps, set and map lookups).

The Ruleset is the one the backend serialized, so each step quotes the rule as the
backend wrote it (`rule_text`) with its spec line (for a set lookup, the matching
element's own spec line).
"""

from __future__ import annotations

from netaddr import IPNetwork

from ..backends.rules import Element, Lookup, Match, Neg, Rule, Ruleset, Verdict
from ..values import PortRange
from .world import ExplainError, Packet, Step, World

def _value_in(value, v) -> bool:
    if isinstance(v, IPNetwork):
        return value in v
    if isinstance(v, PortRange):
        return isinstance(value, int) and v.lo <= value <= v.hi
    return value == v


class Evaluator:
    def __init__(self, rs: Ruleset, world: World, backend) -> None:
        self.rs, self.world, self.backend = rs, world, backend

    def field(self, p: Packet, name: str):
        return {"saddr": p.saddr, "daddr": p.daddr, "proto": p.proto,
                "sport": p.sport if p.proto else None, "dport": p.dport if p.proto else None}[name]

    def lookup(self, p: Packet, lookup: Lookup) -> Element | None:
        key = tuple(self.field(p, f) for f in lookup.fields)
        if any(k is None for k in key):
            return None
        for e in self.rs.sets.get(lookup.set, ()):
            if all(_value_in(k, v) for k, v in zip(key, e.key)):
                return e
        return None

    def matches(self, m: Match, p: Packet) -> tuple[bool, Element | None]:
        family = m.implied_family()
        if family is not None and family != p.family:
            return False, None
        if m.icmp6:  # neighbour discovery: explain's packets are tcp, udp or an echo
            return False, None
        if m.marked and not p.marked:
            return False, None

        def eq(value, want) -> bool:
            if want is None:
                return True
            if isinstance(want, Neg):
                return not eq(value, want.value)
            if isinstance(want, IPNetwork):
                return value in want
            return value == want
        if not (eq(p.iif, m.iif) and eq(p.oif, m.oif) and eq(p.saddr, m.saddr) and eq(p.daddr, m.daddr)):
            return False, None
        if m.iif_set and not any(e.key == (p.iif,) for e in self.rs.sets.get(m.iif_set, ())):
            return False, None
        if m.oif_set and not any(e.key == (p.oif,) for e in self.rs.sets.get(m.oif_set, ())):
            return False, None
        if m.proto is not None and p.proto is not m.proto:
            return False, None
        if m.sport is not None and not (p.proto and m.sport.lo <= p.sport <= m.sport.hi):
            return False, None
        if m.dport is not None and not (p.proto and m.dport.lo <= p.dport <= m.dport.hi):
            return False, None
        if m.src_local and not self.world.is_local(p.saddr):
            return False, None
        if m.dst_local and not self.world.is_local(p.daddr):
            return False, None
        if m.ctstate is not None:
            neg = isinstance(m.ctstate, Neg)
            states = m.ctstate.value if neg else m.ctstate
            hit = bool(states & p.ct)
            if hit == neg:
                return False, None
        element = None
        for lookup in m.lookups:
            found = self.lookup(p, lookup)
            if lookup.negate:
                if found is not None or any(self.field(p, f) is None for f in lookup.fields):
                    return False, None
                continue
            if found is None:
                return False, None
            element = element or found
        return True, element

    def step(self, where: str, rule: Rule, element: Element | None, verdict: str) -> Step:
        origin = element.origin if element is not None and element.origin else rule.origin
        return Step(where, self.backend.rule_text(rule), str(origin) if origin else "", verdict)

    def hook(self, hook: str, kind: str, p: Packet, steps: list[Step]) -> str | None:
        """Run every base chain on a hook; 'DROP' ends the walk, anything else goes on."""
        for chain in self.rs.base_chains(hook, kind, p.family):
            verdict = self.chain(chain.family, chain.table, chain.name, p, steps, f"{kind} {hook}", 0)
            if verdict == "DROP":
                return "DROP"
        return None

    def chain(self, family, table: str, name: str, p: Packet, steps: list[Step], where: str,
              depth: int) -> str | None:
        if depth > 16:
            raise ExplainError("rule evaluation loops")
        for rule in self.rs.chains[(family, table, name)].rules:
            hit, element = self.matches(rule.match, p)
            if not hit:
                continue
            label = f"{where}: {name}"
            v = rule.verdict
            if v is Verdict.JUMP:
                steps.append(self.step(label, rule, element, f"jump {rule.target}"))
                result = self.chain(family, table, rule.target, p, steps, where, depth + 1)
                if result:
                    return result
                continue
            if v is Verdict.VMAP:
                iface = p.oif if rule.vmap[0] == "oif" else p.iif
                target = next((e.value for e in self.rs.sets.get(rule.vmap[1], ()) if e.key == (iface,)), None)
                if target is None:
                    continue
                steps.append(self.step(label, rule, None, f"jump {target}"))
                result = self.chain(family, table, target, p, steps, where, depth + 1)
                if result:
                    return result
                continue
            if v is Verdict.DNAT:
                if rule.dnat_map:
                    fields, mapname = rule.dnat_map
                    found = self.lookup(p, Lookup(fields, mapname))
                    if found is None:
                        continue
                    element = found
                    addr, ports = found.value
                else:
                    addr, ports = rule.to_addr, rule.to_ports
                p.daddr = addr
                if ports is not None:
                    p.dport = ports.lo + (p.dport - rule.match.dport.lo if rule.match.dport and len(ports) > 1 else 0)
                p.ct = p.ct | {"DNAT"}
                steps.append(self.step(label, rule, element, f"dnat to {addr}:{p.dport}"))
                return "ACCEPT"
            if v is Verdict.RETURN:
                steps.append(self.step(label, rule, element, "return"))
                return None
            if v is Verdict.MARK:
                p.marked = True
                steps.append(self.step(label, rule, element, "mark, and go on"))
                continue
            if v is Verdict.MASQUERADE:
                p.saddr = self.world.iface_address(p.oif, p.family)
                steps.append(self.step(label, rule, element, f"masquerade to {p.saddr}"))
                return "ACCEPT"
            steps.append(self.step(label, rule, element, v.value.lower()))
            return v.value
        return None


