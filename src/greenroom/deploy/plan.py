"""Pure planning: (config, observed state) -> the exact steps a command will run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network, ip_network

from greenroom import labels
from greenroom.config import AppConfig, Config
from greenroom.config.rules import INTERNAL_HOST_SUFFIX
from greenroom.deploy import pools
from greenroom.deploy.gateway_plan import (
    decide,
    decide_each,
    network_info,
    observed_endpoints,
    spec_endpoints,
)
from greenroom.deploy.pools import proxy_address
from greenroom.deploy.state import AppState, HostState, Release
from greenroom.deploy.steps import (
    AttachFront,
    AttachNetworks,
    Confirm,
    CreateRelease,
    Drain,
    EnsureNetwork,
    EnsureProxy,
    HealthGate,
    Plan,
    ProbeSpec,
    ProxyJoin,
    PullImage,
    RemoveRelease,
    StartRelease,
    Step,
    StopRelease,
    Switch,
)
from greenroom.engine.model import ContainerSpec
from greenroom.errors import ConfigError, DeployError
from greenroom.gateway import Endpoint
from greenroom.gateway_decision import AttachDecision
from greenroom.proxy_model import ProxyPlan, Routed, current, is_pod
from greenroom.routes import IPNetwork
from greenroom.subnets import allocate, front_prefix, host_addresses, spread

HOME_PREFIX = 26


@dataclass(frozen=True)
class Context:
    """Everything a plan depends on besides config and state: no clock, no engine."""

    deploy_id: str
    now: str
    user: str
    host_routes: tuple[IPNetwork, ...] = ()


def app_hosts(name: str, app: AppConfig) -> tuple[str, ...]:
    return (*app.hosts, name + INTERNAL_HOST_SUFFIX)


def probe_spec(app: AppConfig) -> ProbeSpec:
    hc = app.healthcheck
    return ProbeSpec(
        kind=hc.type,
        port=app.port,
        path=hc.path or "/",
        status=hc.status or 200,
        timeout=hc.timeout,
        interval=hc.interval,
        passes=hc.passes,
        deadline=hc.deadline,
    )


def _pool(cfg: Config) -> IPv4Network:
    pool = ip_network(str(cfg.proxy.subnet_pool))
    assert isinstance(pool, IPv4Network)
    return pool


def infrastructure(
    cfg: Config, proxy: ProxyPlan, state: HostState, name: str, ctx: Context
) -> tuple[list[Step], IPv4Network]:
    """Networks and proxy the app needs; returns the steps and the front subnet."""
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
    else:
        subnets = [s for s in st.front.subnets if isinstance(s, IPv4Network)]
        if not subnets:
            raise DeployError(
                f"network {st.front.name} has no IPv4 subnet",
                where=state.engine_host,
                hint=f"remove it (docker network rm {st.front.name}) and deploy again",
            )
        front = subnets[0]
        if not st.front.internal:
            raise DeployError(
                f"network {st.front.name} is not internal: it could take containers' default gateway",
                where=state.engine_host,
                hint=f"remove it (docker network rm {st.front.name}); greenroom recreates it --internal",
            )
    proxy_running = state.proxy is not None and state.proxy.running
    wanted = wanted_pools(state, (front, app.port), skip=name)
    if not proxy_running:
        steps.append(
            EnsureProxy(
                create=True,
                reconfigure=False,
                reason="none running" if state.proxy is None else "it is stopped",
                pools=wanted,
            )
        )
    elif (
        (serving := current(state.proxy_instances)) is not None
        and serving.image
        and serving.image != proxy.image
    ):
        steps.append(
            EnsureProxy(
                create=True,
                reconfigure=False,
                reason=f"proxy image {serving.image} -> {proxy.image}",
                pools=wanted,
                rebuild=True,
            )
        )
    elif (reason := _reconfigure_reason(state, proxy, name, app.port, front, wanted)) is not None:
        steps.append(
            EnsureProxy(
                create=False,
                reconfigure=True,
                reason=reason,
                pools=wanted,
                seen=tuple(sorted(state.proxy_pools)),
            )
        )
    planned = [s for s in steps if isinstance(s, EnsureNetwork)]
    if proxy_running and state.proxy is not None:
        holder = observed_endpoints(state, state.proxy)
    else:
        holder = spec_endpoints(state, proxy.spec(), planned)
    proxy_on_front = (
        proxy_running
        and state.proxy is not None
        and (state.proxy.attachment(labels.front_network(name)) is not None)
    )
    if not proxy_on_front:
        net = network_info(state, labels.front_network(name), planned)
        steps.append(ProxyJoin(net.name, str(proxy_address(front)), decide(state, proxy.name, holder, net)))
    if not proxy_running:  # a new proxy container must rejoin every other app too
        for other, ost in sorted(state.apps.items()):
            if other != name and ost.front is not None and ost.routed is not None:
                subnets = [s for s in ost.front.subnets if isinstance(s, IPv4Network)]
                if subnets:
                    decision = decide(state, proxy.name, holder, ost.front)
                    steps.append(ProxyJoin(ost.front.name, str(proxy_address(subnets[0])), decision))
    return steps, front


def _reconfigure_reason(
    state: HostState, proxy: ProxyPlan, name: str, port: int, front: IPv4Network, wanted: tuple[str, ...]
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


def routing_known(state: HostState) -> None:
    """Plans decide what is live from the proxy's routing state: without it, the live
    release would look like a leftover. Refuse rather than guess."""
    if not state.routed_ok:
        raise DeployError(
            "the proxy is running but its routing state could not be read",
            where=state.engine_host,
            hint="`greenroom proxy status` shows what is wrong; `greenroom proxy reboot` rebuilds the proxy "
            "(its routing state is kept in its volume)",
        )


def repair(st: AppState, app: AppConfig) -> list[Step]:
    """Finish or undo what an interrupted command left: the routed release is live; one
    that never went live is removed; one that went live and still runs is drained and
    stopped (kept for rollback). The proxy records every release that went live, at the
    moment it did (older state without that record: releases older than the live one)."""
    live = st.live
    released = set(st.routed.released) if st.routed else set()
    steps: list[Step] = []
    for rel in st.releases:
        if live is not None and rel.deploy == live.deploy:
            continue
        names = tuple(c.name for c in rel.containers)
        if released:
            went_live = rel.deploy in released
        else:
            went_live = live is not None and (rel.deployed_at, rel.deploy) < (live.deployed_at, live.deploy)
        if not went_live:
            steps.append(RemoveRelease(st.name, rel.deploy, names, "never went live (an interrupted deploy)"))
        elif rel.running:
            steps.append(Drain(st.name, names, app.port, labels.front_network(st.name), app.drain_timeout))
            steps.append(
                StopRelease(
                    st.name,
                    rel.deploy,
                    names,
                    app.stop_timeout,
                    labels.front_network(st.name),
                    "no longer live (an interrupted deploy)",
                )
            )
    return steps


def _addresses(
    front: IPv4Network, st: AppState, state: HostState, count: int, keep: Release | None
) -> tuple[str, ...]:
    used: set[IPv4Address] = set()
    front_name = labels.front_network(st.name)
    for rel in st.releases:
        if keep is not None and rel.deploy != keep.deploy:
            continue
        for c in rel.containers:
            addr = c.address_on(front_name)
            if addr:
                used.add(IPv4Address(addr))
    used.add(proxy_address(front))
    free = host_addresses(front, used)
    out = []
    for _ in range(count):
        try:
            out.append(str(next(free)))
        except StopIteration:
            raise DeployError(
                f"network {front_name} ({front}) has no free address for {count} replicas",
                hint="remove the app's front network so greenroom recreates it larger",
            ) from None
    return tuple(out)


def specs(
    name: str, app: AppConfig, image: str, color: str, ctx: Context, config_hash: str, digest: str
) -> tuple[ContainerSpec, ...]:
    out = []
    for replica in range(app.replicas):
        lab = {
            **app.labels,
            **labels.owned(labels.ROLE_APP, name),
            labels.COLOR: color,
            labels.DEPLOY: ctx.deploy_id,
            labels.VERSION: image.rsplit("/", 1)[-1],
            labels.IMAGE: image,
            labels.DIGEST: digest,
            labels.CONFIG: config_hash,
            labels.DEPLOYED_AT: ctx.now,
            labels.DEPLOYED_BY: ctx.user,
            labels.REPLICA: str(replica),
        }
        out.append(
            ContainerSpec(
                name=labels.container_name(name, color, ctx.deploy_id, replica),
                image=image,
                network=labels.back_network(name),
                command=tuple(app.command) if app.command is not None else None,
                env=app.env(),
                labels=lab,
                gw_priority=10,
                aliases=(name, f"{name}-{color}"),
                volumes=tuple(app.volumes),
                memory=app.resources.memory,
                nano_cpus=int(app.resources.cpus * 1e9) if app.resources.cpus else None,
                stop_timeout=int(app.stop_timeout),
                restart="unless-stopped",
            )
        )
    return tuple(out)


def _go_live(
    name: str,
    app: AppConfig,
    st: AppState,
    rel_names: tuple[str, ...],
    deploy: str,
    color: str,
    version: str,
    addresses: tuple[str, ...],
    attach: tuple[AttachDecision, ...],
) -> list[Step]:
    """From healthy to serving: attach (as decided), switch, confirm, drain and stop the old one."""
    front = labels.front_network(name)
    targets = tuple(f"{a}:{app.port}" for a in addresses)
    previous = st.routed
    routed = Routed(
        app=name,
        targets=targets,
        hosts=app_hosts(name, app),
        maintenance=False,
        color=color,
        deploy=deploy,
        version=version,
        released=released_after(previous, deploy),
    )
    hc = app.healthcheck
    steps: list[Step] = [
        AttachFront(name, deploy, rel_names, front, addresses, attach),
        Switch(routed, previous),
        Confirm(
            name,
            app_hosts(name, app)[0],
            hc.path or "/" if hc.type == "http" else "/",
            hc.status if hc.type == "http" else None,
            targets,
        ),
    ]
    live = st.live
    if live is not None and live.deploy != deploy:
        old = tuple(c.name for c in live.containers)
        if live.running:
            steps.append(Drain(name, old, app.port, front, app.drain_timeout))
        steps.append(
            StopRelease(
                name, live.deploy, old, app.stop_timeout, front, f"replaced by {deploy}; kept for rollback"
            )
        )
    return steps


def released_after(previous: Routed | None, deploy: str, keep: int = 100) -> tuple[str, ...]:
    """Each release once, at the last time it went live; `deploy` last."""
    seq = [*(previous.released if previous else ()), deploy]
    last = {d: i for i, d in enumerate(seq)}
    return tuple(d for i, d in enumerate(seq) if last[d] == i)[-keep:]


def _prune(st: AppState, app: AppConfig, keep_deploys: set[str]) -> list[Step]:
    """Remove stopped releases beyond `retain` (newest kept), never the ones in use."""
    candidates = [r for r in st.releases if r.deploy not in keep_deploys]
    steps: list[Step] = []
    keep = app.retain
    for rel in sorted(candidates, key=lambda r: (r.deployed_at, r.deploy), reverse=True)[keep:]:
        steps.append(
            RemoveRelease(
                st.name,
                rel.deploy,
                tuple(c.name for c in rel.containers),
                f"older than the {keep} kept for rollback",
            )
        )
    return steps


def plan_deploy(
    cfg: Config,
    proxy: ProxyPlan,
    state: HostState,
    name: str,
    image: str | None,
    ctx: Context,
    *,
    config_hash: str,
    digest: str = "",
) -> Plan:
    app = cfg.app(name)
    routing_known(state)
    image = image or app.image
    st = state.app(name)
    steps, front = infrastructure(cfg, proxy, state, name, ctx)
    fixes = repair(st, app)
    steps += fixes
    live = st.live
    color = labels.other_color(live.color if live else None)
    new_specs = specs(name, app, image, color, ctx, config_hash, digest)
    names = tuple(s.name for s in new_specs)
    steps.append(PullImage(image))
    steps.append(CreateRelease(name, ctx.deploy_id, color, new_specs))
    planned = [s for s in steps if isinstance(s, EnsureNetwork)]
    endpoints = [spec_endpoints(state, spec, planned) for spec in new_specs]
    if app.networks:
        extra = [network_info(state, n) for n in app.networks]
        decided = decide_each(state, names, endpoints, extra)
        steps.append(AttachNetworks(name, ctx.deploy_id, names, tuple(app.networks), decided))
    steps.append(HealthGate(name, ctx.deploy_id, names, labels.back_network(name), probe_spec(app)))
    addresses = _addresses(front, st, state, len(names), keep=live)
    attach = decide_each(state, names, endpoints, [network_info(state, labels.front_network(name), planned)])
    version = image.rsplit("/", 1)[-1]
    steps += _go_live(name, app, st, names, ctx.deploy_id, color, version, addresses, attach)
    removed = {s.deploy for s in fixes if isinstance(s, RemoveRelease)}
    remaining = replace(st, releases=tuple(r for r in st.releases if r.deploy not in removed))
    steps += _prune(remaining, app, {ctx.deploy_id})
    notes = tuple(f"repairing: {s.describe()}" for s in fixes)
    return Plan(name, "deploy", ctx.deploy_id, tuple(steps), notes)


def plan_rollback(
    cfg: Config, proxy: ProxyPlan, state: HostState, name: str, to: str | None, ctx: Context
) -> Plan:
    app = cfg.app(name)
    routing_known(state)
    st = state.app(name)
    live = st.live
    candidates = [r for r in st.releases if live is None or r.deploy != live.deploy]
    if to:
        target = next((r for r in candidates if to in (r.deploy, r.version, r.image)), None)
    else:
        older = [
            r
            for r in candidates
            if live is None or (r.deployed_at, r.deploy) < (live.deployed_at, live.deploy)
        ]
        target = older[-1] if older else None
    if target is None:
        known = ", ".join(f"{r.deploy} ({r.version})" for r in candidates) or "none"
        raise ConfigError(
            f"no retained release of {name} to roll back to" + (f" matching {to!r}" if to else ""),
            where=state.engine_host,
            hint=f"retained releases: {known}; `greenroom history {name}` lists past deploys",
        )
    steps, front = infrastructure(cfg, proxy, state, name, ctx)
    names = tuple(c.name for c in target.containers)
    if not target.running:
        steps.append(StartRelease(name, target.deploy, names))
    steps.append(HealthGate(name, target.deploy, names, labels.back_network(name), probe_spec(app)))
    front_name = labels.front_network(name)
    attached = [c.address_on(front_name) for c in target.containers]
    if all(attached):
        addresses = tuple(a for a in attached if a)
        steps_live = _go_live(
            name, app, st, names, target.deploy, target.color, target.version, addresses, ()
        )
        steps += [s for s in steps_live if not isinstance(s, AttachFront)]
    else:
        addresses = _addresses(front, st, state, len(names), keep=live)
        planned = [s for s in steps if isinstance(s, EnsureNetwork)]
        # StartRelease detaches the front network from a release whose stop was interrupted
        endpoints = [observed_endpoints(state, c.info, skip=front_name) for c in target.containers]
        attach = decide_each(state, names, endpoints, [network_info(state, front_name, planned)])
        live_steps = _go_live(
            name, app, st, names, target.deploy, target.color, target.version, addresses, attach
        )
        steps += live_steps
    return Plan(
        name,
        "rollback",
        target.deploy,
        tuple(steps),
        (f"rolling back from {live.deploy if live else 'nothing'} to {target.deploy} ({target.version})",),
    )


def plan_maintenance(cfg: Config, state: HostState, name: str, on: bool) -> Plan:
    app = cfg.app(name)
    routing_known(state)
    st = state.app(name)
    if st.routed is None:
        raise ConfigError(
            f"{name} is not deployed on {state.engine_host}", hint=f"deploy it first: greenroom deploy {name}"
        )
    routed = replace(st.routed, maintenance=on, hosts=app_hosts(name, app))
    steps: list[Step] = [Switch(routed, st.routed)]
    live = st.live
    if on and live is not None and live.running:
        steps.append(
            Drain(
                name,
                tuple(c.name for c in live.containers),
                app.port,
                labels.front_network(name),
                app.drain_timeout,
            )
        )
    return Plan(name, "maintenance " + ("on" if on else "off"), st.routed.deploy, tuple(steps))


def plan_repair(cfg: Config, state: HostState, name: str) -> Plan:
    app = cfg.app(name)
    routing_known(state)
    return Plan(name, "repair", None, tuple(repair(state.app(name), app)))


def plan_proxy_reboot(cfg: Config, proxy: ProxyPlan, state: HostState) -> Plan:
    """Rebuild the proxy container from state: same settings, every routed app rejoined;
    its routing state lives in a volume and survives."""
    steps: list[Step] = [
        EnsureProxy(
            create=True,
            reconfigure=False,
            reason="reboot requested",
            pools=wanted_pools(state, None),
            rebuild=True,
        )
    ]
    # the holder (namespace, ports, attachments) stays when it runs: only a new one rejoins
    kept = state.proxy is not None and state.proxy.running and is_pod(state.proxy)
    holder: list[Endpoint] | None = None
    if kept and state.proxy is not None:
        holder = observed_endpoints(state, state.proxy)
    for _, st in sorted(state.apps.items()):
        if st.front is None or st.routed is None:
            continue
        if kept and state.proxy is not None and state.proxy.attachment(st.front.name) is not None:
            continue
        subnets = [s for s in st.front.subnets if isinstance(s, IPv4Network)]
        if subnets:
            holder = holder if holder is not None else spec_endpoints(state, proxy.spec(), ())
            decision = decide(state, proxy.name, holder, st.front)
            steps.append(ProxyJoin(st.front.name, str(proxy_address(subnets[0])), decision))
    return Plan("proxy", "proxy reboot", None, tuple(steps))
