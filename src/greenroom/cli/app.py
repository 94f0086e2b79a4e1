"""The thin command line over the greenroom library: parse, call, render, exit."""

from __future__ import annotations

import contextlib
import os
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from greenroom import __version__
from greenroom.cli import deploy_cmds
from greenroom.cli.config_cmd import config_app
from greenroom.cli.render import print_connect, print_json, print_reports
from greenroom.connect import connect as do_connect
from greenroom.doctor import Report, diagnose
from greenroom.engine.client import Engine, default_host
from greenroom.engine.observe import observe
from greenroom.errors import GreenroomError, NotFound

app = typer.Typer(
    name="greenroom",
    help="Zero-downtime blue-green deploys that never move a container's default gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class RoutesVia(StrEnum):
    auto = "auto"
    proc = "proc"
    engine = "engine"


HostOpt = Annotated[
    str | None,
    typer.Option("--host", "-H", envvar="DOCKER_HOST", help="Engine address: unix://, ssh:// or tcp://"),
]
ViaOpt = Annotated[
    RoutesVia,
    typer.Option("--routes-via", help="read routes from /proc/<pid> (local engines) or a helper container"),
]
HelperOpt = Annotated[
    str | None,
    typer.Option(
        "--helper-image",
        envvar="GREENROOM_HELPER_IMAGE",
        help="image with sh and cat for reading routes through the engine",
    ),
]


def _engine(host: str | None) -> Engine:
    return Engine(host or default_host())


@app.command()
def routes(
    containers: Annotated[
        list[str] | None, typer.Argument(help="containers (default: all on 2+ networks)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    if_connect: Annotated[
        str | None,
        typer.Option("--if-connect", metavar="NETWORK", help="show what connecting NETWORK would do"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 3 when any problem is found")] = False,
    host: HostOpt = None,
    routes_via: ViaOpt = RoutesVia.auto,
    helper_image: HelperOpt = None,
) -> None:
    """The doctor: which network holds each container's default route, and what threatens it."""
    engine = _engine(host)
    rules = engine.info.rules
    target = engine.network(if_connect) if if_connect else None
    if containers:
        refs = list(containers)
    else:
        refs = [c.id for c in engine.containers() if len(c.attachments) >= 2]
    reports: list[Report] = []
    for ref in refs:
        try:
            obs = observe(engine, ref, routes_via=routes_via.value, helper_image=helper_image)
        except NotFound:
            if containers:
                raise
            continue  # gone between list and inspect
        reports.append(diagnose(obs, rules, if_connect=target))
    if as_json:
        print_json(
            out,
            {
                "engine": {
                    "host": engine.host,
                    "version": engine.info.version,
                    "api_version": engine.info.api_version,
                },
                "containers": reports,
            },
        )
    else:
        print_reports(out, reports)
    if strict and any(f.severity in ("error", "warning") for r in reports for f in r.findings):
        raise typer.Exit(3)


@app.command()
def connect(
    container: Annotated[str, typer.Argument(help="container name or id")],
    network: Annotated[str, typer.Argument(help="network name or id")],
    alias: Annotated[list[str] | None, typer.Option("--alias", help="network-scoped alias")] = None,
    allow_gateway_move: Annotated[
        bool, typer.Option("--allow-gateway-move", help="connect even when the default route would move")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    host: HostOpt = None,
    routes_via: ViaOpt = RoutesVia.auto,
    helper_image: HelperOpt = None,
) -> None:
    """A safe `docker network connect`: attach without moving the default gateway (verified).

    Exit codes: 0 attached and verified; 3 refused (it would move the gateway);
    4 the gateway moved anyway (the network was detached again); 1 other errors.
    """
    engine = _engine(host)
    result = do_connect(
        engine,
        container,
        network,
        alias or (),
        allow_move=allow_gateway_move,
        routes_via=routes_via.value,
        helper_image=helper_image,
    )
    if as_json:
        print_json(out, result)
    else:
        print_connect(out, result)


deploy_cmds.register(app)
app.add_typer(deploy_cmds.proxy_app, name="proxy")
app.add_typer(config_app, name="config")


@app.command()
def version() -> None:
    """Print greenroom's version."""
    out.print(__version__)


def run() -> int:
    """The CLI: parse, call the library, render. Returns the exit code."""
    try:
        code = app(standalone_mode=False)
        return code if isinstance(code, int) else 0
    except GreenroomError as exc:
        # Text, not markup: paths, names and values in the message are the user's ("[/]", ":x:").
        where = f"{exc.where}: " if exc.where else ""
        err.print(Text.assemble(("error:", "bold red"), " ", where, exc.message), highlight=False)
        if exc.hint:
            err.print(Text.assemble(("hint:", "dim"), " ", exc.hint), highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors (exit 2) and the like
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc}")
        return int(getattr(exc, "exit_code", 2))


def main() -> None:
    code = run()
    # Everything is done and written: skip the interpreter's teardown of every imported
    # module (about 0.2 s on a 2-core machine, paid by every command).
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
