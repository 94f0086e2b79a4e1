"""Pure IPv4 subnet allocation for greenroom's own networks, out of `proxy.subnet_pool`."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Network

from greenroom.errors import SubnetExhausted

__all__ = ["SubnetExhausted", "allocate", "front_prefix", "host_addresses", "spread"]

_MAX_PREFIX = 29  # 6 usable addresses: the smallest network worth creating


def allocate(
    pool: IPv4Network, prefix: int, taken: Iterable[IPv4Network | IPv6Network], *, start: int = 0
) -> IPv4Network:
    """The first aligned /prefix inside pool that overlaps none of `taken` (IPv6 ignored),
    looking from slot `start` (modulo the pool's slots) onwards, then from the pool's start.

    A start derived from the app's name spreads apps over the pool, so greenroom processes
    deploying different apps at once rarely plan the same subnet. Walks the taken ranges in
    address order, jumping past each one: O(n log n) in the taken networks, whatever the pool.
    """
    if not 0 <= prefix <= 32:
        raise ValueError(f"invalid prefix length /{prefix}")
    if prefix < pool.prefixlen:
        raise SubnetExhausted(f"a /{prefix} does not fit in the pool {pool}")
    size = 1 << (32 - prefix)
    first, last = int(pool.network_address), int(pool.broadcast_address)
    ranges = sorted(
        (int(n.network_address), int(n.broadcast_address)) for n in taken if isinstance(n, IPv4Network)
    )
    slots = (last - first + 1) // size
    for origin in dict.fromkeys((first + (start % slots) * size, first)):
        candidate = origin
        for begin, end in ranges:
            if end < candidate:
                continue
            if candidate + size - 1 < begin:
                break
            candidate = (end + size) // size * size  # the next boundary after `end`
            if candidate > last:
                break
        if candidate + size - 1 <= last:
            return IPv4Network((candidate, prefix))
    raise SubnetExhausted(f"no free /{prefix} left in the pool {pool}")


def spread(name: str) -> int:
    """A stable slot hint for `name` (see allocate)."""
    return zlib.crc32(name.encode())


def front_prefix(replicas: int) -> int:
    """The smallest subnet (at most a /29) with room for two colors, the proxy, the gateway, 2 spare."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    needed = 2 * replicas + 4
    prefix = _MAX_PREFIX
    while (1 << (32 - prefix)) - 2 < needed:
        prefix -= 1
    return prefix


def host_addresses(subnet: IPv4Network, skip: Iterable[IPv4Address]) -> Iterator[IPv4Address]:
    """Usable addresses of subnet, minus the first (Docker's gateway) and those in skip."""
    skipped = set(skip)
    hosts = subnet.hosts()
    next(hosts, None)
    return (address for address in hosts if address not in skipped)
