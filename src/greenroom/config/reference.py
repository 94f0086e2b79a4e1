"""The greenroom.yml reference in Markdown, rendered from the schema (docs/configuration.md).

Regenerate with: .venv/bin/python -m greenroom.config.reference > docs/configuration.md
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from greenroom.config.fields import Kind, format_duration
from greenroom.config.limits import (
    MAX_COMMAND_TEXT,
    MAX_DEPTH,
    MAX_ENV_FILE_BYTES,
    MAX_FILE_BYTES,
    MAX_INT_DIGITS,
    MAX_INTERPOLATION_DEPTH,
    MAX_NODES,
    MAX_TEXT,
    MAX_VALUES,
    size_text,
)
from greenroom.config.root import Config

INTRO = """\
# greenroom.yml reference

<!-- Generated from the models in src/greenroom/config/; do not edit. Regenerate with:
     .venv/bin/python -m greenroom.config.reference > docs/configuration.md -->

`greenroom config check [-f FILE]` validates a file and prints it resolved, secrets masked;
an example is in `examples/greenroom.yml`. Unknown keys are errors everywhere.

- **Interpolation**: in every string value, `${VAR}`, `${VAR:-default}` (unset or empty),
  `${VAR-default}` (unset), `${VAR:?message}` (error if unset or empty), `${VAR?message}`
  (error if unset); `$$` is a literal `$`, and any other `$` is an error. Variables come from
  the environment, then from a `.env` file beside the config file (the environment wins).
- **YAML**: only `true`/`false` are booleans, only plain decimals are integers and floats
  need a dot or an exponent, so `no`, `80:80`, `1_000` and `2024-01-01` are strings. Where a
  string is wanted (environment, labels, command words), a number is taken exactly as written:
  `1.10` stays `1.10`. Duplicate keys and tags other than `!!str`, `!!int`, `!!float`, `!!bool`,
  `!!null`, `!!seq` and `!!map` are errors. A section whose keys are all commented out takes its
  defaults.
"""
INTRO += f"""\
- **Limits**: a config or env file of at most {size_text(MAX_FILE_BYTES)}, and
  {size_text(MAX_ENV_FILE_BYTES)} of env files in all; at most {MAX_NODES:,} YAML values in the file
  and {MAX_VALUES:,} after expanding aliases and merge keys (`<<`); nesting at most {MAX_DEPTH}
  levels deep; more than {MAX_INT_DIGITS} digits make a string, not an integer; `${{...}}` nested
  at most {MAX_INTERPOLATION_DEPTH} deep, and at most {MAX_TEXT:,} characters made by interpolation
  in all; a `command` string of at most {size_text(MAX_COMMAND_TEXT)} (a list has no such limit).
"""
INTRO += """\
- **Durations**: `250ms`, `2s`, `1.5s`, `1m`, `1h`, or a number of seconds.
- **Sizes**: a number of bytes, or a number with `k`, `m`, `g` or `t` (powers of 1024): `256m`, `1g`.
"""

_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", SecretStr: "string"}


def _label(tp: Any, metadata: Iterable[Any] = ()) -> str:
    kinds = [m.name for m in metadata if isinstance(m, Kind)]
    if kinds:
        return kinds[-1]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _label(args[0], tp.__metadata__)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        return " or ".join(_label(a) for a in parts) + (" or null" if len(parts) < len(args) else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (tuple, list):
        return f"list of {_label(args[0])}"
    if origin is dict:
        return f"mapping of {_label(args[0])} to {_label(args[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "section"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _default(field: FieldInfo, kind: str) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    if kind == "duration":
        return f"`{format_duration(value)}`"
    if isinstance(value, tuple | list | dict | bool) or value is None:
        return f"`{json.dumps(list(value) if isinstance(value, tuple) else value, default=str)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _submodels(field: FieldInfo) -> Iterator[tuple[str, type[BaseModel]]]:
    yield from _models_in(field.annotation)


def _models_in(tp: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The sections a type holds: itself, a mapping's values (`<name>`), a list's items
    (`[]`), an optional one's."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        yield from _models_in(args[0])
    elif origin is dict:
        for key, sub in _models_in(args[1]):
            yield ".".join(p for p in ("<name>", key) if p), sub
    elif origin in (tuple, list):
        for key, sub in _models_in(args[0]):
            yield ".".join(p for p in ("[]", key) if p), sub
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield "", tp


def _section(model: type[BaseModel], path: str) -> Iterator[str]:
    yield f"## {'`' + path + '`' if path else 'Top level'}"
    yield ""
    yield inspect.cleandoc(model.__doc__ or "")
    yield ""
    yield "| key | type | default | description |"
    yield "|---|---|---|---|"
    for name, field in model.model_fields.items():
        kind = _label(field.annotation, field.metadata)
        cells = (f"`{name}`", kind, _default(field, kind), field.description or "")
        yield "| " + " | ".join(_cell(c) for c in cells) + " |"
    yield ""
    for name, field in model.model_fields.items():
        for key, sub in _submodels(field):
            child = ".".join(p for p in (path, name, key) if p)
            yield from _section(sub, child)


def render_reference() -> str:
    return INTRO + "\n" + "\n".join(_section(Config, ""))


if __name__ == "__main__":
    sys.stdout.write(render_reference())
