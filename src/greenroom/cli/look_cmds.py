"""The commands that only look: status, logs, history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from greenroom.cli.options import (
    DEFAULT_FILE,
    EngineOpt,
    FileOpt,
    HostOpt,
    JsonOpt,
    fleet_of,
    read_config,
    short,
    targets,
)
from greenroom.cli.output import output
from greenroom.cli.render import to_jsonable
from greenroom.errors import GreenroomError


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        file: FileOpt = DEFAULT_FILE, host: HostOpt = None, engine: EngineOpt = None, as_json: JsonOpt = False
    ) -> None:
        """Apps, the live color and version, since when, health of the gateway, problems;
        with `hosts:`, every host at once, version drift and the load balancer's view."""
        from greenroom.cli import fleet_cmds

        fleet, only = fleet_of(read_config(file, lenient=True), host, engine)
        fleet_cmds.status(fleet, only, as_json)

    @app.command()
    def logs(
        name: Annotated[str, typer.Argument(help="app name")],
        follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
        tail: Annotated[int, typer.Option("--tail")] = 100,
        file: Annotated[  # no -f here: it means --follow, as in docker logs
            Path, typer.Option("--file", envvar="GREENROOM_CONFIG", help="the greenroom.yml to use")
        ] = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
    ) -> None:
        """Logs of the live version's containers (secrets masked); with `hosts:`, of each host."""
        for on, g in targets(file, host, engine, quiet=True, lenient=True):
            if follow:
                output.stream(g.follow(name, tail=tail))
                return
            prefix = f"{on}/" if on else ""
            for cname, text in g.logs(name, tail=tail).items():
                lines = output.mask(text).splitlines()  # before the prefix splits a multi-line secret
                output.echo("".join(f"{prefix}{cname} | {line}\n" for line in lines), end="")

    @app.command()
    def history(
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Past deploys, rollbacks and maintenance switches of an app (with `hosts:`, per host)."""
        from greenroom.cli import fleet_cmds

        fleet, only = fleet_of(read_config(file, lenient=True), host, engine)
        found, silent = fleet_cmds.history(fleet, name, only)  # every host at once
        if as_json:
            output.json(to_jsonable(found[None] if list(found) == [None] else found))
        for on, entries in found.items() if not as_json else ():
            title = f"history of {name}" + (f" on {on}" if on else "")
            table = Table(title=title, title_justify="left")
            for col in ("started", "action", "deploy", "result", "took", "by"):
                table.add_column(col)
            for e in entries:
                table.add_row(
                    e.started,
                    e.action,
                    e.deploy or "",
                    "ok" if e.ok else Text.assemble(("failed", "red"), f" {short(e.error)}"),
                    f"{e.duration:.2f}s",
                    e.by,
                )
            output.out.print(table)
        if silent:
            raise GreenroomError(f"{len(silent)} host(s) did not answer: {', '.join(silent)}")
