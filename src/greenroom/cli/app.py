"""The thin command line over the greenroom library: parse, call, render, exit."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from greenroom import __version__
from greenroom.cli import canary_cmds, deploy_cmds, init_cmd, look_cmds, operate_cmds, run_cmds
from greenroom.cli.certs_cmds import certs_app
from greenroom.cli.config_cmd import config_app
from greenroom.cli.options import fleet_of, warn_host_as_engine
from greenroom.cli.output import output
from greenroom.errors import GreenroomError, NotFound

if TYPE_CHECKING:
    from greenroom.engine.client import DockerEngine
    from greenroom.engine.protocol import Engine
    from greenroom.gateway.doctor import Report

app = typer.Typer(
    name="greenroom",
    help="Zero-downtime blue-green deploys that never move a container's default gateway.\n\n"
    "Secret values are shown as ****** in every output. NO_COLOR=1 turns colors off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        output.start()
        output.out.print(__version__, highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="print only errors and each command's final result line"),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Options of every command."""
    output.start(quiet=quiet)


class RoutesVia(StrEnum):
    auto = "auto"
    proc = "proc"
    engine = "engine"


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        envvar="DOCKER_HOST",
        help="the engine's address: unix://, ssh:// or tcp:// (default: the Docker context, local socket)",
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host", "-H", help="with -f: a host of its hosts:, by name (else: the old spelling of --engine)"
    ),
]


def _engine_address(host: str | None, engine: str | None) -> str | None:
    """--engine; --host with an address still works, with a warning (it now names a host)."""
    if host is None:
        return engine
    warn_host_as_engine()
    return host


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


# The doctor's and connect's modules load only for those commands: every other command
# starts faster without them (the CLI's start-up is part of every deploy's time).


def _engine(host: str | None) -> DockerEngine:
    from greenroom.engine.client import DockerEngine, default_host

    return DockerEngine(host or default_host())


def _doctor(
    engine: Engine,
    containers: list[str] | None,
    if_connect: str | None,
    routes_via: str,
    helper_image: str | None,
) -> list[Report]:
    from greenroom.engine.observe import observe
    from greenroom.gateway.doctor import diagnose, unreadable

    rules = engine.info.rules
    target = engine.network(if_connect) if if_connect else None
    refs = list(containers) if containers else [c.id for c in engine.containers() if len(c.attachments) >= 2]
    reports: list[Report] = []
    for ref in refs:
        try:
            obs = observe(engine, ref, routes_via=routes_via, helper_image=helper_image)
        except GreenroomError as exc:
            if containers:
                raise
            try:  # one container whose routes cannot be read (no helper image, say) hides no other
                bare = observe(engine, ref, read_routes=False)
            except NotFound:
                continue  # gone between list and inspect
            reports.append(unreadable(diagnose(bare, rules), exc))
            continue
        reports.append(diagnose(obs, rules, if_connect=target))
    return reports


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
    engine_address: EngineOpt = None,
    routes_via: ViaOpt = RoutesVia.auto,
    helper_image: HelperOpt = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="a greenroom.yml: the doctor on its every host (or --host NAME)"),
    ] = None,
) -> None:
    """The doctor: which network holds each container's default route, and what threatens it."""
    from greenroom.cli.render import print_reports, to_jsonable

    if file is not None:
        found = _doctor_fleet(
            file, host, engine_address, containers, if_connect, routes_via.value, helper_image
        )
        reports = [r for _, got in found for r in (got if isinstance(got, list) else [])]
        if as_json:
            output.json(
                to_jsonable(
                    {
                        "hosts": [
                            {"host": name, "error": "" if isinstance(got, list) else str(got),
                             "containers": got if isinstance(got, list) else []}
                            for name, got in found
                        ]
                    }
                )
            )  # fmt: skip
        else:
            for name, got in found:
                output.out.print(Text(f"── host {name} ──", style="bold"))
                if isinstance(got, list):
                    print_reports(output.out, got)
                else:
                    output.err.print(Text(str(got), style="red"))
        failed = [name for name, got in found if not isinstance(got, list)]
        if failed:
            raise GreenroomError(f"the doctor could not see {', '.join(failed)}", hint="see above")
    else:
        engine = _engine(_engine_address(host, engine_address))
        reports = _doctor(engine, containers, if_connect, routes_via.value, helper_image)
        if as_json:
            output.json(
                to_jsonable(
                    {
                        "engine": {
                            "host": engine.host,
                            "version": engine.info.version,
                            "api_version": engine.info.api_version,
                        },
                        "containers": reports,
                    }
                )
            )
        else:
            print_reports(output.out, reports)
    if strict and any(f.severity in ("error", "warning") for r in reports for f in r.findings):
        raise typer.Exit(3)


def _doctor_fleet(
    file: Path,
    host: str | None,
    engine: str | None,
    containers: list[str] | None,
    if_connect: str | None,
    routes_via: str,
    helper_image: str | None,
) -> list[tuple[str, list[Report] | GreenroomError]]:
    """The doctor on every host of a greenroom.yml (or the one --host names), at once; a file
    without hosts: on its engine."""
    from greenroom.config import load_config_lenient
    from greenroom.fleet.hosts import host_names
    from greenroom.fleet.views import each_host

    cfg, only = fleet_of(load_config_lenient(file)[0], host, engine)  # no hosts: its engine
    names = host_names(cfg, only)
    chosen = [h for h in cfg.hosts if h.name in names]
    found = each_host(  # the helper image of the file's engine: section unless --helper-image
        cfg,
        chosen,
        lambda g: _doctor(g.engine, containers, if_connect, routes_via, helper_image or g.helper_image),
    )
    return [(name, got) for name, got in found.items()]


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
    engine_address: EngineOpt = None,
    routes_via: ViaOpt = RoutesVia.auto,
    helper_image: HelperOpt = None,
) -> None:
    """A safe `docker network connect`: attach without moving the default gateway (verified).

    Exit codes: 0 attached and verified; 3 refused (it would move the gateway);
    4 the gateway moved anyway (the network was detached again); 1 other errors.
    """
    from greenroom.cli.render import print_connect, to_jsonable
    from greenroom.gateway.connect import safe_connect

    engine = _engine(_engine_address(host, engine_address))
    result = safe_connect(
        engine,
        container,
        network,
        alias or (),
        allow_move=allow_gateway_move,
        routes_via=routes_via.value,
        helper_image=helper_image,
    )
    if as_json:
        output.json(to_jsonable(result))
    else:
        print_connect(output.out, result)


deploy_cmds.register(app)
look_cmds.register(app)
operate_cmds.register(app)
canary_cmds.register(app)
app.add_typer(operate_cmds.proxy_app, name="proxy")
app.add_typer(config_app, name="config")
app.add_typer(certs_app, name="certs")
init_cmd.register(app)
run_cmds.register(app)


@app.command()
def version() -> None:
    """Print greenroom's version (also: greenroom --version)."""
    output.out.print(__version__, highlight=False)


def run(args: list[str] | None = None) -> int:
    """The CLI: parse, call the library, render. Returns the exit code."""
    try:
        code = app(args=args, prog_name="greenroom", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except GreenroomError as exc:
        output.error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:  # shell completion answers with sys.exit
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except typer.Abort:
        output.err.print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors (exit 2) and the like
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            output.err.print(f"error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", 2))
    except Exception:  # a bug: its traceback goes through the sink too, secrets masked
        output.err.print(Text(traceback.format_exc().rstrip()))
        return 1


def main() -> None:
    code = run()
    # Everything is done and written: skip the interpreter's teardown of every imported
    # module (about 0.2 s on a 2-core machine, paid by every command).
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
