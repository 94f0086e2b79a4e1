"""Pure parsers for /proc/net/route and /proc/net/ipv6_route, and default-route lookup.

Both files are read from the host (/proc/<pid>/net/...) or through a helper container
sharing the target's network namespace; either way the text is the kernel's.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from greenroom.errors import RouteReadError

RTF_UP = 0x0001
RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200
RTF_LOCAL = 0x80000000

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Route:
    destination: IPNetwork
    gateway: IPAddress | None
    iface: str
    metric: int
    flags: int

    @property
    def family(self) -> int:
        return self.destination.version

    @property
    def is_default(self) -> bool:
        return self.destination.prefixlen == 0


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]

    def family(self, version: int) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.family == version)

    def default(self, version: int = 4) -> Route | None:
        """The /0 route the kernel uses: the lowest metric among usable default routes."""
        candidates = [r for r in self.family(version) if r.is_default]
        return min(candidates, key=lambda r: r.metric, default=None)

    def lookup(self, address: IPAddress) -> Route | None:
        """Longest-prefix match, then lowest metric: the route a packet to `address` takes."""
        matching = [r for r in self.family(address.version) if address in r.destination]
        if not matching:
            return None
        return min(matching, key=lambda r: (-r.destination.prefixlen, r.metric))

    def egress(self, version: int = 4) -> Route | None:
        """The route that traffic to the outside world takes.

        Usually the default route; but a pair of half routes (0.0.0.0/1 and 128.0.0.0/1,
        a classic hand repair) overrides it, so look up addresses in both halves and
        report the more specific winner when they agree.
        """
        if version == 4:
            probes: tuple[IPAddress, ...] = (IPv4Address("64.0.0.1"), IPv4Address("192.0.2.1"))
        else:
            probes = (IPv6Address("2001:db8::1"), IPv6Address("8000::1"))
        found = [self.lookup(p) for p in probes]
        gateways = [r for r in found if r is not None and r.gateway is not None]
        if len(gateways) == len(probes) and len({(r.gateway, r.iface) for r in gateways}) == 1:
            return gateways[0]
        return self.default(version)

    def iface_networks(self) -> dict[str, list[IPNetwork]]:
        """The connected (on-link) subnets of each interface."""
        out: dict[str, list[IPNetwork]] = {}
        for r in self.routes:
            if r.gateway is None and not r.is_default and r.iface != "lo":
                out.setdefault(r.iface, []).append(r.destination)
        return out


def _le_hex_ipv4(text: str) -> IPv4Address:
    return IPv4Address(int.from_bytes(bytes.fromhex(text), "little"))


def parse_ipv4(text: str) -> list[Route]:
    """Parse /proc/net/route (header line, then whitespace-separated little-endian hex)."""
    routes: list[Route] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return routes
    if not lines[0].split()[0] == "Iface":
        raise RouteReadError("not a /proc/net/route text: the header line is missing")
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if len(fields) < 8:
            raise RouteReadError(f"/proc/net/route line {number} has {len(fields)} fields, not 11")
        try:
            iface, dest, gw, flags, _ref, _use, metric, mask = fields[:8]
            flag_bits = int(flags, 16)
            network = IPv4Network((_le_hex_ipv4(dest), str(_le_hex_ipv4(mask))), strict=False)
            gateway = _le_hex_ipv4(gw)
        except ValueError as exc:
            raise RouteReadError(f"/proc/net/route line {number} is malformed: {line!r}") from exc
        if not flag_bits & RTF_UP or flag_bits & RTF_REJECT:
            continue
        routes.append(
            Route(
                destination=network,
                gateway=gateway if flag_bits & RTF_GATEWAY else None,
                iface=iface,
                metric=int(metric),
                flags=flag_bits,
            )
        )
    return routes


def _hex_ipv6(text: str) -> IPv6Address:
    return IPv6Address(int(text, 16))


def parse_ipv6(text: str) -> list[Route]:
    """Parse /proc/net/ipv6_route (no header; addresses as 32 hex digits, big-endian)."""
    routes: list[Route] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 10:
            raise RouteReadError(f"/proc/net/ipv6_route line {number} has {len(fields)} fields, not 10")
        try:
            dest, plen, _src, _splen, nexthop, metric, _ref, _use, flags, iface = fields
            flag_bits = int(flags, 16)
            network = IPv6Network((_hex_ipv6(dest), int(plen, 16)), strict=False)
            gateway = _hex_ipv6(nexthop)
        except ValueError as exc:
            raise RouteReadError(f"/proc/net/ipv6_route line {number} is malformed: {line!r}") from exc
        if not flag_bits & RTF_UP or flag_bits & (RTF_REJECT | RTF_LOCAL) or iface == "lo":
            continue
        if network.is_multicast or (network.is_link_local and network.prefixlen >= 64):
            continue
        routes.append(
            Route(
                destination=network,
                gateway=gateway if flag_bits & RTF_GATEWAY and not gateway.is_unspecified else None,
                iface=iface,
                metric=int(metric, 16),
                flags=flag_bits,
            )
        )
    return routes


def parse_tables(ipv4_text: str, ipv6_text: str = "") -> RouteTable:
    return RouteTable(tuple(parse_ipv4(ipv4_text) + parse_ipv6(ipv6_text)))


def format_route(route: Route | None) -> str:
    if route is None:
        return "none"
    via = f"via {route.gateway} " if route.gateway else ""
    return f"{route.destination} {via}dev {route.iface}"
