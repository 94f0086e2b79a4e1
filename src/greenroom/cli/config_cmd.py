"""`greenroom config check|reference`: validate greenroom.yml, print its reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from greenroom.cli.output import output
from greenroom.config import load_config, masked, secret_values
from greenroom.config.reference import render_reference

config_app = typer.Typer(
    help="Check greenroom.yml and print its reference.", no_args_is_help=True, add_completion=False
)


@config_app.command()
def check(
    file: Annotated[Path, typer.Option("--file", "-f", help="the config file")] = Path("greenroom.yml"),
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of YAML")] = False,
) -> None:
    """Validate FILE and print it resolved (interpolated, defaults filled in), secrets masked.

    Exit codes: 0 valid; 2 invalid (every problem is listed with its line).
    """
    config = load_config(file)
    output.add_secrets(secret_values(config))
    data = output.masker.data(masked(config))  # and values that embed a secret, e.g. a URL
    if as_json:
        output.echo(json.dumps(data, indent=2))
    else:
        output.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


@config_app.command()
def reference() -> None:
    """Print the reference of every greenroom.yml key (Markdown)."""
    output.echo(render_reference(), end="")
