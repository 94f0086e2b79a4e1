"""Pure: which upstream pools (app address and port) the proxy's config should declare.

A pool is declared for every app address of every front network (see proxy/render.py),
with the port the app listens on: the live routing's port, else the port the front
network was created for (its `greenroom.port` label), and for the app being deployed
the port of its config. The proxy's own address on each front network gets no pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from greenroom import labels
from greenroom.engine.model import NetworkInfo
from greenroom.subnets import host_addresses

PORT_LABEL = labels.PREFIX + "port"


def proxy_address(front: IPv4Network) -> IPv4Address:
    """The proxy's fixed address on every front network: the first after the gateway."""
    return next(host_addresses(front, ()))


def of_front(front: IPv4Network, ports: Iterable[int | str]) -> set[str]:
    skip = (proxy_address(front),)
    return {f"{a}:{p}" for p in ports for a in host_addresses(front, skip)}


def routed_ports(targets: Iterable[str]) -> set[str]:
    return {t.rsplit(":", 1)[1] for t in targets if ":" in t}


def wanted(
    fronts: Iterable[tuple[NetworkInfo, Iterable[str]]], mine: tuple[IPv4Network, int] | None
) -> tuple[str, ...]:
    """Every pool the config should hold: for each greenroom front network (with the
    ports its app is routed on, if any) and for the app being deployed (its front and
    port). Sorted, so that the same inputs render the same config."""
    out: set[str] = set()
    mine_front = mine[0] if mine else None
    for net, routed in fronts:
        subnet = net.subnet4
        if subnet is None or subnet == mine_front:
            continue
        ports = set(routed) or ({net.labels[PORT_LABEL]} if net.labels.get(PORT_LABEL) else set())
        out |= of_front(subnet, ports)
    if mine is not None:
        out |= of_front(mine[0], (mine[1],))
    return tuple(sorted(out))


def merged(planned: tuple[str, ...], seen: Iterable[str], live: Iterable[str]) -> tuple[str, ...]:
    """The pools to apply: the planned ones, plus those another greenroom added to the
    live config since this plan observed it."""
    return tuple(sorted(set(planned) | (set(live) - set(seen))))
