"""Pure parser for /proc/net/tcp and /proc/net/tcp6: who is connected to whom.

Draining counts, in the proxy's own table, the connections to the old version: with no
upstream keep-alive in the proxy, each one is a request or a stream in flight, including
one whose first SYN was dropped and is being retried (SYN_SENT).
"""

from __future__ import annotations

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
    keys = []
    for address, port in targets:
        keys.append(f"{_hex(ip_address(address))}:{port:04X}")
    return "\n".join(line for line in text.splitlines() if any(k in line for k in keys))
