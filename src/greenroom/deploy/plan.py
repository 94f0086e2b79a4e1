"""Pure planning: (config, observed state) -> the exact steps a command will run: deploy,
rollback, maintenance, repair and proxy reboot, from the pieces in infrastructure.py,
releases.py, addresses.py and gateway_plan.py."""

from __future__ import annotations

from dataclasses import replace

from greenroom import labels
from greenroom.config import Config
from greenroom.deploy.addresses import free_addresses
from greenroom.deploy.context import Context
from greenroom.deploy.infrastructure import infrastructure, proxy_joins, wanted_pools
from greenroom.deploy.release import NOT_ON_ROLLBACK, release_step
from greenroom.deploy.releases import (
    go_live,
    probe_spec,
    prune,
    refuse_staged,
    repair,
    server_names,
    specs,
    staged_note,
)
from greenroom.deploy.state import HostState
from greenroom.deploy.steps import (
    AttachFront,
    AttachNetworks,
    CreateRelease,
    Drain,
    EnsureNetwork,
    EnsureProxy,
    HealthGate,
    InstallCertificate,
    Plan,
    ProxyAction,
    PullImage,
    RemoveRelease,
    StartRelease,
    Step,
    Switch,
)
from greenroom.deploy.worker import stop_first, worker_go_live, worker_infrastructure
from greenroom.errors import ConfigError, DeployError
from greenroom.gateway.plan import (
    decide_each,
    network_info,
    observed_endpoints,
    spec_endpoints,
)
from greenroom.proxy.model import ProxySpec, is_pod, unpublished

__all__ = [
    "Context",
    "plan_deploy",
    "plan_maintenance",
    "plan_proxy_reboot",
    "plan_repair",
    "plan_rollback",
    "repair",
    "routing_known",
    "server_names",
]


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


RECREATE_HINT = (
    "the proxy keeps the ports it was created with: `greenroom proxy reboot --recreate` recreates it "
    "with proxy.ports (its routing state is kept in its volume). On one host its ports refuse new "
    "connections for a moment; with hosts: behind a load balancer each host is out of it meanwhile"
)


def https_published(proxy: ProxySpec, state: HostState, name: str) -> None:
    """An app with tls needs a proxy that publishes its HTTPS port: a holder made before
    the config published it keeps its ports (it is never replaced)."""
    port = proxy.settings.tls_listen
    holder = state.proxy
    if holder is None or not holder.running or port is None:
        return
    if not any(p.endswith(f"->{port}/tcp") for p in holder.published):
        raise DeployError(
            f"{name} has tls but the running proxy {proxy.name} does not publish port {port} "
            f"(it publishes {', '.join(holder.published) or 'nothing'})",
            where=state.engine_host,
            hint=RECREATE_HINT,
        )


def plan_deploy(
    cfg: Config,
    proxy: ProxySpec,
    state: HostState,
    name: str,
    image: str | None,
    ctx: Context,
    *,
    config_hash: str,
    digest: str = "",
    release: str = "run",
) -> Plan:
    """`release`: run the release command (once per image), "rerun" it anyway, or "skip"
    it (a fleet ran it on another host before this one)."""
    app = cfg.app(name)
    routing_known(state)
    image = image or app.image
    st = state.app(name)
    refuse_staged(st, state.engine_host)
    if app.is_worker:
        steps, front = worker_infrastructure(cfg, proxy, state, name, ctx), None
    else:
        steps, front = infrastructure(cfg, proxy, state, name, ctx)
    if app.tls is not None:
        https_published(proxy, state, name)
    material = app.tls_material(name)  # from files; ACME's are installed by tls/renew.py
    if material is not None:
        steps.append(InstallCertificate(material))
    fixes = repair(st, app)
    steps += fixes
    live = st.live
    color = labels.other_color(live.color if live else None)
    new_specs = specs(name, app, image, color, ctx, config_hash, digest)
    names = tuple(s.name for s in new_specs)
    steps.append(PullImage(image))
    run_release = release_step(name, app, image, ctx, rerun=release == "rerun")
    if run_release is not None and release != "skip":
        steps.append(run_release)
    steps += stop_first(name, app, st)
    steps.append(CreateRelease(name, ctx.deploy_id, color, new_specs))
    planned = [s for s in steps if isinstance(s, EnsureNetwork)]
    endpoints = [spec_endpoints(state, spec, planned) for spec in new_specs]
    if app.networks:
        extra = [network_info(state, n) for n in app.networks]
        decided = decide_each(state, names, endpoints, extra)
        steps.append(AttachNetworks(name, ctx.deploy_id, names, tuple(app.networks), decided))
    steps.append(HealthGate(name, ctx.deploy_id, names, labels.back_network(name), probe_spec(app)))
    version = image.rsplit("/", 1)[-1]
    if front is None:
        steps += worker_go_live(name, app, st, ctx.deploy_id, color, version)
    else:
        addresses = free_addresses(front, st, state, len(names), keep=live)
        front_net = network_info(state, labels.front_network(name), planned)
        attach = decide_each(state, names, endpoints, [front_net])
        steps += go_live(name, app, st, names, ctx.deploy_id, color, version, addresses, attach)
    removed = {s.deploy for s in fixes if isinstance(s, RemoveRelease)}
    remaining = replace(st, releases=tuple(r for r in st.releases if r.deploy not in removed))
    steps += prune(remaining, app, {ctx.deploy_id})
    notes = tuple(f"repairing: {s.describe()}" for s in fixes)
    if run_release is not None and release == "skip":
        notes += ("the release command ran before this host's deploy (once for every host)",)
    return Plan(name, "deploy", ctx.deploy_id, tuple(steps), notes)


