"""What goes into an app's containers: environment, env files, secrets, labels, command
and volumes (Compose's short syntax)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationInfo,
)

from greenroom.config.envfile import read_env_file
from greenroom.config.fields import Kind, base_dir, budget, problem, scalar_text
from greenroom.config.limits import MAX_COMMAND_TEXT, size_text
from greenroom.config.names import env_name
from greenroom.secrets import MIN_LENGTH


@dataclass(frozen=True)
class Mount:
    """A volume or bind mount: SRC:DST[:ro|:rw]."""

    source: str
    target: str
    read_only: bool = False

    @property
    def is_bind(self) -> bool:
        return self.source.startswith("/")

    def __str__(self) -> str:
        return f"{self.source}:{self.target}{':ro' if self.read_only else ''}"


_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def parse_volume(value: Any) -> Mount:
    """Parse Compose's short volume syntax; ValueError says what is wrong."""
    if not isinstance(value, str):
        raise ValueError('expected "SRC:DST[:ro|:rw]"')
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain control characters")
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise ValueError('expected "SRC:DST[:ro|:rw]", e.g. "data:/var/lib/app" or "/srv/conf:/etc/app:ro"')
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"
    if not (source.startswith("/") or _VOLUME_NAME.fullmatch(source)):
        raise ValueError(f"source {source!r} must be an absolute host path or a volume name")
    if not target.startswith("/") or target == "/":
        raise ValueError(f"target {target!r} must be an absolute path other than /")
    if mode not in ("ro", "rw"):
        raise ValueError(f"mode {mode!r} must be ro or rw")
    return Mount(source, target, mode == "ro")


Volume = Annotated[str, BeforeValidator(lambda v: str(parse_volume(v))), Kind("volume")]


def unique_targets(mounts: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for i, mount in enumerate(map(parse_volume, mounts)):
        if mount.target in seen:
            raise problem(f"{mount.target} is mounted twice", i)
        seen.add(mount.target)
    return mounts


def _env_file(value: str, info: ValidationInfo) -> str:
    if not value:
        raise ValueError("expected a file path")
    read_env_file(value, base_dir(info), budget(info))
    return value


EnvFilePath = Annotated[str, AfterValidator(_env_file), Kind("path")]


def env_vars(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for name, raw in value.items():
            env_name(name, str(name))
            text = scalar_text(raw)
            if text is None:
                empty = " (write '' for an empty value)" if raw is None else ""
                raise problem(f"{name} must be a string, number or true/false{empty}", name)
            out[name] = text
        return out
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str) or "=" not in item:
                raise problem('expected "NAME=value"', i)
            name, _, text = item.partition("=")
            if name in out:
                raise problem(f"{name} is set twice", i)
            out[env_name(name, i)] = text
        return out
    raise ValueError('expected a mapping NAME: value or a list of "NAME=value"')


def secret_mapping(value: Any) -> dict[str, str]:
    # Messages here must never include a value.
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping NAME: value")
    out: dict[str, str] = {}
    for name, raw in value.items():
        env_name(name, str(name))
        text = scalar_text(raw)
        if text is None:
            raise problem(f"{name} must be a string or a number", name)
        if 0 < len(text) < MIN_LENGTH:
            raise problem(
                f"{name} is shorter than {MIN_LENGTH} characters: too short to mask in output", name
            )
        out[name] = text
    return out


def label_mapping(value: Any, *, key_problem: Callable[[str], str | None] | None = None) -> dict[str, str]:
    """Labels, key: value, values as text (a number as written, true/false as words).

    Every key is checked by `key_problem` (what is wrong with it, or None); by default the
    rule of a container's Docker labels: any non-empty key but greenroom's own."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping key: value")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not key:
            raise problem("label keys must be non-empty strings", str(key))
        wrong = (key_problem or _container_label_key)(key)
        if wrong:
            raise problem(wrong, key)
        text = scalar_text(raw)
        if text is None:
            raise problem("label values must be strings, numbers or true/false", key)
        out[key] = text
    return out


def _container_label_key(key: str) -> str | None:
    if key.lower().startswith("greenroom."):
        return f"label {key!r} is reserved: keys starting with greenroom. are its own"
    return None


def command_words(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_COMMAND_TEXT:
            raise ValueError(f"is longer than {size_text(MAX_COMMAND_TEXT)}; write it as a list of words")
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
    elif isinstance(value, list | tuple):
        words = []
        for i, word in enumerate(value):
            text = None if isinstance(word, bool) else scalar_text(word)
            if text is None:
                raise problem("command words must be strings (quote them)", i)
            words.append(text)
    else:
        raise ValueError("expected a list of words or a string")
    if not words:
        raise ValueError("is empty; leave it out to run the image's own command")
    return tuple(words)
