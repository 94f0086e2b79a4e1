"""Pure parser for /proc/net/tcp and /proc/net/tcp6: who is connected to whom.

Draining counts, in the proxy's own table, the connections to the old version: with no
upstream keep-alive in the proxy, each one is a request or a stream in flight, including
one whose first SYN was dropped and is being retried (SYN_SENT).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

ESTABLISHED = 0x01
SYN_SENT = 0x02
IN_FLIGHT = frozenset({ESTABLISHED, SYN_SENT})


@dataclass(frozen=True)
class Socket:
    local: IPv4Address | IPv6Address
    local_port: int
    remote: IPv4Address | IPv6Address
    remote_port: int
    state: int


def _address(text: str) -> tuple[IPv4Address | IPv6Address, int]:
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        return IPv4Address(raw[::-1]), int(port, 16)
    # IPv6: four 32-bit words, each little-endian
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    ip6 = IPv6Address(words)
    return (ip6.ipv4_mapped or ip6), int(port, 16)


def parse_tcp(text: str) -> list[Socket]:
    out: list[Socket] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith(":") or fields[1] == "local_address":
            continue
        local, lport = _address(fields[1])
        remote, rport = _address(fields[2])
        out.append(Socket(local, lport, remote, rport, int(fields[3], 16)))
    return out


def in_flight_to(sockets: list[Socket], targets: set[tuple[str, int]]) -> int:
    """Connections being opened or open to any of `targets` (address, port)."""
    wanted = {(ip_address(a), p) for a, p in targets}
    return sum(1 for s in sockets if s.state in IN_FLIGHT and (s.remote, s.remote_port) in wanted)


def _hex(ip: IPv4Address | IPv6Address) -> str:
    """An address as /proc/net/tcp{,6} prints it (32-bit words, each little-endian)."""
    raw = ip.packed
    return "".join(raw[i : i + 4][::-1].hex() for i in range(0, len(raw), 4)).upper()


def mentioning(text: str, targets: set[tuple[str, int]]) -> str:
    """Only the lines of a /proc/net/tcp{,6} text that can be connections to `targets`.

    The proxy's table holds every socket in its namespace (tens of thousands in TIME_WAIT
    under load): a substring test in C skips them before any parsing. An IPv4 target's key
    also matches its IPv4-mapped form in tcp6.
    """
    keys = target_keys(targets)
    return "\n".join(line for line in text.splitlines() if any(k in line for k in keys))


def target_keys(targets: set[tuple[str, int]]) -> list[str]:
    """`ADDRESS:PORT` as /proc/net/tcp{,6} print them, one per target, in a stable order."""
    return sorted(f"{_hex(ip_address(address))}:{port:04X}" for address, port in targets)


# -- the same question asked of the kernel by netlink (sock_diag), answered in ~1 ms ---------

SOCK_DIAG_BY_FAMILY = 20
NETLINK_SOCK_DIAG = 4
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_REQUEST = struct.Struct("=BBBBI48s")  # inet_diag_req_v2: family, protocol, ext, pad, states, id


def diag_request(family: int, seq: int = 1) -> bytes:
    """A dump request for the TCP sockets of one family that are open or opening."""
    states = (1 << ESTABLISHED) | (1 << SYN_SENT)
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, states, b"\0" * 48)
    return _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, 0x1 | 0x300, seq, 0) + body


def parse_diag(data: bytes) -> tuple[list[Socket], bool]:
    """inet_diag_msg records from one netlink read: (sockets, whether the dump is done).
    Raises OSError for a netlink error answer."""
    out: list[Socket] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        body = data[offset + _HEADER.size : offset + length]
        offset += (length + 3) & ~3
        if kind == _NLMSG_DONE:
            return out, True
        if kind == _NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", body)
            raise OSError(-code, "sock_diag dump refused")
        if kind != SOCK_DIAG_BY_FAMILY or len(body) < 52:
            continue
        family, state = body[0], body[1]
        sport, dport = struct.unpack_from("!HH", body, 4)
        size = 4 if family == socket.AF_INET else 16
        src = ip_address(body[8 : 8 + size])
        dst = ip_address(body[24 : 24 + size])
        if isinstance(src, IPv6Address) and src.ipv4_mapped:
            src = src.ipv4_mapped
        if isinstance(dst, IPv6Address) and dst.ipv4_mapped:
            dst = dst.ipv4_mapped
        out.append(Socket(src, sport, dst, dport, state))
    return out, False
