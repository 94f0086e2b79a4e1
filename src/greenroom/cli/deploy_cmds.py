"""The deploy-side commands: deploy, plan, rollback, status, logs, history, maintenance,
repair, unlock, proxy. Each loads the config, calls the library, renders.

Commands that change things (deploy, rollback, maintenance, repair, proxy reboot) and
`plan` (which shows exactly what a deploy would do, so it needs the deploy's values) load
the config strictly: a ${VAR} that is not set is an error (exit 2). Commands that only look
(status, logs, history, proxy status, and unlock, which needs only the app's name) load it
leniently: such a variable reads as empty, with a warning on stderr naming it and the field."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from greenroom.cli import canary_cmds, certs_cmds
from greenroom.cli.output import output
from greenroom.cli.render import to_jsonable
from greenroom.cli.timeline import StepReporter, finish, print_plans, show_failure
from greenroom.config import Config, load_config, load_config_lenient, secret_values
from greenroom.deploy.execute import DeployFailed, Outcome
from greenroom.deploy.host import DockerHost
from greenroom.errors import DeployError, GreenroomError

FileOpt = Annotated[
    Path, typer.Option("--file", "-f", envvar="GREENROOM_CONFIG", help="the greenroom.yml to use")
]
HostOpt = Annotated[
    str | None, typer.Option("--host", "-H", help="engine address (default: engine.host, DOCKER_HOST)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
AppArg = Annotated[str | None, typer.Argument(help="app name (default: every app in the config)")]
DEFAULT_FILE = Path("greenroom.yml")


def _config(path: Path, *, lenient: bool = False) -> Config:
    if lenient:
        cfg, warnings = load_config_lenient(path)
    else:
        cfg, warnings = load_config(path), []
    output.add_secrets(secret_values(cfg))  # from here on, every output masks them
    for warning in warnings:
        output.err.print(Text(f"warning: {path}: {warning} (this command does not need it)", style="yellow"))
    return cfg


def _targets(
    path: Path, host: str | None, quiet: bool = False, *, lenient: bool = False
) -> Iterator[tuple[str | None, DockerHost]]:
    """The greenroom to act through: one (no `hosts:`; --host is an engine address), or one
    per host (--host NAME: that one), each announced by name."""
    cfg = _config(path, lenient=lenient)
    if not cfg.hosts:
        yield (
            None,
            DockerHost(cfg, host=host, reporter=None if quiet or output.quiet else StepReporter(output.err)),
        )
        return
    from greenroom.cli import fleet_cmds

    for name, g in fleet_cmds.each(cfg, host):
        g.reporter = None if quiet or output.quiet else StepReporter(output.err)
        if not quiet:
            output.err.print(Text(f"── host {name} ──", style="bold"))
        yield name, g


def _deploy_parallel(g: DockerHost, image: str | None, parallel: int, as_json: bool) -> None:
    lock = threading.Lock()

    def done(app: str, result: Outcome | GreenroomError) -> None:
        with lock:
            if isinstance(result, Outcome):
                if as_json:
                    output.json(to_jsonable(result.as_dict()))
                else:
                    output.out.print(
                        Text.assemble(("✓", "green"), f" {app} {result.plan.deploy} in {result.total:.2f}s")
                    )
            else:
                if as_json and isinstance(result, DeployFailed):
                    output.json(to_jsonable(result.outcome.as_dict()))
                output.err.print(Text.assemble(("✗", "bold red"), f" {app}: {result}"))

    failed = g.deploy_many(list(g.cfg.apps), image, parallel, done)
    if failed:
        raise DeployError(
            f"{failed} of {len(g.cfg.apps)} apps failed to deploy; the others are live",
            hint="each failed app's old version is still serving; see the errors above",
        )


def _short(text: str) -> str:
    """The start of a long message: masked first, so that no cut leaves part of a secret."""
    return output.mask(text)[:60]


def _names(cfg: Config, app: str | None) -> list[str]:
    if app is not None:
        cfg.app(app)
        return [app]
    return list(cfg.apps)


def _apps(g: DockerHost, app: str | None) -> list[str]:
    return _names(g.cfg, app)


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
        as_json: JsonOpt = False,
    ) -> None:
        """Blue-green deploy: release command, start, health-gate, attach, switch, confirm,
        drain, stop. With `hosts:` in greenroom.yml, over every host (or --host NAME) as
        `rollout:` says; the release command runs once, on the first host, before any deploys."""
        cfg = _config(file)
        release = "rerun" if rerun_release else "run"
        if not dry_run:
            certs_cmds.around_deploy(cfg, _names(cfg, name), host, before=True)
        if cfg.hosts and not dry_run:
            from greenroom.cli import fleet_cmds

            how = (no_switch, canary, analysis_only)
            if rest := canary_cmds.staged_first(cfg, _names(cfg, name), image, host, how, as_json):
                fleet_cmds.deploy(cfg, rest, image, host, as_json, rollback_on_failure, release)
            certs_cmds.around_deploy(cfg, _names(cfg, name), host, before=False)
            return
        if cfg.hosts:
            for i, (_, g) in enumerate(_targets(file, host, quiet=as_json)):
                g.release = release if i == 0 else "skip"
                print_plans((g.plan(one, image) for one in _apps(g, name)), as_json)
            return
        g = DockerHost(
            cfg,
            host=host,
            reporter=None if as_json or parallel > 1 or output.quiet else StepReporter(output.err),
        )
        g.release = release
        if parallel > 1 and not dry_run and not name:
            _deploy_parallel(g, image, parallel, as_json)
            certs_cmds.around_deploy(cfg, _names(cfg, name), host, before=False)
            return
        if dry_run:
            print_plans((g.plan(one, image) for one in _apps(g, name)), as_json)
            return
        for one in _apps(g, name):
            if not canary_cmds.staged_first(
                cfg, [one], image, host, (no_switch, canary, analysis_only), as_json
            ):
                continue
            try:
                finish(g.deploy(one, image), as_json)
            except DeployFailed as exc:
                show_failure(exc, as_json)
                raise
        certs_cmds.around_deploy(cfg, _names(cfg, name), host, before=False)

    @app.command()
    def plan(
        name: AppArg = None,
        image: Annotated[str | None, typer.Option(help="image to deploy")] = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The exact steps `deploy` would run now (same as deploy --dry-run); each attach
        says the GwPriority it will send, or why the gateway stays without one."""
        for _, g in _targets(file, host, quiet=as_json):
            print_plans((g.plan(one, image) for one in _apps(g, name)), as_json)

    @app.command()
    def rollback(
        name: Annotated[str, typer.Argument(help="app name")],
        to: Annotated[str | None, typer.Option("--to", help="deploy id or version")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Go back to a retained release (still health-gated); with `hosts:`, on every host.
        The release command does not run."""
        cfg = _config(file)
        if cfg.app(name).release is not None and not as_json and not output.quiet:
            from greenroom.deploy.release import NOT_ON_ROLLBACK

            output.err.print(Text(f"note: {NOT_ON_ROLLBACK}", style="yellow"))
        if cfg.hosts and not dry_run:
            from greenroom.cli import fleet_cmds

            fleet_cmds.rollback(cfg, name, to, host, as_json)
            return
        if dry_run:
            for _, g in _targets(file, host, quiet=as_json):
                print_plans([g.rollback_plan(name, to)], as_json)
            return
        g = DockerHost(cfg, host=host, reporter=None if as_json or output.quiet else StepReporter(output.err))
        try:
            result = g.rollback(name, to)
        except DeployFailed as exc:
            show_failure(exc, as_json)
            raise
        finish(result, as_json)

    @app.command()
    def status(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
        """Apps, the live color and version, since when, health of the gateway, problems;
        with `hosts:`, every host at once, version drift and the load balancer's view."""
        cfg = _config(file, lenient=True)
        if cfg.hosts:
            from greenroom.cli import fleet_cmds

            fleet_cmds.status(cfg, host, as_json)
            return
        g = DockerHost(cfg, host=host)
        state, rows = g.status()
        if as_json:
            output.json(
                to_jsonable(
                    {
                        "engine": g.engine.host,
                        "proxy": state.proxy.name if state.proxy else None,
                        "proxy_running": bool(state.proxy and state.proxy.running),
                        "apps": rows,
                    }
                )
            )
            return
        table = Table(
            title=f"greenroom on {g.engine.host} (Docker {g.engine.info.version})", title_justify="left"
        )
        staged = any(r.staged for r in rows)
        for col in ("app", "live", "version", "since", "replicas", "gateway", "maintenance", "retained"):
            table.add_column(col)
        if staged:
            table.add_column("staged")
        for r in rows:
            table.add_row(
                r.app,
                f"{r.color} {r.deploy}" if r.deploy else "[dim]not deployed[/]",
                r.version or "",
                r.since or "",
                r.replicas,
                {True: "[green]ok[/]", False: "[red]MOVED[/]", None: ""}[r.gateway_ok],
                "[yellow]on[/]" if r.maintenance else "off",
                str(len(r.retained)),
                *([r.staged or ""] if staged else []),
            )
        output.out.print(table)
        proxy = state.proxy
        output.out.print(
            f"proxy {g.proxy.spec.name}: "
            + ("running" if proxy and proxy.running else "[red]not running[/]")
            + (f", generation {state.proxy_generation}" if state.proxy_generation else "")
        )
        for r in rows:
            for p in r.problems:
                output.err.print(Text(f"{r.app}: {p}", style="yellow"))

    @app.command()
    def logs(
        name: Annotated[str, typer.Argument(help="app name")],
        follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
        tail: Annotated[int, typer.Option("--tail")] = 100,
        file: Annotated[  # no -f here: it means --follow, as in docker logs
            Path, typer.Option("--file", envvar="GREENROOM_CONFIG", help="the greenroom.yml to use")
        ] = DEFAULT_FILE,
        host: HostOpt = None,
    ) -> None:
        """Logs of the live version's containers (secrets masked); with `hosts:`, of each host."""
        for where, g in _targets(file, host, quiet=True, lenient=True):
            if follow:
                output.stream(g.follow(name, tail=tail))
                return
            prefix = f"{where}/" if where else ""
            for cname, text in g.logs(name, tail=tail).items():
                lines = output.mask(text).splitlines()  # before the prefix splits a multi-line secret
                output.echo("".join(f"{prefix}{cname} | {line}\n" for line in lines), end="")

    @app.command()
    def history(
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Past deploys, rollbacks and maintenance switches of an app (with `hosts:`, per host)."""
        cfg = _config(file, lenient=True)
        if cfg.hosts:  # every host at once
            from greenroom.cli import fleet_cmds

            found, silent = fleet_cmds.history(cfg, name, host)
        else:
            found, silent = {None: DockerHost(cfg, host=host).history(name)}, []
        if as_json:
            output.json(to_jsonable(found[None] if list(found) == [None] else found))
        for where, entries in found.items() if not as_json else ():
            title = f"history of {name}" + (f" on {where}" if where else "")
            table = Table(title=title, title_justify="left")
            for col in ("started", "action", "deploy", "result", "took", "by"):
                table.add_column(col)
            for e in entries:
                table.add_row(
                    e.started,
                    e.action,
                    e.deploy or "",
                    "ok" if e.ok else Text.assemble(("failed", "red"), f" {_short(e.error)}"),
                    f"{e.duration:.2f}s",
                    e.by,
                )
            output.out.print(table)
        if silent:
            raise GreenroomError(f"{len(silent)} host(s) did not answer: {', '.join(silent)}")

    @app.command()
    def maintenance(
        state: Annotated[str, typer.Argument(help="on or off")],
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Serve a 503 page for an app (connections in flight drain), or stop doing so."""
        if state not in ("on", "off"):
            raise typer.BadParameter("must be on or off", param_hint="STATE")
        for _, g in _targets(file, host, quiet=as_json):
            finish(g.maintenance(name, state == "on"), as_json)

    @app.command()
    def repair(
        name: AppArg = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Finish or undo what an interrupted command left behind (deploy does this too)."""
        for _, g in _targets(file, host, quiet=as_json):
            for one in _apps(g, name):
                done = g.repair(one)
                finish(done, as_json)
                for note in done.plan.notes if not as_json else ():
                    output.err.print(Text(note, style="yellow"))

    @app.command()
    def unlock(
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        force: Annotated[
            bool, typer.Option("--force", help="release it even if its holder may be alive")
        ] = False,
    ) -> None:
        """Release an app's lock left by a greenroom process that is gone."""
        for where, g in _targets(file, host, quiet=True, lenient=True):
            held = g.unlock(name, force=force)
            on = f" on {where}" if where else ""
            output.out.print(
                Text(
                    f"released the lock held by {held.describe()}{on}"
                    if held
                    else f"{name} was not locked{on}"
                )
            )


proxy_app = typer.Typer(help="The nginx proxy container: status, reboot.", no_args_is_help=True)


@proxy_app.command("status")
def proxy_status(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
    """The proxy container, its config generation, its gateway and what it routes (each host's)."""
    for _, g in _targets(file, host, quiet=as_json, lenient=True):
        _proxy_status(g, as_json)


def _proxy_status(g: DockerHost, as_json: bool) -> None:
    st = g.proxy_status()
    if as_json:
        output.json(to_jsonable(st))
        return
    out = output.out
    state = Text("running", style="green") if st.running else Text("not running", style="red")
    out.print(
        Text.assemble(
            f"proxy {st.name} ({st.image}): ",
            state,
            f", generation {st.generation} (current: {st.expected_generation}), gateway on {st.gateway}",
        )
    )
    out.print(Text(f"  published: {', '.join(st.published) or 'nothing'}"))
    for name, r in sorted(st.routed.items()):
        mode = Text(" (maintenance)", style="yellow") if r.maintenance else ""
        out.print(
            Text.assemble(f"  {name}", mode, f": {', '.join(r.hosts)} -> {' '.join(r.targets)} ({r.deploy})")
        )
    for p in st.problems:
        output.err.print(Text(p, style="yellow"))


@proxy_app.command("reboot")
def proxy_reboot(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the proxy container from state (routing survives in its volume); with
    `hosts:`, one host at a time, each out of the load balancer meanwhile."""
    cfg = _config(file)
    if cfg.hosts:
        from greenroom.cli import fleet_cmds

        fleet_cmds.proxy_reboot(cfg, host, as_json)
        return
    g = DockerHost(cfg, host=host, reporter=None if as_json or output.quiet else StepReporter(output.err))
    finish(g.proxy_reboot(), as_json)
