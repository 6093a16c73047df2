"""What the inside of many network namespaces shows, read by one process.

    python -m netc.host.observe < LIST      LIST: lines `NAME PATH` (a namespace
                                            and the file to enter it by)

prints, for each namespace, the facts apply.sh's engine reads (netc-lib.sh,
observe_ns), in the same words:

    ns:NAME link IF | ns:NAME link IF state=up|down | ns:NAME link IF mac=MAC
    ns:NAME addr IF CIDR | ns:NAME ip IP IF | ns:NAME route DEST [via GW] dev IF

The engine's own way is one `nsenter --net=PATH ip -br -batch` per
namespace: two programs started for each, about 2 ms on a small VM, most of
plan's time at 1,000 containers. This process enters each namespace in turn
(setns(2)) and asks the kernel over rtnetlink itself, a fraction of a
millisecond each. `netc apply` and `netc plan` hand it to the engine
(NETC_OBSERVE_NS); `sh apply.sh` alone uses `ip`. The two give the same
facts (tests/e2e/test_reconcile.py compares them on real namespaces).
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME = 1, 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN = 254
# route types ip prints as a word before the destination; the engine's listing drops the word
RTN_UNICAST = 1

_HDR = struct.Struct("=LHHLL")
_ATTR = struct.Struct("=HH")


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    out = {}
    while offset + 4 <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < 4:
            break
        out[kind & 0x3fff] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def _dump(sock: socket.socket, kind: int, body: bytes, seq: int) -> list[tuple[bytes, int]]:
    """One rtnetlink dump: the payloads (message bytes, payload offset) of its answer."""
    sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    out = []
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + _HDR.size <= len(data):
            length, mtype, _flags, _seq, _pid = _HDR.unpack_from(data, offset)
            if mtype == NLMSG_DONE:
                return out
            if mtype == NLMSG_ERROR:
                raise OSError("rtnetlink error")
            out.append((data[offset:offset + length], _HDR.size))
            offset += (length + 3) & ~3


def _ip(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw)


def facts(tag: str) -> list[str]:
    """The facts of the network namespace this process is in now."""
    lines = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        names = {}
        for msg, off in _dump(sock, RTM_GETLINK, struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0), 1):
            _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", msg, off)
            a = _attrs(msg, off + 16)
            name = a.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
            names[index] = name
            lines.append(f"{tag} link {name}")
            lines.append(f"{tag} link {name} state={'up' if flags & IFF_UP else 'down'}")
            if IFLA_ADDRESS in a and len(a[IFLA_ADDRESS]) == 6:
                lines.append(f"{tag} link {name} mac={':'.join(f'{b:02x}' for b in a[IFLA_ADDRESS])}")
        for msg, off in _dump(sock, RTM_GETADDR, struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0), 2):
            family, prefixlen, _flags, _scope, index = struct.unpack_from("=BBBBI", msg, off)
            a = _attrs(msg, off + 8)
            raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
            if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            addr, name = _ip(family, raw), names.get(index, str(index))
            lines.append(f"{tag} addr {name} {addr}/{prefixlen}")
            lines.append(f"{tag} ip {addr} {name}")
        # Both families' routes (an IPv6 container has its default route in each).
        for msg, off in _dump(sock, RTM_GETROUTE, struct.pack("=BBBBBBBBI", socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0), 3):
            family, dst_len, _src, _tos, table, _proto, _scope, _rtype, _flags = \
                struct.unpack_from("=BBBBBBBBI", msg, off)
            a = _attrs(msg, off + 12)
            if RTA_TABLE in a:
                table = struct.unpack("=I", a[RTA_TABLE])[0]
            if table != RT_TABLE_MAIN or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            if dst_len == 0:
                dest = "default"
            else:
                dest = _ip(family, a[RTA_DST]) + ("" if dst_len == (32 if family == socket.AF_INET else 128)
                                                  else f"/{dst_len}")
            line = f"{tag} route {dest}"
            if RTA_GATEWAY in a:
                line += f" via {_ip(family, a[RTA_GATEWAY])}"
            if RTA_OIF in a:
                line += f" dev {names.get(struct.unpack('=i', a[RTA_OIF])[0], '?')}"
            lines.append(line)
    return lines


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    out = []
    try:
        for line in sys.stdin:
            name, _, path = line.strip().partition(" ")
            if not name:
                continue
            out.append(f"@ {name}")    # a namespace that cannot be entered shows nothing
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    continue
            finally:
                os.close(fd)
            try:
                out += facts(f"ns:{name}")
            except OSError:
                pass
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            print("netc: observe: cannot return to the first network namespace", file=sys.stderr)
            return 1
        os.close(home)
    sys.stdout.write("".join(l + "\n" for l in out if not l.startswith("@ ")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
