"""The topology as a picture: netc.json's data -> Graphviz DOT, and DOT -> SVG or PNG.

One shape in, whatever the source: `netc graph SPEC` loads the spec and turns
the IR into the plain data netc.json holds (`from_network`), `netc graph OUT`
reads OUT/netc.json (`emit.tree.read_data`); `dot()` draws from that data alone, so a
spec and its compiled tree give the same picture.

What is drawn:
- the host (the root network namespace): ip_forward, the firewall, and one row
  per published address (`IP:PORT/PROTO`, drawn host ports marked, loopback
  publishes marked "this host only"), with an arrow to the container port it
  reaches and the publish's allow-list on the arrow;
- each bridge as a box (subnet, gateway, MTU, icc on/off, masquerade) holding
  its containers; an external bridge dashed and marked as not netc's;
- each container: name, mode, eth0 address, the host end of its veth, its
  hostname where it differs, its namespace where the spec gave one, and one
  row per exposed port;
- links (parent -> child, with the alias and the child's ports), p2p pairs
  (a double line between the two interfaces), `net container:` and `net host`
  sharing (dotted), `net none` containers apart, and a legend.

IPv6 is drawn where the data has it (`address6`/`network6` on bridges,
`address6` on containers, a mapping's IPv6 `host_ip`); a mapping's allow-list
(`allow`, the CIDRs of its family, or null for everyone) is drawn beside its
port ("from 10.0.0.0/8", "from nobody").

The DOT text is deterministic: nodes and edges in netc.json's order, which is
the spec's. Layout (SVG, PNG) needs Graphviz's `dot` program.
"""

from __future__ import annotations

import json
import os

import graphviz

from .drawing import Drawing

FORMATS = ("dot", "svg", "png")


class GraphError(Exception):
    """The picture cannot be made: the message says why, for the user."""


# ------------------------------------------------------------------ the data

def from_network(network) -> dict:
    """The IR as netc.json's plain data (the same text compile writes, read back)."""
    from .netjson import network_json
    return json.loads(network_json(network, "iptables"))


def dot(data: dict) -> str:
    """The DOT text of the topology (deterministic)."""
    return Drawing(data).draw()


def format_for(output: str | None, fmt: str | None) -> str:
    """The format asked for, else the one -o's extension names, else DOT."""
    fmt = fmt or (os.path.splitext(output)[1].lstrip(".").lower() if output else "dot")
    if fmt not in FORMATS:
        raise GraphError(f"cannot tell the format from {output}: give --format {'|'.join(FORMATS)}")
    return fmt


def layout(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG bytes from DOT, laid out by Graphviz's dot."""
    if fmt == "dot":
        return dot_text.encode("utf-8")
    try:
        return graphviz.Source(dot_text, engine="dot").pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphError(f"--format {fmt} needs Graphviz's dot program (Debian: apt-get install graphviz); "
                         "--format dot prints the DOT text without it") from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise GraphError(f"dot failed: {detail[-1] if detail else exc}") from None
