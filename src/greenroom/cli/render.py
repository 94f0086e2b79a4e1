"""Rendering for people (Rich) and for scripts (JSON-able data). No logic lives here; what is
rendered is printed through greenroom.cli.output, which masks secrets."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from greenroom.deploy.steps import AttachFront, AttachNetworks, Plan, ProxyJoin, Step
from greenroom.gateway.connect import ConnectResult
from greenroom.gateway.doctor import Report
from greenroom.gateway.rules import Gateway

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Report):
            out["agrees"] = value.agrees
        return out
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _gw(g: Gateway | None) -> str:
    return "unknown" if g is None else g.describe()


def routes_table(reports: list[Report]) -> Table:
    table = Table(title="default gateways", title_justify="left", expand=False)
    for col in ("container", "network", "internal", "gw-prio", "gateway", "addresses", "default"):
        table.add_column(col)
    for rep in reports:
        for i, row in enumerate(rep.networks):
            mark = (
                "v4+v6"
                if row.default4 and row.default6
                else "v4"
                if row.default4
                else ("v6" if row.default6 else "")
            )
            table.add_row(
                f"{rep.container} ({rep.container_id})" if i == 0 else "",
                row.name,
                "yes" if row.internal else "no",
                str(row.priority),
                " ".join(g for g in (row.gateway4, row.gateway6) if g) or "-",
                " ".join(row.addresses) or "-",
                Text(f"◀ {mark}", style="bold green") if mark else Text(""),
            )
        table.add_section()
    return table


def print_reports(console: Console, reports: list[Report]) -> None:
    if not reports:
        console.print("no container is on two or more networks (name containers to see them anyway)")
        return
    console.print(routes_table(reports))
    for rep in reports:
        verdict = {
            True: Text("agrees with Docker's rules", style="green"),
            False: Text("DIFFERS from Docker's rules", style="bold red"),
            None: Text("not running: no routes", style="dim"),
        }[rep.agrees]
        line = Text(f"{rep.container}: ")
        line.append(f"default route {rep.route4 or '-'} → {_gw(rep.actual)}; ")
        line.append(f"model (engine {rep.engine}) says {rep.predicted.describe()}: ")
        line.append_text(verdict)
        console.print(line)
        for f in rep.findings:
            console.print(Text(f"  {f.severity}: [{f.code}] {f.message}", style=SEVERITY_STYLE[f.severity]))
            console.print(Text(f"    fix: {f.fix}", style="dim"))
        if rep.preview is not None:
            p = rep.preview
            if p.moved:
                msg = (
                    f"  if connected to {p.network}: the default route MOVES from "
                    f"{p.before.describe()} to {p.after.describe()}"
                    + (" (and the published ports with it)" if p.ports_move else "")
                    + f"; `greenroom connect {rep.container} {p.network}` "
                    "would prevent or refuse it"
                )
                console.print(Text(msg, style="bold yellow"))
            else:
                console.print(
                    Text(
                        f"  if connected to {p.network}: the default route stays on {p.before.describe()}",
                        style="green",
                    )
                )


def print_connect(console: Console, result: ConnectResult) -> None:
    p = result.plan
    prio = f" with GwPriority {p.priority}" if p.priority is not None else ""
    check = "verified in the container's routes" if result.verified else "not running: will apply at start"
    console.print(
        f"connected {p.container} to {p.network}{prio}; default route on "
        f"{result.gateway.describe()} ({check})"
    )


def print_plan(console: Console, plan: Plan, *, notes: bool = True) -> None:
    """A plan, step by step; an attach step says the GwPriority it sends, or why none."""
    console.print(Text.assemble((f"{plan.action} {plan.app}", "bold"), f" {plan.deploy or ''}"))
    for note in plan.notes if notes else ():
        console.print(Text(f"  note: {note}"))
    for i, step in enumerate(plan.steps, start=1):
        console.print(Text(f"  {i:2}. {step.describe()}"))
    if not plan.steps:
        console.print("  nothing to do")


def plan_data(plan: Plan) -> dict[str, Any]:
    """A plan for scripts: each step's kind and description; an attach step's gateway
    decision per container and network (`priority`: the GwPriority sent, null for none)."""
    return {
        "app": plan.app,
        "action": plan.action,
        "deploy": plan.deploy,
        "notes": list(plan.notes),
        "steps": [_step_data(step) for step in plan.steps],
    }


def _step_data(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"step": type(step).__name__, "description": step.describe()}
    match step:
        case ProxyJoin():
            out["gateway"] = [to_jsonable(step.gateway)]
        case AttachFront() | AttachNetworks():
            out["gateway"] = to_jsonable(step.gateway)
    return out
