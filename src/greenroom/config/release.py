"""greenroom.yml's `apps.<name>.release:` the command run once per deploy, in a one-off
container of the new image, before anything switches (database migrations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from greenroom.config.container import command_words
from greenroom.config.fields import Duration, Kind, Model, within


def release_section(value: Any) -> Any:
    """`release: CMD` (a string or a list of words) is short for `release: {command: CMD}`."""
    if value is None or isinstance(value, Mapping):
        return value
    return {"command": value}


class ReleaseCommand(Model):
    """A command run once per deploy with the new image, the app's environment, secrets,
    volumes and extra networks, after the image is on the engine and before any switch. It
    exits non-zero (or runs past its timeout): the deploy stops and nothing switches. It
    does not run again for an image it already ran for (`deploy --rerun-release` runs it
    anyway), and `rollback` never runs it."""

    command: Annotated[tuple[str, ...], BeforeValidator(command_words), Kind("list of strings or string")] = (
        Field(description="The command; a string is split into words like a shell does.")
    )
    timeout: Annotated[Duration, within(1, 24 * 3600)] = Field(
        default=600.0, description="Time allowed for it, 1s to 24h; past it the container is killed."
    )
