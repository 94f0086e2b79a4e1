"""The commands of a staged color: `deploy --no-switch` / `--canary` (through deploy),
`promote`, `abort`, `weight`. Each loads the config, calls the library, renders."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from greenroom.cli.options import DEFAULT_FILE, EngineOpt, FileOpt, HostOpt, JsonOpt, read_config, where
from greenroom.cli.output import output
from greenroom.cli.render import to_jsonable
from greenroom.cli.timeline import StepReporter, finish, show_failure
from greenroom.config import Config
from greenroom.config.canary import format_percent, parse_percent
from greenroom.config.fleet import placed
from greenroom.deploy.canary_run import CanaryResult, CanaryRun
from greenroom.deploy.execute import DeployFailed, Outcome
from greenroom.deploy.host import DockerHost
from greenroom.deploy.staged_host import StagedHost
from greenroom.errors import ConfigError, DeployError
from greenroom.fleet.hosts import docker_host_for, host_names, reach

AppArg = Annotated[str, typer.Argument(help="app name")]
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
def _hosts(cfg: Config, app: str, host: str | None, as_json: bool) -> Iterator[list[StagedHost]]:
    """APP's hosts (one engine without `hosts:`; with it, every host APP is placed on, or
    --host NAME), each reached at once; an unreachable host fails the command before it acts."""
    cfg.app(app)
    reporter = None if as_json or output.quiet else StepReporter(output.err)
    if not cfg.hosts:
        yield [StagedHost(DockerHost(cfg, host=host, reporter=reporter))]
        return
    names = host_names(cfg, host)
    chosen = [h for h in placed(cfg.hosts, cfg.app(app).placement) if h.name in names]
    services, unreachable = reach(cfg, chosen, docker_host_for(cfg))
    try:
        if unreachable:
            raise DeployError(
                f"{len(unreachable)} host(s) unreachable: "
                + "; ".join(f"{u.host}: {u.error}" for u in unreachable),
                hint="a staged color is changed on every host of the app or on none",
            )
        for g in services.values():
            g.reporter = reporter
        yield [StagedHost(services[h.name], h.name) for h in chosen]
    finally:
        for g in services.values():
            g.engine.close()


def _each(
    path: Path,
    app: str,
    on: tuple[str | None, str | None],
    as_json: bool,
    act: Callable[[StagedHost], Outcome],
) -> None:
    cfg = read_config(path)
    with _hosts(cfg, app, where(cfg, *on), as_json) as hosts:
        for sh in hosts:
            if len(hosts) > 1 and not as_json:
                output.err.print(Text(f"── host {sh.name} ──", style="bold"))
            _done(functools.partial(act, sh), as_json)


def _done(call: Callable[[], Outcome], as_json: bool) -> None:
    try:
        outcome = call()
    except DeployFailed as exc:
        show_failure(exc, as_json)
        raise
    finish(outcome, as_json)


def wanted(cfg: Config, name: str, no_switch: bool, canary: str | None, analysis_only: bool) -> bool:
    """Whether a deploy of NAME stages its new color rather than switching to it."""
    return no_switch or canary is not None or analysis_only or bool(cfg.app(name).canary.steps)


def staged_first(
    cfg: Config,
    names: list[str],
    image: str | None,
    host: str | None,
    how: tuple[bool, str | None, bool],
    as_json: bool,
) -> list[str]:
    """Deploy those of NAMES that stage their new color (`wanted`); the others, returned, are
    left to the usual deploy."""
    rest = []
    for name in names:
        if wanted(cfg, name, *how):
            staged_deploy(cfg, name, image, host, how, as_json)
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
) -> None:
    """`deploy --no-switch` (a preview), `deploy --canary W` (staged at W and kept there), or
    a canary through apps.<name>.canary.steps (judged, then promoted or rolled back).
    `how`: --no-switch, --canary, --analysis-only."""
    no_switch, canary, analysis_only = how
    weight = percent(canary) if canary is not None else None
    app = cfg.app(name)
    if not (no_switch or weight is not None) and not app.canary.steps:
        raise ConfigError(
            f"--analysis-only needs canary steps for {name}",
            where=f"apps.{name}.canary.steps",
            hint="give steps, e.g. [5%, 25%, 50%, 100%]",
        )
    with _hosts(cfg, name, host, as_json) as hosts:
        if not (no_switch or weight is not None) and any(sh.staged(name)[1] is None for sh in hosts):
            # nothing live to compare with (somewhere): a plain deploy, as the config's rollout says
            if cfg.hosts:
                from greenroom.cli import fleet_cmds

                fleet_cmds.deploy(cfg, [name], image, host, as_json, False)
            else:
                _done(lambda: hosts[0].host.deploy(name, image), as_json)
            return
        if no_switch or weight is not None:
            for sh in hosts[1:]:
                sh.host.release = "skip"  # the release command runs once, with the first host's stage
            for sh in hosts:
                _done(functools.partial(sh.stage, name, image, weight or 0.0), as_json)
            return
        run = CanaryRun(hosts, app.canary, hosts[0].host.clock, _say(as_json), analysis_only=analysis_only)
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
        """Make the staged color live: switch, confirm, drain and stop the old one (host by host)."""
        _each(file, name, (host, engine), as_json, lambda sh: sh.promote(name))

    @app.command()
    def abort(
        name: AppArg,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Route the staged color out, drain it and remove it; the live one never stopped."""
        _each(file, name, (host, engine), as_json, lambda sh: sh.abort(name))

    @app.command()
    def weight(
        name: AppArg,
        share: Annotated[str, typer.Argument(help="share of the clients on the staged color, e.g. 50%")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Set the staged color's share of the clients (sticky per client), without a reload."""
        pct = percent(share)
        _each(file, name, (host, engine), as_json, lambda sh: sh.weight(name, pct))
