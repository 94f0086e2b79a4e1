"""Pure model of how a Docker engine picks a container's default gateway.

libnetwork keeps a sandbox's endpoints in a list; each join inserts the new endpoint
at the position `sort.Search(len, func(j) { return ep.Less(list[j]) })` and each leave
removes it. The gateway endpoint is then read off that list. The model replays exactly
that, including Go's binary search, so that a tie in `Less` (two endpoints of equal
rank, which only the join order separates) lands where the engine puts it.

Engine 20.10 (and up to 27.x) `Less`:
    endpoint priority (never set by the daemon: always 0); docker_gwbridge last;
    internal after non-internal; gateways (dual-stack > IPv6-only > IPv4-only > none);
    network name, byte order. The first endpoint with an IPv4 gateway provides both
    default routes.
Engine 28.x `Less`:
    GwPriority (higher first); docker_gwbridge last; internal after non-internal;
    gateway count (dual-stack > single-stack > none); network name.
    IPv4 and IPv6 default routes are chosen per family, except that before 29.4.1
    the first dual-stack endpoint takes both (moby #51999).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

GWBRIDGE = "docker_gwbridge"


def parse_version(text: str) -> tuple[int, ...]:
    """'28.5.2+dfsg4' -> (28, 5, 2); '1.51' -> (1, 51)."""
    core = text.split("+", 1)[0].split("-", 1)[0]
    parts: list[int] = []
    for piece in core.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


@dataclass(frozen=True)
class EngineRules:
    """What the engine at a given version does with gateways."""

    version: tuple[int, ...]
    api_version: tuple[int, ...] = (1, 41)

    @classmethod
    def of(cls, version: str, api_version: str = "1.41") -> EngineRules:
        return cls(parse_version(version), parse_version(api_version))

    @property
    def label(self) -> str:
        return ".".join(str(p) for p in self.version)

    @property
    def gw_priority(self) -> bool:
        """GwPriority is honoured (Engine 28, API 1.48)."""
        return self.version >= (28,) and self.api_version >= (1, 48)

    @property
    def per_family(self) -> bool:
        return self.version >= (28,)

    @property
    def dual_stack_takes_both(self) -> bool:
        """moby #51999: the first dual-stack endpoint takes the IPv4 route too."""
        return self.version < (28,) or self.version < (29, 4, 1)

    @property
    def internal_has_gateway(self) -> bool:
        """Engines before 25 give endpoints on internal bridge networks a gateway."""
        return self.version < (25,)

    def less(self, a: Endpoint, b: Endpoint) -> bool:
        return _less(a, b, _gw_rank_28 if self.version >= (28,) else _gw_rank_legacy)


@dataclass(frozen=True)
class Endpoint:
    """One network attachment, as far as the gateway choice is concerned."""

    network: str
    internal: bool = False
    gw4: bool = True
    gw6: bool = False
    priority: int = 0

    @property
    def gwbridge(self) -> bool:
        return self.network == GWBRIDGE

    @property
    def dual_stack(self) -> bool:
        return self.gw4 and self.gw6

    @property
    def gateway_count(self) -> int:
        return int(self.gw4) + int(self.gw6)


def _name_less(a: str, b: str) -> bool:
    return a.encode() < b.encode()


def _gw_rank_legacy(ep: Endpoint) -> int:
    return int(ep.gw4) + 2 * int(ep.gw6)  # dual-stack > IPv6-only > IPv4-only > none


def _gw_rank_28(ep: Endpoint) -> int:
    return ep.gateway_count  # dual-stack > single-stack > none


def _less(a: Endpoint, b: Endpoint, rank: Callable[[Endpoint], int]) -> bool:
    if a.priority != b.priority:
        return a.priority > b.priority
    if a.gwbridge != b.gwbridge:
        return b.gwbridge
    if a.internal != b.internal:
        return b.internal
    if rank(a) != rank(b):
        return rank(a) > rank(b)
    return _name_less(a.network, b.network)


def _go_sort_search(n: int, pred: Callable[[int], bool]) -> int:
    """Go's sort.Search, step for step (it matters when `pred` is not monotone)."""
    i, j = 0, n
    while i < j:
        h = (i + j) >> 1
        if not pred(h):
            i = h + 1
        else:
            j = h
    return i


@dataclass(frozen=True)
class Gateway:
    """Which networks provide the IPv4 and the IPv6 default route (None: no route)."""

    v4: str | None
    v6: str | None

    def describe(self) -> str:
        if self.v6 is None or self.v6 == self.v4:
            return self.v4 or "none"
        return f"{self.v4 or 'none'} (IPv6: {self.v6})"


@dataclass(frozen=True)
class Sandbox:
    """A container's endpoints in libnetwork's order, and the gateway that follows."""

    rules: EngineRules
    endpoints: tuple[Endpoint, ...] = field(default=())

    def _normalise(self, ep: Endpoint) -> Endpoint:
        if not self.rules.gw_priority and ep.priority:
            ep = replace(ep, priority=0)
        if ep.internal and not self.rules.internal_has_gateway and (ep.gw4 or ep.gw6):
            ep = replace(ep, gw4=False, gw6=False)
        return ep

    def join(self, ep: Endpoint) -> Sandbox:
        if any(e.network == ep.network for e in self.endpoints):
            raise ValueError(f"already connected to {ep.network}")
        ep = self._normalise(ep)
        eps = self.endpoints
        i = _go_sort_search(len(eps), lambda j: self.rules.less(ep, eps[j]))
        return replace(self, endpoints=(*eps[:i], ep, *eps[i:]))

    def leave(self, network: str) -> Sandbox:
        return replace(self, endpoints=tuple(e for e in self.endpoints if e.network != network))

    def gateway(self) -> Gateway:
        if not self.rules.per_family:
            for ep in self.endpoints:
                if ep.gw4:
                    return Gateway(ep.network, ep.network if ep.gw6 else None)
            return Gateway(None, None)
        v4: str | None = None
        v6: str | None = None
        for ep in self.endpoints:
            if ep.dual_stack and self.rules.dual_stack_takes_both:
                return Gateway(ep.network, ep.network)
            if ep.gw4 and v4 is None:
                v4 = ep.network
            if ep.gw6 and v6 is None:
                v6 = ep.network
        return Gateway(v4, v6)

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(e.network for e in self.endpoints)

    @classmethod
    def joined(cls, rules: EngineRules, endpoints: Iterable[Endpoint]) -> Sandbox:
        box = cls(rules)
        for ep in endpoints:
            box = box.join(ep)
        return box


@dataclass(frozen=True)
class Change:
    before: Gateway
    after: Gateway
    sandbox: Sandbox

    @property
    def moved(self) -> bool:
        return self.before != self.after


def predict_connect(box: Sandbox, ep: Endpoint) -> Change:
    after = box.join(ep)
    return Change(box.gateway(), after.gateway(), after)


def predict_disconnect(box: Sandbox, network: str) -> Change:
    after = box.leave(network)
    return Change(box.gateway(), after.gateway(), after)
