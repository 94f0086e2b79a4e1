"""How a run shows: each step as it finishes (stderr), the timeline table, the plans."""

from __future__ import annotations

from collections.abc import Iterable

from rich.live import Live
from rich.table import Table
from rich.text import Text

from greenroom.cli.output import MaskedConsole, output
from greenroom.cli.render import plan_data, print_plan, to_jsonable
from greenroom.deploy.execute import DeployFailed, Outcome, StepRecord
from greenroom.deploy.steps import Plan, Step


class StepReporter:
    """Progress on stderr: one line per finished step, a live line for the running one."""

    def __init__(self, console: MaskedConsole) -> None:
        self.console = console
        self.live: Live | None = None
        self.current = ""

    def started(self, index: int, total: int, step: Step) -> None:
        self.current = f"[{index}/{total}] {step.describe()}"
        if self.console.is_terminal:
            self.live = Live(
                self.console.masked(Text(self.current + " …")),
                console=self.console,
                transient=True,
                refresh_per_second=8,
            )
            self.live.start()

    def progress(self, text: str) -> None:
        if self.live is not None:
            self.live.update(self.console.masked(Text(f"{self.current} … {text}")))

    def output_line(self, text: str) -> None:
        """A line of a command's output (the release command's), kept on screen."""
        if self.live is not None:
            self.live.console.print(Text(f"  │ {text}", style="dim"))
        else:
            self.console.print(Text(f"  │ {text}", style="dim"))

    def finished(self, record: StepRecord) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        mark = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "undone": ("↺", "yellow")}[record.status]
        line = Text.assemble(mark, f" {record.description} ", (f"({record.duration:.2f}s)", "dim"))
        if record.detail:
            line.append(f" {record.detail}", style="dim")
        self.console.print(line)


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
    output.out.print(table)


def print_plans(plans: Iterable[Plan], as_json: bool = False) -> None:
    """Each plan as it is made; with --json, one document: {"plans": [...]}."""
    if as_json:
        output.json({"plans": [plan_data(p) for p in plans]})
        return
    for plan in plans:
        print_plan(output.out, plan, notes=not output.quiet)


def finish(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        output.json(to_jsonable(outcome.as_dict()))
    elif output.quiet:
        what = " ".join(x for x in (outcome.plan.action, outcome.plan.app, outcome.plan.deploy) if x)
        output.out.print(Text(f"✓ {what} in {outcome.total:.2f}s"))
    else:
        print_timeline(outcome)


def show_failure(exc: DeployFailed, as_json: bool) -> None:
    outcome = exc.outcome
    if as_json:
        output.json(to_jsonable(outcome.as_dict()))
    for name, text in outcome.logs.items():
        output.err.print(Text(f"last logs of {name}:", style="bold"))
        output.err.print(Text(text.rstrip() or "(none)"))
