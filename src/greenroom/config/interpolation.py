"""${VAR} interpolation of greenroom.yml, as Compose does it, bounded in size and depth.

Variables come from the environment and a `.env` beside the file (the environment wins).
Lenient reading (for commands that only look) reads a variable that is not set as empty,
or as PLACEHOLDER where a value does not validate empty, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from greenroom.config.envfile import parse_env_text
from greenroom.config.limits import MAX_INTERPOLATION_DEPTH, MAX_TEXT, read_text
from greenroom.config.problem import HINT, Problem, join_path
from greenroom.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# given a variable that is not set and why it is needed ("is not set: message"), the text to
# read instead (lenient loading); without one, a variable that is not set is an error
Missing = Callable[[str, str], str]


def interpolate(
    text: str, variables: Mapping[str, str], limit: int = MAX_TEXT, missing: Missing | None = None
) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?msg}, ${VAR?msg}; $$ is a $.

    ValueError past `limit` characters, before building them: ${A}${A}... cannot exhaust memory.
    """
    out: list[str] = []
    i = size = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        following = text[j + 1 : j + 2]
        if following == "$":
            out.append("$")
            i = j + 2
        elif following == "{":
            end = _closing_brace(text, j + 2)
            out.append(_substitute(text[j + 2 : end], variables, limit - size, missing))
            i = end + 1
        else:
            raise ValueError("a lone $: write $$ for a literal $, or ${NAME} for a variable")
        size += len(out[-1]) + len(out[-2])
        if size > limit:
            raise ValueError(f"interpolation makes more than {MAX_TEXT} characters of text in all")
    out.append(text[i:])
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth, k = 1, start
    while k < len(text):
        if text.startswith("$$", k):
            k += 2
            continue
        if text.startswith("${", k):
            depth, k = depth + 1, k + 2
            if depth > MAX_INTERPOLATION_DEPTH:
                raise ValueError(f"${{...}} nested more than {MAX_INTERPOLATION_DEPTH} deep")
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    raise ValueError("unterminated ${: a variable reference needs its closing }")


def _substitute(expr: str, variables: Mapping[str, str], limit: int, on_missing: Missing | None) -> str:
    match = _NAME.match(expr)
    if not match:
        raise ValueError("invalid variable name after ${")
    name, rest = match[0], expr[match.end() :]
    value = variables.get(name)
    for op in (":-", "-", ":?", "?"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            break
    else:
        if rest:
            raise ValueError(
                f"unsupported syntax in ${{{name}...}}: use ${{{name}}}, ${{{name}:-default}}, "
                f"${{{name}-default}} or ${{{name}:?message}}"
            )
        op, arg = "", ""
    missing = value is None or (op.startswith(":") and value == "")
    if not missing:
        assert value is not None
        return value
    if op in (":-", "-"):
        return interpolate(arg, variables, limit, on_missing)
    state = ("is not set or empty" if op == ":?" else "is not set") + (f": {arg}" if arg else "")
    if on_missing is not None:
        return on_missing(name, state)
    raise ValueError(f"variable {name} {state}")


# what a variable that is not set reads as when a value does not validate empty (lenient
# loading only): a word that is a valid image tag, secret, name or path segment
PLACEHOLDER = "unset"


class Interpolation:
    """Interpolates every string of a document: each distinct one once, MAX_TEXT characters in all.

    Lenient (for commands that only read): a variable that is not set reads as empty, or as
    PLACEHOLDER in the strings at `placeholder_at`; `unset` says which paths had which."""

    def __init__(
        self,
        variables: Mapping[str, str],
        problems: list[Problem],
        *,
        lenient: bool = False,
        placeholder_at: frozenset[str] = frozenset(),
    ) -> None:
        self.variables, self.problems = variables, problems
        self.lenient, self.placeholder_at = lenient, placeholder_at
        self.left = MAX_TEXT
        self.done: dict[tuple[str, bool], tuple[str, tuple[str, ...]]] = {}
        self.unset: dict[str, tuple[str, ...]] = {}  # path -> "NAME is not set[: message]"

    def _string(self, value: str, path: str) -> str:
        key = (value, path in self.placeholder_at)
        if key not in self.done:
            found: list[str] = []

            def missing(name: str, state: str) -> str:
                found.append(f"{name} {state}")
                return PLACEHOLDER if key[1] else ""

            text = interpolate(value, self.variables, self.left, missing if self.lenient else None)
            self.done[key] = (text, tuple(found))
            self.left -= len(text)
        text, found_here = self.done[key]
        if found_here:
            self.unset[path] = found_here
        return text

    def tree(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                return self._string(value, path)
            except ValueError as exc:
                self.problems.append(Problem(path, str(exc)))
                return value
        if isinstance(value, dict):
            return {k: self.tree(v, join_path(path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, join_path(path, i)) for i, v in enumerate(value)]
        return value

    def warnings(self) -> list[str]:
        shown = {False: "empty", True: repr(PLACEHOLDER)}
        return [
            f"{path}: variable {state}; read as {shown[path in self.placeholder_at]}"
            for path, states in self.unset.items()
            for state in states
        ]


def read_variables(config_path: Path, environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """Variables for interpolation: the env file's, with the environment winning (as in Compose)."""
    if env_file is None and (config_path.parent / ".env").is_file():
        env_file = config_path.parent / ".env"
    from_file: dict[str, str] = {}
    if env_file is not None:
        try:
            text = read_text(env_file)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"cannot read env file: {reason}", where=str(env_file), hint=HINT) from None
        try:
            from_file = parse_env_text(text)
        except ValueError as exc:
            raise ConfigError(str(exc), where=str(env_file), hint=HINT) from None
    return {**from_file, **environ}
