"""The deploy-side commands: deploy, plan, rollback, status, logs, history, maintenance,
repair, unlock, proxy. Each loads the config, calls the library, renders."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from greenroom.cli.render import print_json
from greenroom.config import Config, load_config
from greenroom.deploy.execute import DeployFailed, Outcome, StepRecord
from greenroom.deploy.service import Greenroom
from greenroom.deploy.steps import Plan, Step
from greenroom.errors import DeployError, GreenroomError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

FileOpt = Annotated[
    Path, typer.Option("--file", "-f", envvar="GREENROOM_CONFIG", help="the greenroom.yml to use")
]
HostOpt = Annotated[
    str | None, typer.Option("--host", "-H", help="engine address (default: engine.host, DOCKER_HOST)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
AppArg = Annotated[str | None, typer.Argument(help="app name (default: every app in the config)")]
DEFAULT_FILE = Path("greenroom.yml")


def _config(path: Path) -> Config:
    return load_config(path)


class StepReporter:
    """Progress on stderr: one line per finished step, a live line for the running one."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.current = ""

    def started(self, index: int, total: int, step: Step) -> None:
        self.current = f"[{index}/{total}] {step.describe()}"
        if self.console.is_terminal:
            self.live = Live(
                Text(self.current + " …"), console=self.console, transient=True, refresh_per_second=8
            )
            self.live.start()

    def progress(self, text: str) -> None:
        if self.live is not None:
            self.live.update(Text(f"{self.current} … {text}"))

    def finished(self, record: StepRecord) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        mark = {"ok": "[green]✓[/]", "failed": "[bold red]✗[/]", "undone": "[yellow]↺[/]"}[record.status]
        detail = f" [dim]{record.detail}[/]" if record.detail else ""
        self.console.print(
            f"{mark} {record.description} [dim]({record.duration:.2f}s)[/]{detail}", highlight=False
        )


def _greenroom(path: Path, host: str | None, quiet: bool = False) -> Greenroom:
    cfg = _config(path)
    return Greenroom(cfg, host=host, reporter=None if quiet else StepReporter(err))


def print_timeline(outcome: Outcome) -> None:
    table = Table(
        title=f"{outcome.plan.action} {outcome.plan.app} {outcome.plan.deploy or ''}".strip(),
        title_justify="left",
    )
    for col in ("step", "at", "took", "result"):
        table.add_column(col)
    for r in outcome.records:
        table.add_row(
            r.step,
            f"{r.started:.2f}s",
            f"{r.duration:.2f}s",
            {"ok": "ok", "failed": "[red]failed[/]", "undone": "[yellow]undone[/]"}[r.status],
        )
    table.add_row("total", "", f"{outcome.total:.2f}s", "ok" if outcome.ok else "[red]failed[/]")
    out.print(table)


def print_plan(plan: Plan) -> None:
    out.print(f"[bold]{plan.action} {plan.app}[/] {plan.deploy or ''}", highlight=False)
    for note in plan.notes:
        out.print(f"  note: {note}", highlight=False)
    for i, step in enumerate(plan.steps, start=1):
        out.print(f"  {i:2}. {step.describe()}", highlight=False)
    if not plan.steps:
        out.print("  nothing to do")


