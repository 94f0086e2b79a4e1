"""Pure planning of a staged color: stage it beside the live one (a preview, or a canary
at a weight), change its weight, promote it (the usual switch, confirm, drain and stop),
or abort it (route it out, drain, remove). The staged color lives in the proxy's routing
state (`Routed.staged`), so any later command finds it."""

from __future__ import annotations

from dataclasses import replace

from greenroom import labels
from greenroom.config import AppConfig, Config
from greenroom.config.canary import format_percent
from greenroom.deploy.context import Context
from greenroom.deploy.plan import plan_deploy, routing_known
from greenroom.deploy.releases import go_live
from greenroom.deploy.state import AppState, HostState
from greenroom.deploy.steps import AttachFront, Drain, Plan, RemoveRelease, Route, Step, Switch
from greenroom.errors import ConfigError
from greenroom.proxy.model import ProxySpec, Routed, Staged


def _served(cfg: Config, name: str) -> tuple[AppConfig, int]:
    """APP and its port: a worker takes no traffic, so nothing of it can be staged."""
    app = cfg.app(name)
    if app.is_worker or app.port is None:
        raise ConfigError(
            f"{name} is a worker: it takes no traffic, so no version of it is staged beside another",
            where=f"apps.{name}",
            hint=f"deploy it with `greenroom deploy {name}`",
        )
    return app, app.port


def _staged(state: HostState, name: str) -> tuple[AppState, Routed, Staged]:
    routing_known(state)
    st = state.app(name)
    if st.routed is None or st.routed.staged is None:
        raise ConfigError(
            f"{name} has no staged version on {state.engine_host}",
            hint=f"stage one: greenroom deploy {name} --no-switch (or --canary 10%)",
        )
    return st, st.routed, st.routed.staged


def plan_stage(
    cfg: Config,
    proxy: ProxySpec,
    state: HostState,
    name: str,
    image: str | None,
    ctx: Context,
    *,
    weight: float,
    config_hash: str,
    release: str = "run",
) -> Plan:
    """A deploy up to its attach, then the new color staged at `weight` percent (0: preview
    only) instead of the switch; the live color keeps serving."""
    app = cfg.app(name)
    routing_known(state)
    st = state.app(name)
    if st.live is None or st.routed is None:
        raise ConfigError(
            f"{name} has no live version on {state.engine_host} to stage a new one beside",
            hint=f"deploy it first: greenroom deploy {name}",
        )
    full = plan_deploy(cfg, proxy, state, name, image, ctx, config_hash=config_hash, release=release)
    at = next(i for i, s in enumerate(full.steps) if isinstance(s, Switch))
    switch = full.steps[at]
    assert isinstance(switch, Switch)
    new = switch.routed
    staged = Staged(
        deploy=ctx.deploy_id,
        color=new.color or "",
        version=new.version or "",
        targets=new.targets,
        weight=weight,
        header=app.preview.header,
        cookie=app.preview.cookie,
        hosts=app.preview.hosts,
        sticky=app.canary.sticky_header or "",
        canary_cookie=app.canary.cookie,
    )
    route = Route(
        replace(st.routed, staged=staged),
        st.routed,
        f"stage {staged.color} {staged.version} beside {st.routed.color} {st.routed.version} "
        f"at {format_percent(weight)} (preview: header {app.preview.header}, cookie {app.preview.cookie})",
    )
    pruned = [s for s in full.steps[at:] if isinstance(s, RemoveRelease)]
    return Plan(name, "stage", ctx.deploy_id, (*full.steps[:at], route, *pruned), full.notes)


def plan_weight(state: HostState, name: str, weight: float) -> Plan:
    _, routed, staged = _staged(state, name)
    route = Route(
        replace(routed, staged=replace(staged, weight=weight)),
        routed,
        f"canary weight of {name} {staged.color} {format_percent(staged.weight)} -> {format_percent(weight)}",
    )
    return Plan(name, "weight", staged.deploy, (route,), ())


def plan_promote(cfg: Config, state: HostState, name: str) -> Plan:
    """The staged color goes live: switch (the staged state gone with it), confirm, drain
    and stop the old color (kept for rollback)."""
    app, _ = _served(cfg, name)
    st, _, staged = _staged(state, name)
    rel = st.release(staged.deploy)
    if rel is None:
        raise ConfigError(
            f"the staged {staged.deploy} of {name} has no containers on {state.engine_host}",
            hint=f"`greenroom abort {name}` clears it",
        )
    addresses = tuple(t.rsplit(":", 1)[0] for t in staged.targets)
    names = tuple(c.name for c in rel.containers)
    steps = go_live(name, app, st, names, rel.deploy, rel.color, rel.version, addresses, ())
    live = [s for s in steps if not isinstance(s, AttachFront)]
    return Plan(name, "promote", rel.deploy, tuple(live), ())


def plan_abort(cfg: Config, state: HostState, name: str, reason: str = "aborted") -> Plan:
    """Route the staged color out (weight 0, preview gone), drain it, remove it."""
    app, port = _served(cfg, name)
    st, routed, staged = _staged(state, name)
    steps: list[Step] = [
        Route(
            replace(routed, staged=None),
            routed,
            f"stop routing to staged {staged.color} {staged.deploy} ({reason})",
            undo=False,
        )
    ]
    rel = st.release(staged.deploy)
    if rel is not None:
        names = tuple(c.name for c in rel.containers)
        if rel.running:
            steps.append(Drain(name, names, port, labels.front_network(name), app.drain_timeout))
        steps.append(RemoveRelease(name, rel.deploy, names, reason))
    return Plan(name, "abort", staged.deploy, tuple(steps), ())
