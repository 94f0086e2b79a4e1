"""The commands that run over the hosts: each acts on every host (or the one `--host NAME`
names) and says, per host, what happened. A config without `hosts:` is a fleet of one host
(fleet/hosts.as_fleet): the same runner, report and --json, shown as one host's timeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from rich.table import Table
from rich.text import Text

from greenroom.cli.output import MaskedConsole, output
from greenroom.cli.render import to_jsonable
from greenroom.cli.timeline import StepReporter, finish
from greenroom.config import Config
from greenroom.deploy.host import DockerHost
from greenroom.deploy.outcome import Reporter, StepRecord
from greenroom.deploy.reports import HistoryEntry
from greenroom.deploy.steps import Step
from greenroom.errors import DeployError, GreenroomError
from greenroom.fleet.hosts import docker_host_for, host_names, is_sole, reach
from greenroom.fleet.report import FleetReport
from greenroom.fleet.run import Fleet
from greenroom.fleet.views import HostView, each_host, fleet_status

_LOCK = threading.Lock()
_STYLE = {
    "deployed": "green",
    "done": "green",
    "failed": "bold red",
    "returned": "yellow",
    "withdrawn": "yellow",
    "untouched": "dim",
    "unreachable": "bold red",
}


class HostLines:
    """Progress of one host among several: a line per finished step, prefixed with the host."""

    def __init__(self, console: MaskedConsole, host: str) -> None:
        self.console = console
        self.host = host

    def started(self, index: int, total: int, step: Step) -> None:
        pass

    def progress(self, text: str) -> None:
        pass

    def output_line(self, text: str) -> None:
        with _LOCK:
            self.console.print(Text.assemble((f"{self.host}: ", "bold"), ("  │ ", "dim"), text))

    def finished(self, record: StepRecord) -> None:
        mark = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "undone": ("↺", "yellow")}[record.status]
        line = Text.assemble((f"{self.host}: ", "bold"), mark, f" {record.description} ")
        line.append(f"({record.duration:.2f}s)", style="dim")
        if record.detail:
            line.append(f" {record.detail}", style="dim")
        with _LOCK:
            self.console.print(line)


def runner(cfg: Config, quiet: bool) -> Fleet:
    """The runner, with each host's progress on stderr: a fleet of one as the step timeline
    (live on a terminal), several hosts as lines prefixed with the host."""
    sole = is_sole(cfg)

    def reporter(host: str) -> Reporter | None:
        if quiet or output.quiet:
            return None
        return StepReporter(output.err) if sole else HostLines(output.err, host)

    return Fleet(cfg, reporter=reporter)


def print_report(report: FleetReport) -> None:
    if len(report.hosts) == 1 and report.sole:
        _print_sole(report)
        return
    title = (
        f"{report.action} {report.app}".strip() + f" over {len(report.hosts)} host(s), {report.plan.strategy}"
    )
    table = Table(title=title, title_justify="left")
    for col in ("host", "result", "deploy", "took", "why"):
        table.add_column(col)
    for r in report.hosts.values():
        deploy = r.outcome.plan.deploy if r.outcome is not None else ""
        took = f"{r.outcome.total:.2f}s" if r.outcome is not None else ""
        why = f"{r.step}: {r.error}" if r.step and r.error else r.error
        table.add_row(r.host, Text(r.status, style=_STYLE[r.status]), deploy or "", took, why.split("\n")[0])
    output.out.print(table)
    for r in report.hosts.values():  # what the table's one line leaves out: the hint, the notes
        for line in r.error.split("\n")[1:]:
            output.err.print(Text(f"{r.host}: {line.strip()}", style="yellow"))
        for note in r.notes:
            output.out.print(Text(f"{r.host}: {note}", style="dim"))
    _print_logs(report, prefix=True)
    batches = " → ".join("[" + ", ".join(b) + "]" for b in report.plan.batches)
    output.out.print(Text(f"phases: {batches}; {report.wall:.2f}s in all"))
    if report.overlap is not None:
        output.out.print(
            f"old and new versions overlapped for {report.overlap * 1000:.0f} ms across the hosts"
        )
    for line in report.handoff:
        output.out.print(Text(f"load balancer: {line}", style="dim"))
    for note in report.plan.notes:
        output.out.print(Text(f"note: {note}", style="dim"))
    if report.recovery is not None:
        for note in report.recovery.notes:
            output.err.print(Text(note, style="yellow"))


def _print_sole(report: FleetReport) -> None:
    """A fleet of one as one host's command always showed: its timeline (or, failed, the
    last logs of the containers involved; the error itself is raised)."""
    (r,) = report.hosts.values()
    if r.outcome is not None and r.outcome.ok:
        finish(r.outcome, as_json=False)
    for note in r.notes:
        output.err.print(Text(note, style="dim"))
    _print_logs(report, prefix=False)


def _print_logs(report: FleetReport, *, prefix: bool) -> None:
    for r in report.hosts.values():
        if r.outcome is None or r.outcome.ok:
            continue
        for name, text in r.outcome.logs.items():
            where = f"{r.host}: " if prefix else ""
            output.err.print(Text(f"{where}last logs of {name}:", style="bold"))
            output.err.print(Text(text.rstrip() or "(none)"))


def end(reports: list[FleetReport], as_json: bool) -> None:
    if as_json:
        output.json(to_jsonable({"rollouts": [r.as_dict() for r in reports]}))
    failed = next((r for r in reports if not r.ok), None)
    if failed is None:
        return
    if as_json:  # stdout is the document; the logs go where the table's would
        _print_logs(failed, prefix=not failed.sole)
    first = failed.hosts[failed.failed] if failed.failed else None
    if failed.sole and first is not None and first.exception is not None:
        raise first.exception  # a fleet of one fails as its host did: same message, same exit code
    hint = "; ".join(failed.recovery.notes) if failed.recovery else "see the table above"
    err = DeployError(
        f"{failed.action} {failed.app} stopped: {failed.reason()}".replace("  ", " "), hint=hint
    )
    if first is not None and first.exception is not None:
        err.exit_code = first.exception.exit_code  # e.g. 5: another greenroom holds a lock
    raise err


def deploy(
    cfg: Config,
    apps: list[str],
    image: str | None,
    host: str | None,
    as_json: bool,
    rollback_on_failure: bool,
    release: str = "run",
    parallel: int = 1,
) -> None:
    """APPS deployed on every host (or HOST), one app after another or PARALLEL at once."""
    one_line = parallel > 1 and len(apps) > 1
    fleet = runner(cfg, as_json or one_line)
    fleet.release = release

    def done(report: FleetReport) -> None:
        if as_json:
            return
        if not one_line:
            print_report(report)
            return
        with _LOCK:
            if report.ok:
                took = max((r.outcome.total for r in report.hosts.values() if r.outcome), default=0.0)
                deploys = {r.outcome.plan.deploy or "" for r in report.hosts.values() if r.outcome}
                what = " ".join(x for x in sorted(deploys) if x)
                output.out.print(Text.assemble(("✓", "green"), f" {report.app} {what} in {took:.2f}s"))
            else:
                output.err.print(Text.assemble(("✗", "bold red"), f" {report.app}: {report.reason()}"))
                _print_logs(report, prefix=not report.sole)

    reports = fleet.deploy_apps(
        apps, image, parallel=parallel, only=host, rollback_on_failure=rollback_on_failure, done=done
    )
    if one_line:
        failed = [r for r in reports if not r.ok]
        if as_json:
            output.json(to_jsonable({"rollouts": [r.as_dict() for r in reports]}))
        if failed:
            raise DeployError(
                f"{len(failed)} of {len(apps)} apps failed to deploy; the others are live",
                hint="each failed app's old version is still serving; see the errors above",
            )
        return
    end(reports, as_json)


def rollback(cfg: Config, app: str, to: str | None, host: str | None, as_json: bool) -> None:
    report = runner(cfg, as_json).rollback(app, to, only=host)
    if not as_json:
        print_report(report)
    end([report], as_json)


def proxy_reboot(cfg: Config, host: str | None, as_json: bool, recreate: bool = False) -> None:
    report = runner(cfg, as_json).proxy_reboot(only=host, recreate=recreate)
    if not as_json:
        print_report(report)
    end([report], as_json)


def each(cfg: Config, host: str | None) -> Iterator[tuple[str, DockerHost]]:
    """A greenroom per host (or the one named), for the commands that act host by host."""
    names = host_names(cfg, host)
    chosen = [h for h in cfg.hosts if h.name in names]
    services, unreachable = reach(cfg, chosen, docker_host_for(cfg))
    if unreachable and is_sole(cfg):
        raise unreachable[0].error  # as one engine always failed: its own words, its exit code
    try:
        for u in unreachable:
            output.err.print(Text(f"{u.host}: {u.error}", style="red"))
        for h in chosen:
            if h.name in services:
                yield h.name, services[h.name]
    finally:
        for g in services.values():
            g.engine.close()
    if unreachable:
        raise GreenroomError(
            f"{len(unreachable)} host(s) unreachable: {', '.join(u.host for u in unreachable)}"
        )


def history(
    cfg: Config, app: str, host: str | None
) -> tuple[dict[str | None, list[HistoryEntry]], list[str]]:
    """APP's history on every host (or --host NAME), asked at once, and the hosts that did
    not answer (each named on stderr); a fleet of one's under None."""
    cfg.app(app)
    names = host_names(cfg, host)
    found = each_host(cfg, [h for h in cfg.hosts if h.name in names], lambda g: g.history(app))
    out: dict[str | None, list[HistoryEntry]] = {}
    failed = []
    for name, got in found.items():
        if isinstance(got, GreenroomError) and is_sole(cfg):
            raise got  # one engine: its own words, its exit code
        if isinstance(got, GreenroomError):
            output.err.print(Text(f"{name}: {got}", style="red"))
            failed.append(name)
        else:
            out[None if is_sole(cfg) else name] = got
    return out, failed


