"""`nft -j list ruleset` as ruleset Tables, with each rule's text from `nft -a list ruleset`."""

from __future__ import annotations

import re

from .ruleset import Chain, Cond, Rule, Table, networks as _networks
from .iptables_save import TERMINAL

NFT_TOOLS = {"firewalld": "firewalld", "netavark": "Podman (netavark)", "libvirt_network": "libvirt",
             "kube-proxy": "kube-proxy", "docker-bridges": "Docker", "cilium": "Cilium", "incus": "Incus",
             "lxd": "LXD", "waydroid": "Waydroid"}


def nft_rule_texts(text: str) -> dict[tuple[str, str, str, int], str]:
    """`nft -a list ruleset` -> (family, table, chain, handle) -> the rule's text."""
    out: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = ""
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"table (\S+) (\S+) \{", line)
        if m:
            family, table = m.groups()
            continue
        m = re.match(r"chain (\S+) \{", line)
        if m:
            chain = m.group(1)
            continue
        m = re.search(r"^(.*\S)\s+# handle (\d+)$", line)
        if m and chain and not line.startswith(("type ", "table ", "chain ", "set ", "map ")):
            out[(family, table, chain, int(m.group(2)))] = m.group(1)
    return out


def parse_nft_json(data: dict, skip: set[tuple[str, str]] = frozenset(),
                   texts: dict | None = None) -> tuple[Table, ...]:
    """`nft -j list ruleset` -> its tables, but those in skip ((family, name): read another way)."""
    texts = texts or {}
    order: list[tuple[str, str]] = []
    chains: dict[tuple[str, str], dict[str, dict]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    named: dict[tuple[str, str], dict[str, list]] = {}   # a table's named sets and maps: their elements
    for item in data.get("nftables", []):
        for kind in ("set", "map"):
            if kind in item:
                s = item[kind]
                named.setdefault((s["family"], s["table"]), {})["@" + s["name"]] = s.get("elem", [])
    for item in data.get("nftables", []):
        if "table" in item:
            key = (item["table"]["family"], item["table"]["name"])
            if key not in skip:
                order.append(key)
                chains[key] = {}
        elif "chain" in item:
            c = item["chain"]
            key = (c["family"], c["table"])
            if key in chains:
                chains[key][c["name"]] = c
        elif "rule" in item:
            r = item["rule"]
            key = (r["family"], r["table"])
            if key in chains:
                text = texts.get((r["family"], r["table"], r["chain"], r.get("handle")), "")
                rules.setdefault((*key, r["chain"]), []).extend(_nft_rules(r, text, named.get(key, {})))
    tables = []
    for key in order:
        family, name = key
        out = []
        for cname, c in chains[key].items():
            out.append(Chain(cname, tuple(rules.get((family, name, cname), ())), hook=c.get("hook"),
                             kind={"nat": "nat", "route": "route"}.get(c.get("type", "filter"), "filter"),
                             priority=c.get("prio"), policy=c.get("policy") if c.get("hook") else None))
        tables.append(Table("nft", family, name, tuple(out), NFT_TOOLS.get(name, "")))
    return tuple(tables)


def _values(right, named: dict) -> tuple | None:
    """The right side of an nft match as plain values; ranges as (lo, hi); None: not
    literal. A named set (@name) stands for its elements."""
    if isinstance(right, dict):
        if "set" in right:
            out: list = []
            for v in right["set"]:
                more = _values(v, named)
                if more is None:
                    return None
                out.extend(more)
            return tuple(out)
        if "range" in right:
            lo, hi = right["range"]
            return ((lo, hi),)
        if "prefix" in right:
            return (f"{right['prefix']['addr']}/{right['prefix']['len']}",)
        if "elem" in right:
            return _values(right["elem"].get("val"), named)
        return None
    if isinstance(right, list):
        return tuple(right)
    if isinstance(right, str) and right.startswith("@"):
        elems = named.get(right)
        return None if elems is None else _values({"set": elems}, named)
    return (right,)


def _nft_match(m: dict, named: dict) -> list[Cond]:
    """One match -> conditions. (In a bridge family table the interfaces are the bridge's
    ports; ibrname/obrname, the bridge, are not modelled.)"""
    op, left, right = m.get("op", "=="), m.get("left"), m.get("right")
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return [Cond("other", (str(m),))]
    values = _values(right, named)
    if not isinstance(left, dict) or values is None:
        return [Cond("other", (str(m),))]
    if "meta" in left:
        key = left["meta"].get("key")
        if key in ("iifname", "oifname", "iif", "oif"):
            return [Cond("iif" if key.startswith("i") else "oif", tuple(str(v) for v in values), negate)]
        if key == "l4proto":
            return [Cond("proto", tuple(str(v) for v in values), negate)]
        if key in ("nfproto", "protocol"):
            fam = {"ipv4": "4", "ip": "4", "ipv6": "6", "ip6": "6"}
            if all(str(v) in fam for v in values):
                return [Cond("family", tuple(fam[str(v)] for v in values), negate)]
    if "payload" in left:
        proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
        if proto in ("tcp", "udp", "th") and fld == "dport":
            ports = tuple(v if isinstance(v, tuple) else (int(v), int(v)) for v in values
                          if isinstance(v, (int, tuple)) or str(v).isdigit())
            if len(ports) != len(values):
                return [Cond("other", (str(m),))]
            conds = [Cond("dport", ports, negate)]
            if proto != "th":
                conds.insert(0, Cond("proto", (proto,)))
            return conds
        if proto in ("tcp", "udp"):
            return [Cond("proto", (proto,)), Cond("other", (str(m),))]
        if (proto, fld) in (("ip", "protocol"), ("ip6", "nexthdr")):
            return [Cond("family", ("4" if proto == "ip" else "6",)),
                    Cond("proto", tuple(str(v) for v in values), negate)]
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            nets = _networks(values)
            fam = Cond("family", ("4" if proto == "ip" else "6",))
            return [fam, Cond(fld, nets, negate) if nets else Cond("other", (str(m),))]
        if proto in ("ip", "ip6"):
            return [Cond("family", ("4" if proto == "ip" else "6",)), Cond("other", (str(m),))]
    if "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            return [Cond("ctstate", tuple(str(v) for v in values), negate)]
        if key == "status" and tuple(values) == ("dnat",):
            return [Cond("ctdnat", (), negate)]
    if "fib" in left:
        fib = left["fib"]
        if fib.get("result") == "type" and fib.get("flags") in (["daddr"], ["saddr"]) and tuple(values) == ("local",):
            return [Cond("dstlocal" if fib["flags"] == ["daddr"] else "srclocal", (), negate)]
    return [Cond("other", (str(m),))]


VERDICTS = ("accept", "drop", "return", "continue")


def _verdict(kind: str, body) -> tuple[str, str] | None:
    """(verdict, target) of a verdict statement; None when `kind` is not one."""
    body = body if isinstance(body, dict) else {}
    if kind in VERDICTS:
        return kind, ""
    if kind == "reject":
        return "drop", ""
    if kind in ("jump", "goto"):
        return kind, body.get("target", "")
    if kind == "redirect":
        return "dnat", f"port {body['port']} of this host" if "port" in body else "this host"
    if kind == "dnat":
        addr, port = body.get("addr"), body.get("port")
        return "dnat", (f"{addr}:{port}" if isinstance(port, int) else addr) if isinstance(addr, str) else ""
    if kind in ("snat", "masquerade"):
        return "snat", ""
    return None


def _nft_rules(r: dict, text: str, named: dict) -> list[Rule]:
    """One nft rule -> Rules: one, or one per element of a verdict map (`tcp dport vmap { 22
    : accept, 23 : drop }` is `tcp dport 22 accept` then `tcp dport 23 drop`)."""
    family, table, chain = r["family"], r["table"], r["chain"]
    handle = r.get("handle")
    delete = ("nft", "delete", "rule", family, table, chain, "handle", str(handle)) if handle is not None else ()
    text = text or f"rule handle {handle}"
    conds: list[Cond] = []
    for e in r.get("expr", []):
        (kind, body), = e.items() if isinstance(e, dict) and len(e) == 1 else ((None, None),)
        if kind == "match":
            conds.extend(_nft_match(body, named))
            continue
        verdict = _verdict(kind, body)
        if verdict is not None:
            return [Rule(tuple(conds), verdict[0], verdict[1], text, delete)]
        if kind == "vmap":
            key = body.get("key") if isinstance(body, dict) else None
            data = body.get("data") if isinstance(body, dict) else None
            elems = named.get(data) if isinstance(data, str) else data.get("set") if isinstance(data, dict) else None
            out = []
            for pair in elems or ():
                k, v = (pair if isinstance(pair, list) and len(pair) == 2 else (None, None))
                if isinstance(v, dict) and len(v) == 1:
                    (vk, vb), = v.items()
                    verdict = _verdict(vk, vb)
                    if verdict is not None:
                        match = _nft_match({"op": "==", "left": key, "right": k}, named)
                        out.append(Rule(tuple(conds + match), verdict[0], verdict[1], text, delete))
                        continue
                out.append(Rule(tuple(conds + [Cond("other", ("vmap",))]), "vmap", "", text, delete))
            return out or [Rule(tuple(conds), "vmap", "", text, delete)]
        if kind == "xt":
            name = body.get("name", "") if isinstance(body, dict) else ""
            if body.get("type") == "target" and name in TERMINAL:
                return [Rule(tuple(conds), TERMINAL[name], "", text, delete)]
            if body.get("type") == "match":
                conds.append(Cond("other", (f"xt {name}",)))
        elif kind in ("limit", "quota", "numgen", "queue") or kind is None:
            conds.append(Cond("other", (str(e),)))
        # counter, log, comment, mangle, meta set, ct set, notrack ...: no effect on the path
    return [Rule(tuple(conds), "continue", "", text, delete)]
