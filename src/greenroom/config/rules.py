"""Rules about values that parse fine but would break a deploy later: names Docker or greenroom
itself reserves, ports the proxy uses, address ranges a network cannot use, absurd sizes.

Each rule is a pure function that returns its value or raises ValueError saying what is wrong
and what to do; the schema attaches them to fields, so the loader reports them with the path.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, ip_network
from typing import Any

from greenroom.proxy.render import ADMIN_PORTS

# --- the proxy -----------------------------------------------------------------------------


def listen_port(port: int) -> int:
    if port in ADMIN_PORTS:
        raise ValueError(
            f"{port} is one of the proxy's own admin ports (greenroom's calls to nginx); "
            "listen on another port, e.g. 80 or 8080"
        )
    return port


def trusted_network(value: Any) -> str:
    """An IPv4 or IPv6 network (or one address) whose peers may set X-Forwarded-*: written
    as nginx reads it, e.g. "10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected an IP network like 10.0.0.0/8 or an address like 192.0.2.7")
    try:
        net = ip_network(value.strip())
    except ValueError:
        try:
            loose = ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP network: write an address (192.0.2.7) or a network "
                "(10.0.0.0/8, 2001:db8::/32)"
            ) from None
        raise ValueError(f"{value} has host bits set: did you mean {loose}?") from None
    if net.prefixlen == 0:
        raise ValueError(
            f"{net} would trust every address, so any client could set X-Forwarded-For and "
            "X-Forwarded-Proto; list the addresses of the proxies in front (load balancer, TLS terminator)"
        )
    return str(net)


# Docker container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two characters at least).
_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{1,62}")

# The names of greenroom's own containers (see greenroom.labels and deploy/probe.py):
# greenroom-lock-APP, greenroom-probe-CONTAINER and APP-COLOR-DEPLOY-REPLICA.
_RESERVED_CONTAINERS = (
    (re.compile(r"greenroom-lock-.*"), "greenroom-lock-APP, an app's deploy lock"),
    (re.compile(r"greenroom-probe-.*"), "greenroom-probe-CONTAINER, a health probe"),
    (
        re.compile(r"[a-z][a-z0-9-]*-(?:blue|green)-[0-9a-f]{16}-[0-9]+"),
        "APP-COLOR-DEPLOY-REPLICA, an app's container",
    ),
)


def container_name(name: str) -> str:
    """A name for a container greenroom creates (the proxy)."""
    if not _CONTAINER_NAME.fullmatch(name):
        raise ValueError(
            f"invalid container name {name!r}: 2-63 letters, digits, _ . and -, starting with a "
            "letter or digit (Docker's rule)"
        )
    for shape, what in _RESERVED_CONTAINERS:
        if shape.fullmatch(name.lower()):
            raise ValueError(
                f"{name!r} is shaped like one of greenroom's own containers ({what}); choose another name, "
                "e.g. greenroom-proxy"
            )
    return name


# --- networks ------------------------------------------------------------------------------

PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none", "default"})
_RESERVED_NETWORK = re.compile(r"gr-.+-(?:back|front)")  # labels.back_network / front_network


def network_name(name: str) -> str:
    """A user network: neither Docker's predefined ones nor greenroom's per-app ones."""
    if name in PREDEFINED_NETWORKS:
        raise ValueError(
            f"{name!r} is one of Docker's predefined networks ({', '.join(sorted(PREDEFINED_NETWORKS))}), "
            "which cannot be created or joined like this; name a user-defined network"
        )
    if _RESERVED_NETWORK.fullmatch(name):
        raise ValueError(
            f"{name!r} is shaped like one of greenroom's own networks (gr-APP-back, gr-APP-front); "
            "name another network"
        )
    return name


_SPECIAL_RANGES = (
    (IPv4Network("0.0.0.0/8"), "the 'this network' range 0.0.0.0/8"),
    (IPv4Network("127.0.0.0/8"), "the loopback range 127.0.0.0/8"),
    (IPv4Network("169.254.0.0/16"), "the link-local range 169.254.0.0/16"),
    (IPv4Network("100.64.0.0/10"), "the carrier-grade NAT range 100.64.0.0/10"),
    (IPv4Network("224.0.0.0/4"), "the multicast range 224.0.0.0/4"),
    (IPv4Network("240.0.0.0/4"), "the reserved range 240.0.0.0/4"),
)


def subnet_pool(net: IPv4Network) -> IPv4Network:
    """Container subnets must be private (or global) unicast addresses."""
    for special, what in _SPECIAL_RANGES:
        if net.overlaps(special):
            raise ValueError(
                f"{net} overlaps {what}, which containers cannot use; "
                "use a private range, e.g. 10.213.0.0/16 or 172.30.0.0/16"
            )
    if not (net.is_private or net.is_global):
        raise ValueError(f"{net} is not a private or global unicast range; use e.g. 10.213.0.0/16")
    return net


# --- apps ----------------------------------------------------------------------------------

# Every app is also reachable as APP.greenroom.internal (deploy/plan.py server_names), from
# 127.0.0.1 inside the proxy only (greenroom.js target()): the confirm probe's name.
INTERNAL_HOST_SUFFIX = ".greenroom.internal"


def host_name(host: str) -> str:
    """A host name a user may route: not greenroom's internal ones, no wildcard over a whole TLD."""
    if host == INTERNAL_HOST_SUFFIX[1:] or host.endswith(INTERNAL_HOST_SUFFIX):
        raise ValueError(
            f"host name {host!r} is reserved: names ending in {INTERNAL_HOST_SUFFIX} are greenroom's "
            "(every app is APP.greenroom.internal inside the proxy already); route another name"
        )
    if host.startswith("*.") and host.count(".") < 2:
        raise ValueError(
            f"wildcard {host!r} is too wide: it needs at least two labels after *., e.g. *.example{host[1:]}"
        )
    return host


MAX_MEMORY = 1024**4  # 1t: far above any container, far below what overflows the engine


def memory(size: int) -> int:
    if size > MAX_MEMORY:
        raise ValueError("must be at most 1t (1 TiB); use a size like 512m or 4g")
    return size