def print_sole_status(v: HostView) -> None:
    """A fleet of one's status as one engine's: every app's row, the proxy, the problems."""
    table = Table(title=f"greenroom on {v.engine} (Docker {v.docker})", title_justify="left")
    staged = any(r.staged for r in v.apps)
    for col in ("app", "live", "version", "since", "replicas", "gateway", "maintenance", "retained"):
        table.add_column(col)
    if staged:
        table.add_column("staged")
    for r in v.apps:
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
    output.out.print(
        f"proxy {v.proxy}: "
        + ("running" if v.proxy_running else "[red]not running[/]")
        + (f", generation {v.generation}" if v.generation else "")
    )
    for r in v.apps:
        for p in r.problems:
            output.err.print(Text(f"{r.app}: {p}", style="yellow"))


def status(cfg: Config, host: str | None, as_json: bool) -> None:
    """Every host's apps at once (a fleet of one: as one engine's), version drift, what is
    staged where, the load balancer's view; --json: one document for one host or many."""
    view = fleet_status(cfg, host)
    drift = view.drift()
    if as_json:
        output.json(
            to_jsonable(
                {
                    "hosts": [
                        {
                            "host": v.host,
                            "engine": v.engine,
                            "error": v.error,
                            "proxy_running": v.proxy_running,
                            "load_balancer": v.balancer,
                            "docker": v.docker,
                            "proxy": v.proxy,
                            "generation": v.generation,
                            "apps": v.apps,
                        }
                        for v in view.hosts
                    ],
                    "drift": drift,
                    "staged": view.staged(),
                    "load_balancer_error": view.balancer_error,
                }
            )
        )
    elif is_sole(cfg):
        (one,) = view.hosts
        print_sole_status(one)
    else:
        table = Table(title=f"greenroom on {len(view.hosts)} host(s)", title_justify="left")
        staged = view.staged()
        for col in ("host", "app", "live", "version", "gateway", "proxy", "load balancer"):
            table.add_column(col)
        if staged:
            table.add_column("staged")
        for v in view.hosts:
            if v.error:
                table.add_row(v.host, "", Text(v.error.split("\n")[0], style="red"), "", "", "", v.balancer)
                continue
            for a in v.apps:
                table.add_row(
                    v.host,
                    a.app,
                    f"{a.color} {a.deploy}" if a.deploy else "[dim]not deployed[/]",
                    a.version or "",
                    {True: "[green]ok[/]", False: "[red]MOVED[/]", None: ""}[a.gateway_ok],
                    "running" if v.proxy_running else "[red]not running[/]",
                    v.balancer,
                    *([a.staged or ""] if staged else []),
                )
        output.out.print(table)
        for app, seen in drift.items():
            versions = ", ".join(f"{h}={ver}" for h, ver in seen.items())
            output.err.print(Text(f"version drift: {app}: {versions}", style="yellow"))
        for app, where in staged.items():
            if not all(where.values()):
                hosts = ", ".join(h for h, what in where.items() if what)
                output.err.print(
                    Text(
                        f"{app} is staged on {hosts} only: `greenroom abort {app}`, or promote it there "
                        "with --host",
                        style="yellow",
                    )
                )
        if view.balancer_error:
            output.err.print(Text(f"load balancer: {view.balancer_error}", style="yellow"))
    unreachable = [v.host for v in view.hosts if v.error]
    if unreachable:
        raise GreenroomError(
            f"{len(unreachable)} host(s) did not answer: {', '.join(unreachable)}",
            hint="the others' status is above; check those hosts' engines",
        )
