"""Observe a container: its inspect data, its networks and its real routes."""

from __future__ import annotations

from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import NetworkInfo, Observation
from greenroom.engine.protocol import Engine
from greenroom.errors import NotFound

__all__ = ["Observation", "observe"]


def observe(
    engine: Engine, ref: str, *, routes_via: str = "auto", helper_image: str | None = None
) -> Observation:
    container = engine.container(ref)
    networks: dict[str, NetworkInfo] = {}
    for att in container.attachments:
        try:
            networks[att.network] = engine.network(att.network_id or att.network)
        except NotFound:
            continue  # removed under our feet: the attachment still shows, without a network
    routes = None
    if container.running:
        routes = HostAccess(engine, helper_image=helper_image).routes(container, via=routes_via)
    return Observation(container, networks, routes)
