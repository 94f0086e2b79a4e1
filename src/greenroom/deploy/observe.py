"""Observe a host for planning: networks, the proxy and its routing, every app's
releases (the pure model they fill is deploy/state.py)."""

from __future__ import annotations

from greenroom import labels
from greenroom.deploy.state import AppState, HostState, group_releases
from greenroom.engine.model import ContainerInfo
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound
from greenroom.proxy.model import Routed
from greenroom.proxy.protocol import ProxyApi


def observe_host(engine: Engine, proxy: ProxyApi, apps: list[str]) -> HostState:
    networks = engine.networks()
    by_name = {n.name: n for n in networks}
    pc = proxy.container()
    managed = engine.summaries(label=[f"{labels.MANAGED}=true"])  # apps and proxy instances, one list
    instances = proxy.note_instances(managed)
    routed: dict[str, Routed] = {}
    generation = None
    routed_ok = True
    routed_error = ""
    pooled: frozenset[str] = frozenset()
    if pc is not None and pc.running:
        try:
            routed, live, pooled = proxy.observe()
            generation = live or None
        except GreenroomError as exc:
            routed_ok = False
            routed_error = exc.message
    app_containers = [c for c in managed if c.labels.get(labels.ROLE) == labels.ROLE_APP]
    stale = stale_release_runs(engine, managed)
    states: dict[str, AppState] = {}
    for name in sorted(set(apps) | {c.labels.get(labels.APP, "") for c in app_containers} - {""}):
        mine = [c for c in app_containers if c.labels.get(labels.APP) == name]
        states[name] = AppState(
            name=name,
            back=by_name.get(labels.back_network(name)),
            front=by_name.get(labels.front_network(name)),
            releases=group_releases(mine),
            routed=routed.get(name),
            stale_runs=tuple(c for c in stale if c.labels.get(labels.APP) == name),
        )
    return HostState(
        engine_host=engine.host,
        proxy=pc,
        proxy_generation=generation,
        home=by_name.get(proxy.spec.network),
        apps=states,
        networks=tuple(networks),
        routed_ok=routed_ok,
        routed_error=routed_error,
        proxy_pools=pooled,
        proxy_instances=tuple(instances),
        rules=engine.info.rules,
    )


def stale_release_runs(engine: Engine, managed: list[ContainerInfo]) -> list[ContainerInfo]:
    """Release-command containers that did not run to exit 0 (one still running is stale
    too: whoever plans under the app's lock is the only one who could run it)."""
    out = []
    for c in managed:
        if c.labels.get(labels.ROLE) != labels.ROLE_RELEASE:
            continue
        try:
            if c.running or not engine.state(c.id).exited_ok:
                out.append(c)
        except NotFound:
            continue  # removed meanwhile
    return out
