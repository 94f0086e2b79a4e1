"""`greenroom init [IMAGE]`: write a commented greenroom.yml for an app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.text import Text

from greenroom.cli.options import warn_host_as_engine
from greenroom.cli.output import output
from greenroom.config import Config
from greenroom.config.load import parse_yaml
from greenroom.engine.client import DockerEngine, default_host
from greenroom.errors import ConfigError, NotFound
from greenroom.scaffold import FALLBACK_PORT, ImageFacts, app_name, image_facts, render_config


def _facts(host: str, image: str) -> ImageFacts:
    engine = DockerEngine(host)
    doc = engine.image_inspect(image)
    if doc is None:
        output.note(Text(f"pulling {image} to read its EXPOSE and HEALTHCHECK …"))
        engine.pull(image)
        doc = engine.image_inspect(image)
    if doc is None:
        raise NotFound(f"image {image}: not on the engine after pulling it", where=host)
    return image_facts(image, doc)


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        image: Annotated[
            str | None, typer.Argument(help="the app's image, inspected for its port and health check")
        ] = None,
        name: Annotated[str | None, typer.Option("--name", help="app name (default: from the image)")] = None,
        port: Annotated[
            int | None, typer.Option("--port", min=1, max=65535, help="port (default: the image's EXPOSE)")
        ] = None,
        file: Annotated[Path, typer.Option("--file", "-f", help="the file to write")] = Path("greenroom.yml"),
        engine: Annotated[
            str | None,
            typer.Option("--engine", help="engine address (default: DOCKER_HOST, Docker context)"),
        ] = None,
        host: Annotated[str | None, typer.Option("--host", "-H", help="the old spelling of --engine")] = None,
    ) -> None:
        """Write a commented greenroom.yml for an app (never overwrites a file).

        The port comes from the image's EXPOSE, the health check from its HEALTHCHECK, the
        engine from the current Docker context.

        Exit codes: 0 written; 2 the file exists (or bad options); 1 the engine failed.
        """
        if file.exists():
            raise _exists(file)
        if host is not None:
            warn_host_as_engine()
        engine_host = host or engine or default_host()
        facts = _facts(engine_host, image) if image else None
        app_ = name or app_name(image or Path.cwd().name)
        text = render_config(facts, app=app_, image=image or f"{app_}:latest", host=engine_host, port=port)
        _check(text, file)
        try:
            with file.open("x", encoding="utf-8") as f:
                f.write(text)
        except FileExistsError:
            raise _exists(file) from None
        except OSError as exc:
            raise ConfigError(f"cannot write it: {exc.strerror}", where=str(file)) from None
        chosen = port or (facts.port() if facts else None)
        shown = f"port {chosen}" if chosen else f"port {FALLBACK_PORT} (a guess: set it)"
        kind = "docker" if facts and facts.health else "tcp"
        output.out.print(
            Text(f"wrote {file} for app {app_}: {shown}, health check {kind}; see `greenroom config check`")
        )


def _exists(file: Path) -> ConfigError:
    return ConfigError(
        "already exists; greenroom init does not overwrite it",
        where=str(file),
        hint="edit it, remove it, or write another file with --file",
    )


def _check(text: str, file: Path) -> None:
    """The file would load: an unusable --name or IMAGE is refused before anything is written."""
    data, _ = parse_yaml(text, str(file))
    try:
        Config.model_validate(data, context={"base_dir": file.parent})
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"] if p != "[key]")
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"would not be a valid config: {where}: {message}",
            where=str(file),
            hint="pass a --name of 1-31 lowercase letters, digits and -, and a valid image reference",
        ) from None
