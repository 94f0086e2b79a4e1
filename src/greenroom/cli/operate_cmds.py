"""The commands that operate an app or the proxy: maintenance, repair, unlock, proxy status
and reboot."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from greenroom.cli.options import (
    DEFAULT_FILE,
    AppArg,
    EngineOpt,
    FileOpt,
    HostOpt,
    JsonOpt,
    fleet_of,
    host_apps,
    read_config,
    targets,
)
from greenroom.cli.output import output
from greenroom.cli.render import to_jsonable
from greenroom.cli.timeline import finish
from greenroom.deploy.host import DockerHost


def register(app: typer.Typer) -> None:
    @app.command()
    def maintenance(
        state: Annotated[str, typer.Argument(help="on or off")],
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Serve a 503 page for an app (connections in flight drain), or stop doing so."""
        if state not in ("on", "off"):
            raise typer.BadParameter("must be on or off", param_hint="STATE")
        for _, g in targets(file, host, engine, quiet=as_json):
            finish(g.maintenance(name, state == "on"), as_json)

    @app.command()
    def repair(
        name: AppArg = None,
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Finish or undo what an interrupted command left behind (deploy does this too)."""
        for _, g in targets(file, host, engine, quiet=as_json):
            for one in host_apps(g, name):
                done = g.repair(one)
                finish(done, as_json)
                for note in done.plan.notes if not as_json else ():
                    output.err.print(Text(note, style="yellow"))

    @app.command()
    def unlock(
        name: Annotated[str, typer.Argument(help="app name")],
        file: FileOpt = DEFAULT_FILE,
        host: HostOpt = None,
        engine: EngineOpt = None,
        force: Annotated[
            bool, typer.Option("--force", help="release it even if its holder may be alive")
        ] = False,
    ) -> None:
        """Release an app's lock left by a greenroom process that is gone."""
        for on, g in targets(file, host, engine, quiet=True, lenient=True):
            held = g.unlock(name, force=force)
            at = f" on {on}" if on else ""
            output.out.print(
                Text(
                    f"released the lock held by {held.describe()}{at}"
                    if held
                    else f"{name} was not locked{at}"
                )
            )


proxy_app = typer.Typer(help="The nginx proxy container: status, reboot.", no_args_is_help=True)


@proxy_app.command("status")
def proxy_status(
    file: FileOpt = DEFAULT_FILE, host: HostOpt = None, engine: EngineOpt = None, as_json: JsonOpt = False
) -> None:
    """The proxy container, its config generation, its gateway and what it routes (each host's)."""
    for _, g in targets(file, host, engine, quiet=as_json, lenient=True):
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
def proxy_reboot(
    file: FileOpt = DEFAULT_FILE,
    host: HostOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
    recreate: Annotated[
        bool,
        typer.Option(
            "--recreate",
            help="recreate a proxy that does not publish every port of proxy.ports (its ports refuse "
            "new connections for a moment; behind a load balancer with hosts: this is automatic)",
        ),
    ] = False,
) -> None:
    """Rebuild the proxy container from state (routing survives in its volume); with
    `hosts:`, one host at a time, each out of the load balancer meanwhile."""
    from greenroom.cli import fleet_cmds

    fleet, only = fleet_of(read_config(file), host, engine)
    fleet_cmds.proxy_reboot(fleet, only, as_json, recreate)
