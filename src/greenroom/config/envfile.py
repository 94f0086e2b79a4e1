"""Env files: NAME=value lines, for ${VAR} interpolation (.env) and an app's env_file."""

from __future__ import annotations

import re
from pathlib import Path

from greenroom.config.limits import ReadBudget, read_text

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_value(text: str, line: int) -> str:
    if not text or text[0] not in "'\"":
        return re.split(r"\s#", text, maxsplit=1)[0].strip()
    quote, chars, i = text[0], [], 1
    while i < len(text) and text[i] != quote:
        if quote == '"' and text[i] == "\\" and i + 1 < len(text):
            i += 1
            chars.append({"n": "\n", "t": "\t"}.get(text[i], text[i]))
        else:
            chars.append(text[i])
        i += 1
    if i == len(text):
        raise ValueError(f"line {line}: unterminated quoted value")
    rest = text[i + 1 :].strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"line {line}: unexpected text after the closing quote")
    return "".join(chars)


def parse_env_text(text: str) -> dict[str, str]:
    """NAME=value lines; blank lines, # comments, quotes and an `export ` prefix allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"line {number}: expected NAME=value")
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"line {number}: invalid variable name {name!r}")
        values[name] = _env_value(value.strip(), number)
    return values


def read_env_file(path: str, base_dir: Path, budget: ReadBudget | None = None) -> dict[str, str]:
    """The variables of an env file named relative to base_dir; ValueError names the file."""
    full = base_dir / path
    outcome = budget.outcomes.get(full) if budget else None
    if outcome is None:
        outcome = _env_file_outcome(full, budget)
        if budget:
            budget.outcomes[full] = outcome
    if isinstance(outcome, ValueError):
        raise ValueError(str(outcome))
    return outcome


def _env_file_outcome(full: Path, budget: ReadBudget | None) -> dict[str, str] | ValueError:
    try:
        text = budget.read(full) if budget else read_text(full)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        return ValueError(f"cannot read env file {full}: {reason}")
    try:
        return parse_env_text(text)
    except ValueError as exc:
        return ValueError(f"{full} {exc}")
