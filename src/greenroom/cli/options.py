"""What the commands share: their options, reading the config (secrets known to the output
from then on), and the DockerHost(s) a command acts through.

Commands that change things (deploy, rollback, maintenance, repair, proxy reboot) and
`plan` (which shows exactly what a deploy would do, so it needs the deploy's values) load
the config strictly: a ${VAR} that is not set is an error (exit 2). Commands that only look
(status, logs, history, proxy status, and unlock, which needs only the app's name) load it
leniently: such a variable reads as empty, with a warning on stderr naming it and the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from greenroom.cli.output import output
from greenroom.cli.timeline import StepReporter
from greenroom.config import Config, load_config, load_config_lenient, secret_values
from greenroom.deploy.host import DockerHost
from greenroom.errors import ConfigError
from greenroom.fleet.hosts import fleet_at, is_sole

FileOpt = Annotated[
    Path, typer.Option("--file", "-f", envvar="GREENROOM_CONFIG", help="the greenroom.yml to use")
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host", "-H", help="with hosts: in greenroom.yml, the one host to act on, by name (else every host)"
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="without hosts:, the engine's address: unix://, ssh:// or tcp:// "
        "(default: engine.host, DOCKER_HOST, the Docker context)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
AppArg = Annotated[str | None, typer.Argument(help="app name (default: every app in the config)")]
DEFAULT_FILE = Path("greenroom.yml")


def read_config(path: Path, *, lenient: bool = False) -> Config:
    if lenient:
        cfg, warnings = load_config_lenient(path)
    else:
        cfg, warnings = load_config(path), []
    output.add_secrets(secret_values(cfg))  # from here on, every output masks them
    for warning in warnings:
        output.err.print(Text(f"warning: {path}: {warning} (this command does not need it)", style="yellow"))
    return cfg


def where(cfg: Config, host: str | None, engine: str | None) -> str | None:
    """What a command acts on, as the library takes it: with `hosts:`, the host named by
    --host (None: every host); without, the engine address --engine gives (None: the
    config's, the environment's). --host with an engine address still works without
    `hosts:`, with a warning: it is the old spelling of --engine."""
    if cfg.hosts:
        if engine is not None:
            raise ConfigError(
                "--engine gives an engine address, and this file lists hosts:",
                where="--engine",
                hint=f"name a host with --host (one of: {', '.join(h.name for h in cfg.hosts)})",
            )
        return host
    if host is not None:
        if engine is not None:
            raise ConfigError("give --engine, not --host too", where="--host", hint="--host names a host")
        warn_host_as_engine()
        return host
    return engine


def fleet_of(cfg: Config, host: str | None, engine: str | None) -> tuple[Config, str | None]:
    """The fleet a command acts on, and the one host of it that --host names (None: every
    host). A config without `hosts:` is a fleet of one host: the engine --engine gives, else
    engine.host, DOCKER_HOST or the Docker context."""
    return fleet_at(cfg, where(cfg, host, engine))


def warn_host_as_engine() -> None:
    """--host with an engine address: the old spelling of --engine, for one more release."""
    output.err.print(
        Text(
            "warning: --host with an engine address is deprecated: use --engine "
            "(--host will only name a host of hosts:)",
            style="yellow",
        )
    )


def targets(
    path: Path,
    host: str | None,
    engine: str | None = None,
    quiet: bool = False,
    *,
    lenient: bool = False,
) -> Iterator[tuple[str | None, DockerHost]]:
    """The greenroom of each host a command acts on (`fleet_of`), reached at once, each
    announced by name; a fleet of one (no `hosts:`) as None, unannounced."""
    from greenroom.cli import fleet_cmds

    cfg, only = fleet_of(read_config(path, lenient=lenient), host, engine)
    sole = is_sole(cfg)
    for name, g in fleet_cmds.each(cfg, only):
        g.reporter = None if quiet or output.quiet else StepReporter(output.err)
        if not quiet and not sole:
            output.err.print(Text(f"── host {name} ──", style="bold"))
        yield (None if sole else name), g


def short(text: str) -> str:
    """The start of a long message: masked first, so that no cut leaves part of a secret."""
    return output.mask(text)[:60]


def app_names(cfg: Config, app: str | None) -> list[str]:
    """The app named (it must be in the config), or every app in the config's order."""
    if app is not None:
        cfg.app(app)
        return [app]
    return list(cfg.apps)


def host_apps(g: DockerHost, app: str | None) -> list[str]:
    return app_names(g.cfg, app)