def _finish(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        print_json(out, outcome.as_dict())
    else:
        print_timeline(outcome)


def _failed(exc: DeployFailed, as_json: bool) -> None:
    outcome = exc.outcome
    if as_json:
        print_json(out, outcome.as_dict())
    for name, text in outcome.logs.items():
        err.print(f"[bold]last logs of {name}:[/]", highlight=False)
        err.print(text.rstrip() or "(none)", highlight=False, markup=False)


def _deploy_parallel(g: Greenroom, image: str | None, parallel: int, as_json: bool) -> None:
    lock = threading.Lock()

    def done(app: str, result: Outcome | GreenroomError) -> None:
        with lock:
            if isinstance(result, Outcome):
                if as_json:
                    print_json(out, result.as_dict())
                else:
                    out.print(
                        f"[green]✓[/] {app} {result.plan.deploy} in {result.total:.2f}s", highlight=False
                    )
            else:
                if as_json and isinstance(result, DeployFailed):
                    print_json(out, result.outcome.as_dict())
                err.print(f"[bold red]✗[/] {app}: {result}", highlight=False)

    failed = g.deploy_many(list(g.cfg.apps), image, parallel, done)
    if failed:
        raise DeployError(
            f"{failed} of {len(g.cfg.apps)} apps failed to deploy; the others are live",
            hint="each failed app's old version is still serving; see the errors above",
        )


def _apps(g: Greenroom, app: str | None) -> list[str]:
    if app:
        g.cfg.app(app)
        return [app]
    return list(g.cfg.apps)


def register(app: typer.Typer) -> None:
    @app.command()
    def deploy(
        name: AppArg = None,
        image: Annotated[str | None, typer.Option(help="image to deploy")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan, change nothing")] = False,
        parallel: Annotated[
            int, typer.Option("--parallel", min=1, max=32, help="apps deployed at once (all-apps deploys)")
        ] = 1,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Blue-green deploy: start, health-gate, attach, switch, confirm, drain, stop."""
        g = _greenroom(file, host, quiet=as_json or parallel > 1)
        if parallel > 1 and not dry_run and not name:
            _deploy_parallel(g, image, parallel, as_json)
            return
        for one in _apps(g, name):
            if dry_run:
                print_plan(g.plan(one, image))
                continue
            try:
                _finish(g.deploy(one, image), as_json)
            except DeployFailed as exc:
                _failed(exc, as_json)
                raise

    @app.command()
    def plan(
        name: AppArg = None,
        image: Annotated[str | None, typer.Option(help="image to deploy")] = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
    ) -> None:
        """The exact steps `deploy` would run now (same as deploy --dry-run)."""
        g = _greenroom(file, host, quiet=True)
        for one in _apps(g, name):
            print_plan(g.plan(one, image))

    @app.command()
    def rollback(
        name: Annotated[str, typer.Argument(help="app name")],
        to: Annotated[str | None, typer.Option("--to", help="deploy id or version")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Go back to a retained release (still health-gated)."""
        g = _greenroom(file, host, quiet=as_json)
        try:
            result = g.rollback(name, to, dry_run=dry_run)
        except DeployFailed as exc:
            _failed(exc, as_json)
            raise
        if isinstance(result, Plan):
            print_plan(result)
        else:
            _finish(result, as_json)

    @app.command()
    def status(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
        """Apps, the live color and version, since when, health of the gateway, problems."""
        g = _greenroom(file, host, quiet=True)
        state, rows = g.status()
        if as_json:
            print_json(
                out,
                {
                    "engine": g.engine.host,
                    "proxy": state.proxy.name if state.proxy else None,
                    "proxy_running": bool(state.proxy and state.proxy.running),
                    "apps": rows,
                },
            )
            return
        table = Table(
            title=f"greenroom on {g.engine.host} (Docker {g.engine.info.version})", title_justify="left"
        )
        for col in ("app", "live", "version", "since", "replicas", "gateway", "maintenance", "retained"):
            table.add_column(col)
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
            )
        out.print(table)
        proxy = state.proxy
        out.print(
            f"proxy {g.proxy.plan.name}: "
            + ("running" if proxy and proxy.running else "[red]not running[/]")
            + (f", generation {state.proxy_generation}" if state.proxy_generation else "")
        )
        for r in rows:
            for p in r.problems:
                err.print(f"[yellow]{r.app}: {p}[/]", highlight=False)

    @app.command()
    def logs(
        name: Annotated[str, typer.Argument(help="app name")],
        follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
        tail: Annotated[int, typer.Option("--tail")] = 100,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
    ) -> None:
        """Logs of the live version's containers (secrets masked)."""
        g = _greenroom(file, host, quiet=True)
        if follow:
            for chunk in g.follow(name, tail=tail):
                sys.stdout.write(chunk)
                sys.stdout.flush()
            return
        for cname, text in g.logs(name, tail=tail).items():
            for line in text.splitlines():
                sys.stdout.write(f"{cname} | {line}\n")

    @app.command()
    def history(
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Past deploys, rollbacks and maintenance switches of an app on this host."""
        g = _greenroom(file, host, quiet=True)
        entries = g.history(name)
        if as_json:
            print_json(out, entries)
            return
        table = Table(title=f"history of {name}", title_justify="left")
        for col in ("started", "action", "deploy", "result", "took", "by"):
            table.add_column(col)
        for e in entries:
            table.add_row(
                e.get("started", ""),
                e.get("action", ""),
                e.get("deploy") or "",
                "ok" if e.get("ok") else f"[red]failed[/] {e.get('error', '')[:60]}",
                f"{e.get('duration', 0):.2f}s",
                e.get("by", ""),
            )
        out.print(table)

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
        g = _greenroom(file, host, quiet=as_json)
        _finish(g.maintenance(name, state == "on"), as_json)

    @app.command()
    def repair(
        name: AppArg = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Finish or undo what an interrupted command left behind (deploy does this too)."""
        g = _greenroom(file, host, quiet=as_json)
        for one in _apps(g, name):
            _finish(g.repair(one), as_json)

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
        g = _greenroom(file, host, quiet=True)
        held = g.unlock(name, force=force)
        out.print(f"released the lock held by {held.describe()}" if held else f"{name} was not locked")


proxy_app = typer.Typer(help="The nginx proxy container: status, reboot.", no_args_is_help=True)


@proxy_app.command("status")
def proxy_status(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
    """The proxy container, its config generation, its gateway and what it routes."""
    g = _greenroom(file, host, quiet=True)
    st = g.proxy_status()
    if as_json:
        print_json(out, st)
        return
    state = "[green]running[/]" if st["running"] else "[red]not running[/]"
    out.print(
        f"proxy {st['name']} ({st['image']}): {state}, generation {st['generation']} "
        f"(current: {st['expected_generation']}), gateway on {st['gateway']}",
        highlight=False,
    )
    out.print(f"  published: {', '.join(st['published']) or 'nothing'}", highlight=False)
    for name, r in sorted(st["routed"].items()):
        mode = " [yellow](maintenance)[/]" if r["maintenance"] else ""
        out.print(
            f"  {name}{mode}: {', '.join(r['hosts'])} -> {' '.join(r['targets'])} ({r['deploy']})",
            highlight=False,
        )
    for p in st["problems"]:
        err.print(f"[yellow]{p}[/]", highlight=False)


@proxy_app.command("reboot")
def proxy_reboot(file: FileOpt = DEFAULT_FILE, host: HostOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the proxy container from state (routing survives in its volume)."""
    g = _greenroom(file, host, quiet=as_json)
    _finish(g.proxy_reboot(), as_json)
