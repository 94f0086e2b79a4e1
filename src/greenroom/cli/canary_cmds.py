"""The commands of a staged color: `deploy --no-switch` / `--canary` (through deploy),
`promote`, `abort`, `weight`. Each loads the config, calls the library, renders."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from greenroom.cli import fleet_cmds
from greenroom.cli.options import DEFAULT_FILE, EngineOpt, FileOpt, HostOpt, JsonOpt, fleet_of, read_config
from greenroom.cli.output import output
from greenroom.cli.render import to_jsonable
from greenroom.cli.timeline import StepReporter
from greenroom.config import Config
from greenroom.config.canary import format_percent, parse_percent
from greenroom.deploy.canary import schedule
from greenroom.deploy.canary_run import CanaryResult, CanaryRun
from greenroom.deploy.host import DockerHost
from greenroom.deploy.staged_host import StagedHost
from greenroom.deploy.steps import Plan
from greenroom.errors import ConfigError, DeployError
from greenroom.fleet import staged
from greenroom.fleet.hosts import docker_host_for, fleet_at, is_sole, placed_hosts, reach
from greenroom.fleet.report import FleetReport
from greenroom.fleet.run import Fleet

AppArg = Annotated[str, typer.Argument(help="app name")]
NO_FLAGS = (False, None, False)  # deploy without --no-switch, --canary, --analysis-only
NoSwitchOpt = Annotated[bool, typer.Option("--no-switch", help="stage it: preview only")]
CanaryOpt = Annotated[str | None, typer.Option("--canary", help="stage it for this share, e.g. 10%")]
AnalysisOpt = Annotated[
    bool, typer.Option("--analysis-only", help="canary steps: print verdicts, neither roll back nor promote")
]


def percent(value: str) -> float:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@contextlib.contextmanager
def _hosts(cfg: Config, app: str, at: str | None, as_json: bool) -> Iterator[list[StagedHost]]:
    """APP's hosts (every host APP is placed on, or the one --host names; without `hosts:`
    the one engine), each reached at once; an unreachable host fails the command before it acts."""
    cfg.app(app)
    fleet, only = fleet_at(cfg, at)
    sole = is_sole(fleet)
    reporter = None if as_json or output.quiet else StepReporter(output.err)
    chosen = placed_hosts(fleet, app, only)
    services, unreachable = reach(fleet, chosen, docker_host_for(fleet))
    try:
        if unreachable and sole:
            raise unreachable[0].error
        if unreachable:
            raise DeployError(
                f"{len(unreachable)} host(s) unreachable: "
                + "; ".join(f"{u.host}: {u.error}" for u in unreachable),
                hint="a staged color is changed on every host of the app or on none",
            )
        for g in services.values():
            g.reporter = reporter
        yield [StagedHost(services[h.name], "" if sole else h.name) for h in chosen]
    finally:
        for g in services.values():
            g.engine.close()


def _over_fleet(
    path: Path,
    app: str,
    on: tuple[str | None, str | None],
    as_json: bool,
    act: Callable[[Fleet, str | None], FleetReport],
) -> None:
    """promote, abort, weight through the fleet's runner (fleet/staged.py)."""
    cfg, only = fleet_of(read_config(path), *on)
    cfg.app(app)
    _show([act(fleet_cmds.runner(cfg, as_json), only)], as_json)


def _show(reports: list[FleetReport], as_json: bool) -> None:
    """Each host's result as a deploy's (a fleet of one: its timeline, or its own error)."""
    if not as_json:
        for report in reports:
            fleet_cmds.print_report(report)
    fleet_cmds.end(reports, as_json)


def wanted(cfg: Config, name: str, no_switch: bool, canary: str | None, analysis_only: bool) -> bool:
    """Whether a deploy of NAME stages its new color rather than switching to it."""
    return no_switch or canary is not None or analysis_only or bool(cfg.app(name).canary.steps)


def plan_for(g: DockerHost, name: str, image: str | None, how: tuple[bool, str | None, bool]) -> Plan:
    """The plan `deploy` (`how`: --no-switch, --canary, --analysis-only) would run for NAME
    on G, changing nothing: a stage and what follows it (the canary's schedule), or the usual
    deploy when it does not stage (or nothing is live yet to stage beside)."""
    if not wanted(g.cfg, name, *how):
        return g.plan(name, image)
    no_switch, canary, analysis_only = how
    weight = percent(canary) if canary is not None else None
    gates = g.cfg.app(name).canary
    sh = StagedHost(g)
    if no_switch or weight is not None:
        said = "preview only" if not weight else f"{format_percent(weight)} of the clients"
        then = f"stays staged ({said}) until `greenroom weight`, `promote` or `abort {name}`"
        return sh.plan(name, image, weight or 0.0, then)
    _need_steps(g.cfg, name)
    if sh.staged(name)[1] is None:
        plan = g.plan(name, image)
        return replace(plan, notes=(*plan.notes, "nothing live to compare a canary with: a plain deploy"))
    then = schedule(gates, gates.steps)
    if analysis_only:
        then += "; analysis only: verdicts printed, nothing rolled back or promoted"
    return sh.plan(name, image, 0.0, then)


