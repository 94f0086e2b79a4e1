"""The commands that deploy: deploy, plan, rollback. Each loads the config, calls the
library, renders."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from greenroom.cli import canary_cmds, certs_cmds, fleet_cmds
from greenroom.cli.options import (
    DEFAULT_FILE,
    AppArg,
    EngineOpt,
    FileOpt,
    HostOpt,
    JsonOpt,
    app_names,
    fleet_of,
    host_apps,
    read_config,
    targets,
    where,
)
from greenroom.cli.output import output
from greenroom.cli.timeline import print_plans


def register(app: typer.Typer) -> None:
    @app.command()
    def deploy(
        name: AppArg = None,
        image: Annotated[str | None, typer.Option(help="image to deploy")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan, change nothing")] = False,
        parallel: Annotated[
            int, typer.Option("--parallel", min=1, max=32, help="apps deployed at once (all-apps deploys)")
        ] = 1,
        rollback_on_failure: Annotated[
            bool,
            typer.Option("--rollback-on-failure", help="hosts: return the hosts that switched if one fails"),
        ] = False,
        rerun_release: Annotated[
            bool,
            typer.Option("--rerun-release", help="run the release command even if it ran for this image"),
        ] = False,
        no_switch: canary_cmds.NoSwitchOpt = False,
        canary: canary_cmds.CanaryOpt = None,
        analysis_only: canary_cmds.AnalysisOpt = False,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Blue-green deploy: release command, start, health-gate, attach, switch, confirm,
        drain, stop. With `hosts:` in greenroom.yml, over every host (or --host NAME) as
        `rollout:` says; the release command runs once, on the first host, before any deploys."""
        cfg = read_config(file)
        release = "rerun" if rerun_release else "run"
        if dry_run:  # the release command's step is planned on the first host only
            for i, (_, g) in enumerate(targets(file, host, engine, quiet=as_json)):
                g.release = release if i == 0 else "skip"
                how = (no_switch, canary, analysis_only)
                print_plans((canary_cmds.plan_for(g, one, image, how) for one in host_apps(g, name)), as_json)
            return
        at = where(cfg, host, engine)
        names = app_names(cfg, name)
        certs_cmds.around_deploy(cfg, names, at, before=True)
        how = (no_switch, canary, analysis_only)
        if rest := canary_cmds.staged_first(cfg, names, image, at, how, as_json, release):
            fleet, only = fleet_of(cfg, host, engine)
            fleet_cmds.deploy(fleet, rest, image, only, as_json, rollback_on_failure, release, parallel)
        certs_cmds.around_deploy(cfg, names, at, before=False)

    @app.command()
    def plan(
        name: AppArg = None,
        image: Annotated[str | None, typer.Option(help="image to deploy")] = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The exact steps `deploy` would run now (same as deploy --dry-run); each attach
        says the GwPriority it will send, or why the gateway stays without one."""
        for _, g in targets(file, host, engine, quiet=as_json):
            print_plans(
                (canary_cmds.plan_for(g, one, image, canary_cmds.NO_FLAGS) for one in host_apps(g, name)),
                as_json,
            )

    @app.command()
    def rollback(
        name: Annotated[str, typer.Argument(help="app name")],
        to: Annotated[str | None, typer.Option("--to", help="deploy id or version")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Go back to a retained release (still health-gated); with `hosts:`, on every host.
        The release command does not run."""
        cfg = read_config(file)
        if cfg.app(name).release is not None and not as_json and not output.quiet:
            from greenroom.deploy.release import NOT_ON_ROLLBACK

            output.err.print(Text(f"note: {NOT_ON_ROLLBACK}", style="yellow"))
        if dry_run:
            for _, g in targets(file, host, engine, quiet=as_json):
                print_plans([g.rollback_plan(name, to)], as_json)
            return
        fleet, only = fleet_of(cfg, host, engine)
        fleet_cmds.rollback(fleet, name, to, only, as_json)