def plan_rollback(
    cfg: Config, proxy: ProxySpec, state: HostState, name: str, to: str | None, ctx: Context
) -> Plan:
    app = cfg.app(name)
    routing_known(state)
    st = state.app(name)
    refuse_staged(st, state.engine_host)
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
    notes: tuple[str, ...] = (
        f"rolling back from {live.deploy if live else 'nothing'} to {target.deploy} ({target.version})",
    )
    if app.release is not None:
        notes += (f"{NOT_ON_ROLLBACK}; undo data changes by deploying a version whose release command does",)
    if app.is_worker:
        steps = worker_infrastructure(cfg, proxy, state, name, ctx)
        steps += stop_first(name, app, st)
        names = tuple(c.name for c in target.containers)
        if not target.running:
            steps.append(StartRelease(name, target.deploy, names))
        steps.append(HealthGate(name, target.deploy, names, labels.back_network(name), probe_spec(app)))
        steps += worker_go_live(name, app, st, target.deploy, target.color, target.version)
        return Plan(name, "rollback", target.deploy, tuple(steps), notes)
    steps, front = infrastructure(cfg, proxy, state, name, ctx)
    names = tuple(c.name for c in target.containers)
    if not target.running:
        steps.append(StartRelease(name, target.deploy, names))
    steps.append(HealthGate(name, target.deploy, names, labels.back_network(name), probe_spec(app)))
    front_name = labels.front_network(name)
    attached = [c.address_on(front_name) for c in target.containers]
    if all(attached):
        addresses = tuple(a for a in attached if a)
        steps_live = go_live(name, app, st, names, target.deploy, target.color, target.version, addresses, ())
        steps += [s for s in steps_live if not isinstance(s, AttachFront)]
    else:
        addresses = free_addresses(front, st, state, len(names), keep=live)
        planned = [s for s in steps if isinstance(s, EnsureNetwork)]
        # StartRelease detaches the front network from a release whose stop was interrupted
        endpoints = [observed_endpoints(state, c.info, skip=front_name) for c in target.containers]
        attach = decide_each(state, names, endpoints, [network_info(state, front_name, planned)])
        live_steps = go_live(
            name, app, st, names, target.deploy, target.color, target.version, addresses, attach
        )
        steps += live_steps
    return Plan(name, "rollback", target.deploy, tuple(steps), notes)


def plan_maintenance(cfg: Config, state: HostState, name: str, on: bool) -> Plan:
    app = cfg.app(name)
    if app.port is None:
        raise ConfigError(
            f"{name} is a worker (no port): it has no route to put in maintenance",
            where=f"apps.{name}",
            hint=f"stop its work another way, or roll it back: greenroom rollback {name}",
        )
    routing_known(state)
    st = state.app(name)
    if st.routed is None:
        raise ConfigError(
            f"{name} is not deployed on {state.engine_host}", hint=f"deploy it first: greenroom deploy {name}"
        )
    routed = replace(st.routed, maintenance=on, hosts=server_names(name, app))
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
    st = state.app(name)
    return Plan(name, "repair", None, tuple(repair(st, app)), staged_note(st))


def plan_proxy_reboot(cfg: Config, proxy: ProxySpec, state: HostState, *, recreate: bool = False) -> Plan:
    """Rebuild the proxy container from state: same settings, every routed app rejoined;
    its routing state lives in a volume and survives. A holder that does not publish every
    port of proxy.ports is recreated with `recreate` (its ports refuse connections for a
    moment), and refused without."""
    holder = state.proxy if state.proxy is not None and state.proxy.running and is_pod(state.proxy) else None
    missing = unpublished(proxy.ports, holder.published) if holder is not None else ()
    if holder is not None and missing and not recreate:
        raise DeployError(
            f"the running proxy {proxy.name} does not publish {', '.join(map(str, missing))} of proxy.ports "
            f"(it publishes {', '.join(holder.published) or 'nothing'})",
            where=state.engine_host,
            hint=RECREATE_HINT,
        )
    action, reason = ProxyAction.REBUILD, "reboot requested"
    if missing:
        action, reason = ProxyAction.RECREATE, f"publish {', '.join(map(str, missing))}"
        holder = None  # the new holder rejoins every app
    steps: list[Step] = [EnsureProxy(action, reason=reason, pools=wanted_pools(state, None))]
    # the holder (namespace, ports, attachments) stays when it runs: only a new one rejoins
    fronts = [
        st.front
        for _, st in sorted(state.apps.items())
        if st.front is not None
        and st.routed is not None
        and (holder is None or holder.attachment(st.front.name) is None)
    ]
    if fronts:
        if holder is not None:
            endpoints = observed_endpoints(state, holder)
        else:
            endpoints = spec_endpoints(state, proxy.holder_spec(), ())
        steps += proxy_joins(state, proxy, endpoints, fronts)
    return Plan("proxy", "proxy reboot", None, tuple(steps))


TENTATIVE = (
    "subnets are tentative: a dry run does not read the engine host's routes (that takes a helper "
    "container), so the deploy may pick others to avoid them"
)


def tentative(plan: Plan) -> Plan:
    """A dry run's plan that creates networks: say that their subnets may change."""
    if not any(isinstance(s, EnsureNetwork) for s in plan.steps):
        return plan
    return replace(plan, notes=(*plan.notes, TENTATIVE))
