"""Pure parser for /proc/net/tcp and /proc/net/tcp6: who is connected to whom.

Draining counts the connections the proxy holds open to the old version's port: with
no upstream keep-alive in the proxy, each one is a request (or a stream) in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

ESTABLISHED = 0x01


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


def established_to(sockets: list[Socket], port: int, peers: set[str] | None = None) -> int:
    """Established connections to local `port`, from `peers` (any peer when None)."""
    wanted = {ip_address(p) for p in peers} if peers else None
    return sum(
        1
        for s in sockets
        if s.state == ESTABLISHED and s.local_port == port and (wanted is None or s.remote in wanted)
    )