def _need_steps(cfg: Config, name: str) -> None:
    if not cfg.app(name).canary.steps:
        raise ConfigError(
            f"--analysis-only needs canary steps for {name}",
            where=f"apps.{name}.canary.steps",
            hint="give steps, e.g. [5%, 25%, 50%, 100%]",
        )


def staged_first(
    cfg: Config,
    names: list[str],
    image: str | None,
    host: str | None,
    how: tuple[bool, str | None, bool],
    as_json: bool,
    release: str = "run",
) -> list[str]:
    """Deploy those of NAMES that stage their new color (`wanted`); the others, returned, are
    left to the usual deploy."""
    rest = []
    for name in names:
        if wanted(cfg, name, *how):
            staged_deploy(cfg, name, image, host, how, as_json, release)
        else:
            rest.append(name)
    return rest


def staged_deploy(
    cfg: Config,
    name: str,
    image: str | None,
    host: str | None,
    how: tuple[bool, str | None, bool],
    as_json: bool,
    release: str = "run",
) -> None:
    """`deploy --no-switch` (a preview), `deploy --canary W` (staged at W and kept there), or
    a canary through apps.<name>.canary.steps (judged, then promoted or rolled back).
    `how`: --no-switch, --canary, --analysis-only; `release`: "rerun" for --rerun-release."""
    no_switch, canary, analysis_only = how
    weight = percent(canary) if canary is not None else None
    app = cfg.app(name)
    fleet_cfg, only = fleet_at(cfg, host)
    if no_switch or weight is not None:
        fleet = fleet_cmds.runner(fleet_cfg, as_json)
        fleet.release = release
        _show(staged.stage(fleet, name, image, weight or 0.0, only), as_json)
        return
    _need_steps(cfg, name)
    with _hosts(cfg, name, host, as_json) as hosts:
        if any(sh.staged(name)[1] is None for sh in hosts):
            # nothing live to compare with (somewhere): a plain deploy, as the config's rollout says
            fleet_cmds.deploy(fleet_cfg, [name], image, only, as_json, False, release)
            return
        hosts[0].host.release = release  # "rerun" with --rerun-release
        rollout = Fleet(fleet_cfg)  # the last step's promotion: its batches and hand-offs

        def promote(which: str) -> None:
            staged.promote_held(rollout, which, hosts, only)

        run = CanaryRun(
            hosts,
            app.canary,
            hosts[0].host.clock,
            _say(as_json),
            analysis_only=analysis_only,
            promote=promote,
        )
        _report(run.run(name, image, app.canary.steps), as_json)


def _say(as_json: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if not as_json:
            output.err.print(Text(text))

    return say


def _report(result: CanaryResult, as_json: bool) -> None:
    if as_json:
        output.json(
            to_jsonable(
                {
                    "app": result.app,
                    "deploy": result.deploy,
                    "promoted": result.promoted,
                    "traffic_seconds": round(result.traffic_seconds, 3),
                    "steps": [
                        {"weight": s.weight, "verdict": s.verdict.kind.value, "figures": s.verdict.describe()}
                        for s in result.steps
                    ],
                }
            )
        )
        return
    said = "promoted" if result.promoted else "left staged"
    output.out.print(
        Text.assemble(
            ("✓", "green"),
            f" {result.app} {result.deploy} {said} after "
            + ", ".join(format_percent(s.weight) for s in result.steps),
        )
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def promote(
        name: AppArg,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Make the staged color live: switch, confirm, drain and stop the old one; with
        `hosts:`, over every host as `rollout:` says (rolling: each out of the load balancer)."""
        _over_fleet(
            file, name, (host, engine), as_json, lambda fleet, only: staged.promote(fleet, name, only)
        )

    @app.command()
    def abort(
        name: AppArg,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Route the staged color out, drain it and remove it (on every host at once); the
        live one never stopped."""
        _over_fleet(file, name, (host, engine), as_json, lambda fleet, only: staged.abort(fleet, name, only))

    @app.command()
    def weight(
        name: AppArg,
        share: Annotated[str, typer.Argument(help="share of the clients on the staged color, e.g. 50%")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Set the staged color's share of the clients (sticky per client), without a reload,
        on every host at once."""
        pct = percent(share)
        _over_fleet(
            file, name, (host, engine), as_json, lambda fleet, only: staged.weight(fleet, name, pct, only)
        )
