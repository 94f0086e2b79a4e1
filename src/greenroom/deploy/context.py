"""Pure: what a plan depends on besides config and observed state."""

from __future__ import annotations

from dataclasses import dataclass

from greenroom.gateway.routes import IPNetwork


@dataclass(frozen=True)
class Context:
    """Everything a plan depends on besides config and state: no clock, no engine."""

    deploy_id: str
    now: str
    user: str
    host_routes: tuple[IPNetwork, ...] = ()
