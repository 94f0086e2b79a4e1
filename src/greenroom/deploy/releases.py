"""Pure: a release's containers, the steps that take it live, and what becomes of the
releases before it (repair after an interrupted command, prune beyond `retain`)."""

from __future__ import annotations

from greenroom import labels
from greenroom.config import AppConfig
from greenroom.config.rules import INTERNAL_HOST_SUFFIX
from greenroom.deploy.context import Context
from greenroom.deploy.state import AppState
from greenroom.deploy.steps import (
    AttachFront,
    Confirm,
    Drain,
    ProbeSpec,
    RemoveRelease,
    Step,
    StopRelease,
    Switch,
)
from greenroom.engine.model import ContainerSpec
from greenroom.errors import ConfigError
from greenroom.gateway.decision import AttachDecision
from greenroom.proxy.model import Routed


def server_names(name: str, app: AppConfig) -> tuple[str, ...]:
    """The names an app answers to in the proxy: its `hosts` (virtual host names), and its own
    APP.greenroom.internal for greenroom's confirm probe."""
    return (*app.hosts, name + INTERNAL_HOST_SUFFIX)


def probe_spec(app: AppConfig) -> ProbeSpec:
    hc = app.healthcheck
    return ProbeSpec(
        kind=hc.type,
        port=app.port or 0,
        path=hc.path or "/",
        status=hc.status or 200,
        timeout=hc.timeout,
        interval=hc.interval,
        passes=hc.passes,
        deadline=hc.deadline,
        steady=hc.steady,
    )


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


def go_live(
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
    port = app.port
    assert port is not None, "go_live is a web app's; a worker's is deploy/worker.py's"
    targets = tuple(f"{a}:{port}" for a in addresses)
    previous = st.routed
    routed = Routed(
        app=name,
        targets=targets,
        hosts=server_names(name, app),
        maintenance=False,
        color=color,
        deploy=deploy,
        version=version,
        went_live=went_live_after(previous, deploy),
    )
    hc = app.healthcheck
    steps: list[Step] = [
        AttachFront(name, deploy, rel_names, front, addresses, attach),
        Switch(routed, previous),
        Confirm(
            name,
            server_names(name, app)[0],
            hc.path or "/" if hc.type == "http" else "/",
            hc.status if hc.type == "http" else None,
            targets,
        ),
    ]
    live = st.live
    if live is not None and live.deploy != deploy:
        old = tuple(c.name for c in live.containers)
        if live.running:
            steps.append(Drain(name, old, port, front, app.drain_timeout))
        steps.append(
            StopRelease(
                name, live.deploy, old, app.stop_timeout, front, f"replaced by {deploy}; kept for rollback"
            )
        )
    return steps


def refuse_staged(st: AppState, where: str) -> None:
    """A deploy or rollback would route around a staged color: `promote` or `abort` first."""
    if st.routed is not None and st.routed.staged is not None:
        sg = st.routed.staged
        raise ConfigError(
            f"{st.name} has {sg.color} {sg.deploy} staged beside the live version (at {sg.weight:g}%)",
            where=where,
            hint=f"`greenroom promote {st.name}` makes it live, `greenroom abort {st.name}` removes it",
        )


def staged_note(st: AppState) -> tuple[str, ...]:
    """What `status` and `repair` say of a staged color: it is kept, as it is, on purpose."""
    if st.routed is None or st.routed.staged is None:
        return ()
    sg = st.routed.staged
    what = f"a canary at {sg.weight:g}% of the clients" if sg.weight else "a preview (no public traffic)"
    return (
        f"{sg.color} {sg.deploy} ({sg.version}) is staged beside the live version: {what}; kept as it is "
        f"(a canary interrupted keeps its weight): `greenroom promote {st.name}` or "
        f"`greenroom abort {st.name}`",
    )


def went_live_after(previous: Routed | None, deploy: str, keep: int = 100) -> tuple[str, ...]:
    """Each release once, at the last time it went live; `deploy` last."""
    seq = [*(previous.went_live if previous else ()), deploy]
    last = {d: i for i, d in enumerate(seq)}
    return tuple(d for i, d in enumerate(seq) if last[d] == i)[-keep:]


def prune(st: AppState, app: AppConfig, keep_deploys: set[str]) -> list[Step]:
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


def repair(st: AppState, app: AppConfig) -> list[Step]:
    """Finish or undo what an interrupted command left: the routed release is live; one
    that never went live is removed; one that went live and still runs is drained and
    stopped (kept for rollback). The proxy records every release that went live, at the
    moment it did (older state without that record: releases older than the live one)."""
    live = st.live
    ever_live = set(st.routed.went_live) if st.routed else set()
    steps: list[Step] = [
        RemoveRelease(
            st.name,
            c.labels.get(labels.DEPLOY, "?"),
            (c.name,),
            "a release command's container left by an interrupted deploy",
        )
        for c in st.stale_runs
    ]
    staged = st.routed.staged.deploy if st.routed and st.routed.staged else None
    for rel in st.releases:
        if (live is not None and rel.deploy == live.deploy) or rel.deploy == staged:
            continue  # the staged one is kept too: `promote` or `abort` decides
        names = tuple(c.name for c in rel.containers)
        if ever_live:
            went_live = rel.deploy in ever_live
        else:
            went_live = live is not None and (rel.deployed_at, rel.deploy) < (live.deployed_at, live.deploy)
        if not went_live:
            steps.append(RemoveRelease(st.name, rel.deploy, names, "never went live (an interrupted deploy)"))
        elif rel.running:
            if app.port is not None:  # a worker has no connections from the proxy
                steps.append(
                    Drain(st.name, names, app.port, labels.front_network(st.name), app.drain_timeout)
                )
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
