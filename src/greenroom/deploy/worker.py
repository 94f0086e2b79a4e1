"""Pure: the pieces of a worker's plan (an app without port: a queue consumer, a scheduler).

A worker has no front network, no proxy route and no confirm. Its live release is still
recorded in the proxy's routing state (an entry with no host names and no targets, so
nothing routes to it): the same record of what went live that deploy, rollback, repair
and history read for web apps. `overlap: true` starts the new version, gates it, records
it live, then stops the old one; `overlap: false` (a singleton) stops the old one before
the new one starts, and a failure starts the old one again."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network

from greenroom import labels
from greenroom.config import AppConfig, Config
from greenroom.deploy.context import Context
from greenroom.deploy.infrastructure import HOME_PREFIX, proxy_joins, wanted_pools
from greenroom.deploy.releases import went_live_after
from greenroom.deploy.state import AppState, HostState
from greenroom.deploy.steps import EnsureNetwork, EnsureProxy, ProxyAction, Step, StopRelease, Switch
from greenroom.gateway.plan import spec_endpoints
from greenroom.gateway.routes import IPNetwork
from greenroom.proxy.model import ProxySpec, Routed, current
from greenroom.subnets import allocate, spread


def worker_infrastructure(
    cfg: Config, proxy: ProxySpec, state: HostState, name: str, ctx: Context
) -> list[Step]:
    """The back network (its only network of greenroom's) and a running proxy, which keeps
    its record of what is live and its history."""
    steps = home_and_back(cfg, proxy, state, name, ctx)
    running = state.proxy if state.proxy is not None and state.proxy.running else None
    if running is None:
        steps.append(
            EnsureProxy(
                ProxyAction.CREATE,
                reason="none running" if state.proxy is None else "it is stopped",
                pools=wanted_pools(state, None),
            )
        )
        planned = [s for s in steps if isinstance(s, EnsureNetwork)]
        holder = spec_endpoints(state, proxy.holder_spec(), planned)
        others = [st.front for _, st in sorted(state.apps.items()) if st.front is not None and st.routed]
        steps += proxy_joins(state, proxy, holder, others)
        return steps
    serving = current(state.proxy_instances)
    if serving is not None and serving.image and serving.image != proxy.image:
        steps.append(
            EnsureProxy(
                ProxyAction.REBUILD,
                reason=f"proxy image {serving.image} -> {proxy.image}",
                pools=wanted_pools(state, None),
            )
        )
    return steps


def home_and_back(cfg: Config, proxy: ProxySpec, state: HostState, name: str, ctx: Context) -> list[Step]:
    """The proxy's home network and the app's back network, those missing, in free subnets."""
    pool = ip_network(str(cfg.proxy.subnet_pool))
    assert isinstance(pool, IPv4Network)
    steps: list[Step] = []
    taken: list[IPNetwork] = [*state.taken_subnets(), *ctx.host_routes]
    if state.home is None:
        subnet = allocate(pool, HOME_PREFIX, taken)
        taken.append(subnet)
        steps.append(EnsureNetwork(proxy.network, str(subnet), False, labels.owned(labels.ROLE_HOME)))
    if state.app(name).back is None:
        subnet = allocate(pool, cfg.proxy.back_prefix, taken, start=spread(name))
        steps.append(
            EnsureNetwork(labels.back_network(name), str(subnet), False, labels.owned(labels.ROLE_BACK, name))
        )
    return steps


def stop_first(name: str, app: AppConfig, st: AppState) -> list[Step]:
    """A singleton's old version stops before the new one starts (started again on failure)."""
    live = st.live
    if not app.singleton or live is None or not live.running:
        return []
    return [
        StopRelease(
            name,
            live.deploy,
            tuple(c.name for c in live.containers),
            app.stop_timeout,
            "",
            "a singleton (overlap: false) never runs twice: stopped before the new one starts, "
            "started again if it fails",
            restart_on_failure=True,
        )
    ]


def worker_go_live(
    name: str, app: AppConfig, st: AppState, deploy: str, color: str, version: str
) -> list[Step]:
    """Record the gated release as live, then (overlap) stop the old one."""
    previous = st.routed
    routed = Routed(
        app=name,
        color=color,
        deploy=deploy,
        version=version,
        went_live=went_live_after(previous, deploy),
    )
    steps: list[Step] = [Switch(routed, previous)]
    live = st.live
    if live is not None and live.deploy != deploy and not app.singleton:  # a singleton's stopped first
        steps.append(
            StopRelease(
                name,
                live.deploy,
                tuple(c.name for c in live.containers),
                app.stop_timeout,
                "",
                f"replaced by {deploy}; kept for rollback",
            )
        )
    return steps
