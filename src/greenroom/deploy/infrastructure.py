"""Pure: the networks and the proxy an app needs on a host: the steps that create
them, bring the proxy's config up to date and join the proxy to front networks."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, ip_network

from greenroom import labels
from greenroom.config import Config
from greenroom.deploy import pools
from greenroom.deploy.context import Context
from greenroom.deploy.pools import proxy_address
from greenroom.deploy.state import HostState
from greenroom.deploy.steps import (
    EnsureNetwork,
    EnsureProxy,
    ProxyAction,
    ProxyJoin,
    Step,
)
from greenroom.engine.model import NetworkInfo
from greenroom.errors import DeployError
from greenroom.gateway.plan import (
    decide,
    network_info,
    observed_endpoints,
    spec_endpoints,
)
from greenroom.gateway.routes import IPNetwork
from greenroom.gateway.rules import Endpoint
from greenroom.proxy.model import ProxySpec, current
from greenroom.subnets import allocate, front_prefix, spread

HOME_PREFIX = 26


def _pool(cfg: Config) -> IPv4Network:
    pool = ip_network(str(cfg.proxy.subnet_pool))
    assert isinstance(pool, IPv4Network)
    return pool


def infrastructure(
    cfg: Config, proxy: ProxySpec, state: HostState, name: str, ctx: Context
) -> tuple[list[Step], IPv4Network]:
    """Networks and proxy the app needs; returns the steps and the front subnet."""
    app = cfg.app(name)
    assert app.port is not None, "a web app's; a worker's is deploy/worker.py's"
    steps, front = _networks(cfg, proxy, state, name, ctx)
    ensure = _ensure_proxy(state, proxy, name, app.port, front)
    if ensure is not None:
        steps.append(ensure)
    running = state.proxy if state.proxy is not None and state.proxy.running else None
    planned = [s for s in steps if isinstance(s, EnsureNetwork)]
    if running is not None:
        holder = observed_endpoints(state, running)
    else:
        holder = spec_endpoints(state, proxy.holder_spec(), planned)
    mine = network_info(state, labels.front_network(name), planned)
    if running is None or running.attachment(mine.name) is None:
        steps += proxy_joins(state, proxy, holder, [mine])
    if running is None:  # a new proxy container must rejoin every other app too
        others = [
            st.front
            for other, st in sorted(state.apps.items())
            if other != name and st.front is not None and st.routed is not None
        ]
        steps += proxy_joins(state, proxy, holder, others)
    return steps, front


def proxy_joins(
    state: HostState, proxy: ProxySpec, holder: list[Endpoint], fronts: Iterable[NetworkInfo]
) -> list[Step]:
    """Join the proxy to each front network at its fixed address, each attach decided on
    the holder's endpoints (`holder`, updated) and the ones before it."""
    steps: list[Step] = []
    for net in fronts:
        subnet = net.subnet4
        if subnet is not None:
            decision = decide(state, proxy.name, holder, net)
            steps.append(ProxyJoin(net.name, str(proxy_address(subnet)), decision))
    return steps


def _networks(
    cfg: Config, proxy: ProxySpec, state: HostState, name: str, ctx: Context
) -> tuple[list[Step], IPv4Network]:
    """The proxy's home network and the app's back and front networks that are missing,
    each in a free subnet of the pool; and the front subnet, made or found."""
    app = cfg.app(name)
    st = state.app(name)
    steps: list[Step] = []
    taken: list[IPNetwork] = [*state.taken_subnets(), *ctx.host_routes]
    if state.home is None:
        subnet = allocate(_pool(cfg), HOME_PREFIX, taken)
        taken.append(subnet)
        steps.append(EnsureNetwork(proxy.network, str(subnet), False, labels.owned(labels.ROLE_HOME)))
    if st.back is None:
        subnet = allocate(_pool(cfg), cfg.proxy.back_prefix, taken, start=spread(name))
        taken.append(subnet)
        steps.append(
            EnsureNetwork(labels.back_network(name), str(subnet), False, labels.owned(labels.ROLE_BACK, name))
        )
    if st.front is None:
        front = allocate(_pool(cfg), front_prefix(app.replicas), taken, start=spread(f"{name}-front"))
        steps.append(
            EnsureNetwork(
                labels.front_network(name),
                str(front),
                True,
                {**labels.owned(labels.ROLE_FRONT, name), pools.PORT_LABEL: str(app.port)},
            )
        )
        return steps, front
    found = st.front.subnet4
    if found is None:
        raise DeployError(
            f"network {st.front.name} has no IPv4 subnet",
            where=state.engine_host,
            hint=f"remove it (docker network rm {st.front.name}) and deploy again",
        )
    if not st.front.internal:
        raise DeployError(
            f"network {st.front.name} is not internal: it could take containers' default gateway",
            where=state.engine_host,
            hint=f"remove it (docker network rm {st.front.name}); greenroom recreates it --internal",
        )
    return steps, found


def _ensure_proxy(
    state: HostState, proxy: ProxySpec, name: str, port: int, front: IPv4Network
) -> EnsureProxy | None:
    """Create the proxy, start a new nginx with a new image, or apply a new config: the
    first that is needed, if any."""
    wanted = wanted_pools(state, (front, port), skip=name)
    if state.proxy is None or not state.proxy.running:
        return EnsureProxy(
            ProxyAction.CREATE,
            reason="none running" if state.proxy is None else "it is stopped",
            pools=wanted,
        )
    serving = current(state.proxy_instances)
    if serving is not None and serving.image and serving.image != proxy.image:
        return EnsureProxy(
            ProxyAction.REBUILD,
            reason=f"proxy image {serving.image} -> {proxy.image}",
            pools=wanted,
        )
    reason = _reconfigure_reason(state, proxy, name, port, front, wanted)
    if reason is None:
        return None
    return EnsureProxy(
        ProxyAction.RECONFIGURE,
        reason=reason,
        pools=wanted,
        seen=tuple(sorted(state.proxy_pools)),
    )


def _reconfigure_reason(
    state: HostState, proxy: ProxySpec, name: str, port: int, front: IPv4Network, wanted: tuple[str, ...]
) -> str | None:
    """Why the running proxy's nginx config must change for this deploy, if it must: its
    settings (or greenroom's assets) differ, or the app's addresses have no pools yet."""
    if state.proxy_generation != proxy.generation(tuple(sorted(state.proxy_pools))):
        return f"generation {state.proxy_generation} -> {proxy.generation(wanted)}"
    if not pools.of_front(front, (port,)) <= state.proxy_pools:
        return f"pool the connections to {name}'s addresses (port {port})"
    return None


def wanted_pools(
    state: HostState, mine: tuple[IPv4Network, int] | None, skip: str | None = None
) -> tuple[str, ...]:
    """The upstream pools for every app on the host (routed ports, else the port its
    front network was made for) and for `mine` (the deployed app's front and port)."""
    fronts = [
        (st.front, pools.routed_ports(st.routed.targets) if st.routed else set())
        for other, st in sorted(state.apps.items())
        if st.front is not None and other != skip
    ]
    return pools.wanted(fronts, mine)
