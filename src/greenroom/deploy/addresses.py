"""Pure: a front network's IPv4 subnet and the app addresses free on it."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from greenroom import labels
from greenroom.deploy.pools import proxy_address
from greenroom.deploy.state import AppState, HostState, Release
from greenroom.errors import DeployError
from greenroom.subnets import host_addresses


def free_addresses(
    front: IPv4Network, st: AppState, state: HostState, count: int, keep: Release | None
) -> tuple[str, ...]:
    """`count` addresses for a new release: not the proxy's, nor those of `keep`'s containers."""
    used: set[IPv4Address] = set()
    front_name = labels.front_network(st.name)
    for rel in st.releases:
        if keep is not None and rel.deploy != keep.deploy:
            continue
        for c in rel.containers:
            addr = c.address_on(front_name)
            if addr:
                used.add(IPv4Address(addr))
    used.add(proxy_address(front))
    free = host_addresses(front, used)
    out = []
    for _ in range(count):
        try:
            out.append(str(next(free)))
        except StopIteration:
            raise DeployError(
                f"network {front_name} ({front}) has no free address for {count} replicas",
                hint="remove the app's front network so greenroom recreates it larger",
            ) from None
    return tuple(out)
