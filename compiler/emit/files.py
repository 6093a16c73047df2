"""Each container's /etc files: hosts, resolv.conf, hostname (Docker 1.4's formats)."""

from __future__ import annotations

from .. import ir
from ..quote import conf_word
from ..values import NetKind
from .templates import template


def hosts_entries(network: ir.Network, c: ir.Container) -> list[tuple[str, str]]:
    """/etc/hosts in Docker 1.4's order: own line, the six defaults, links, add-hosts."""
    entries = []
    hostname = conf_word(c.hostname)
    host, _, domain = hostname.partition(".")
    if c.mode is not NetKind.NONE and c.address is not None:
        entries.append((str(c.address), f"{hostname} {host}" if domain else host))
    entries += [("127.0.0.1", "localhost"), ("::1", "localhost ip6-localhost ip6-loopback"),
                ("fe00::0", "ip6-localnet"), ("ff00::0", "ip6-mcastprefix"),
                ("ff02::1", "ip6-allnodes"), ("ff02::2", "ip6-allrouters")]
    for link in c.links:
        alias, target = conf_word(link.alias), conf_word(link.target)
        entries.append((str(link.address), alias if alias == target else f"{alias} {target}"))
    entries += [(str(ip), conf_word(name)) for name, ip in c.add_hosts]
    return entries


def container_files(network: ir.Network, c: ir.Container, resolv: dict | None = None) -> dict[str, str]:
    """A container's files. `resolv` caches resolv.conf texts across containers (most share one)."""
    if c.mode is NetKind.HOST:
        return {}  # a net host container uses the host's own files
    base = f"containers/{c.name}/"
    key = (c.nameservers, c.search, c.options)
    text = resolv.get(key) if resolv is not None else None
    if text is None:
        text = template("resolv.conf.j2", nameservers=[str(n) for n in c.nameservers],
                        search=" ".join(map(conf_word, c.search)), options=" ".join(map(conf_word, c.options)))
        if resolv is not None:
            resolv[key] = text
    return {
        base + "hostname": template("hostname.j2", hostname=conf_word(c.hostname)),
        base + "hosts": template("hosts.j2", entries=hosts_entries(network, c)),
        base + "resolv.conf": text,
    }
