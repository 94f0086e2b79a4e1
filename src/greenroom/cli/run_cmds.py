"""`greenroom run` and `greenroom exec`: one-off commands with an app's image and settings.

run:  a new container of the app's live image (or --image) with its environment, secrets,
      volumes, back network and extra networks, attached to this terminal (stdin, and a TTY
      on a terminal); removed afterwards, also on Ctrl-C or SIGTERM; its exit code is greenroom's.
exec: a command in one of the live containers (--replica N).
The command's own output passes through unchanged; greenroom's messages go through the
masking output sink like every other command's."""

from __future__ import annotations

import contextlib
import secrets as pyrandom
import sys
from dataclasses import replace
from typing import Annotated

import typer

from greenroom import labels
from greenroom.cli.options import DEFAULT_FILE, EngineOpt, FileOpt, fleet_of, read_config
from greenroom.config import Config
from greenroom.deploy.host import DockerHost
from greenroom.deploy.interrupt import sigterm_interrupts
from greenroom.deploy.release import one_off_spec
from greenroom.errors import ConfigError, DeployError, GreenroomError

Command = Annotated[list[str], typer.Argument(help="the command and its arguments, after --")]
RunHostOpt = Annotated[
    str | None,
    typer.Option(
        "--host", "-H", help="with hosts: in greenroom.yml, the host to run on (default: the app's first)"
    ),
]


def _host(cfg: Config, app: str, host: str | None, engine: str | None) -> DockerHost:
    """The greenroom of the host to act on: --host NAME, else the app's first (a config
    without `hosts:` has one: its engine)."""
    from greenroom.fleet.hosts import docker_host_for, placed_hosts

    fleet, only = fleet_of(cfg, host, engine)
    chosen = placed_hosts(fleet, app, only)
    if not chosen:
        raise ConfigError(f"{app} runs on no host", where=f"apps.{app}.placement")
    return docker_host_for(fleet)(chosen[0])


def _terminal() -> tuple[bool, bool]:
    """(tty, stdin): a TTY when both ends are terminals; stdin forwarded unless closed."""
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        stdin = not sys.stdin.closed and sys.stdin.fileno() >= 0
    except (OSError, ValueError):
        stdin = False
    return tty, stdin


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        name: Annotated[str, typer.Argument(help="app name")],
        command: Command,
        image: Annotated[str | None, typer.Option(help="image (default: the app's live one)")] = None,
        file: FileOpt = DEFAULT_FILE,
        host: RunHostOpt = None,
        engine: EngineOpt = None,
    ) -> None:
        """Run a one-off command in a new container of APP (its live image, environment,
        secrets, volumes and networks), attached here; removed afterwards."""
        from greenroom.engine.attach import run_attached

        cfg = read_config(file)
        app_cfg = cfg.app(name)
        g = _host(cfg, name, host, engine)
        try:
            st = g.observe().app(name)
            if st.back is None:
                raise DeployError(
                    f"{name} has never been deployed on {g.engine.host}: it has no network yet",
                    hint=f"deploy it first: greenroom deploy {name}",
                )
            chosen = image or (st.live.image if st.live is not None else "") or app_cfg.image
            tty, stdin = _terminal()
            spec = one_off_spec(
                f"{name}-run-{pyrandom.token_hex(4)}",
                name,
                app_cfg,
                chosen,
                tuple(command),
                labels.ROLE_RUN,
                {labels.IMAGE: chosen, labels.VERSION: chosen.rsplit("/", 1)[-1]},
            )
            spec = replace(spec, tty=tty, stdin_open=stdin)
            g.engine.ensure_image(chosen)
            with sigterm_interrupts():  # SIGTERM as Ctrl-C: the container is removed
                try:
                    g.engine.create_container(spec)  # inside: one cut short may exist all the same
                    for net in app_cfg.networks:  # before it starts: its gateway never moves
                        g.engine.connect_network(spec.name, net, gw_priority=-1)
                    code = run_attached(g.engine, spec.name, tty=tty, stdin=stdin)
                finally:
                    with contextlib.suppress(GreenroomError):
                        g.engine.remove(spec.name)
        finally:
            g.engine.close()
        raise typer.Exit(code)

    @app.command(name="exec")
    def exec_(
        name: Annotated[str, typer.Argument(help="app name")],
        command: Command,
        replica: Annotated[int, typer.Option("--replica", min=0, help="which live container")] = 0,
        file: FileOpt = DEFAULT_FILE,
        host: RunHostOpt = None,
        engine: EngineOpt = None,
    ) -> None:
        """Run a command in one of APP's live containers, attached here."""
        from greenroom.engine.attach import exec_attached

        cfg = read_config(file)
        cfg.app(name)
        g = _host(cfg, name, host, engine)
        try:
            live = g.observe().app(name).live
            running = [c for c in live.containers if c.info.running] if live is not None else []
            if not running:
                raise DeployError(
                    f"{name} has no live container on {g.engine.host}",
                    hint=f"deploy it first: greenroom deploy {name}",
                )
            picked = next((c for c in running if c.replica == replica), None)
            if picked is None:
                raise ConfigError(
                    f"{name} has no live replica {replica}",
                    where="--replica",
                    hint=f"live replicas: {', '.join(str(c.replica) for c in running)}",
                )
            tty, stdin = _terminal()
            with sigterm_interrupts():  # SIGTERM as Ctrl-C: the terminal is given back
                code = exec_attached(g.engine, picked.name, command, tty=tty, stdin=stdin)
        finally:
            g.engine.close()
        raise typer.Exit(code)
