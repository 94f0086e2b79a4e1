"""Observe a container: its inspect data, its networks and its real routes."""

from __future__ import annotations

from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import NetworkInfo, Observation
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound

__all__ = ["Observation", "observe"]


def observe(
    engine: Engine,
    ref: str,
    *,
    routes_via: str = "auto",
    helper_image: str | None = None,
    read_routes: bool = True,
) -> Observation:
    """A container's inspect data, its networks, and (when it runs) its kernel routes.

    A container that stops or goes away while its routes are read is observed as it is then
    (stopped: no routes; gone: NotFound), not as an error of reading."""
    container = engine.container(ref)
    networks: dict[str, NetworkInfo] = {}
    for att in container.attachments:
        try:
            networks[att.network] = engine.network(att.network_id or att.network)
        except NotFound:
            continue  # removed under our feet: the attachment still shows, without a network
    routes = None
    if container.running and read_routes:
        try:
            routes = HostAccess(engine, helper_image=helper_image).routes(container, via=routes_via)
        except GreenroomError:
            again = engine.container(ref)  # NotFound: it is gone
            if again.running and again.pid == container.pid:
                raise
            container = again
    return Observation(container, networks, routes)
