"""Reading greenroom.yml: YAML with line numbers, ${VAR} interpolation, one error listing every problem.

Scalars follow YAML 1.2's core schema rather than PyYAML's 1.1 (see yaml_loader): only
true/false are booleans and only plain decimals are integers, so `restart: no`, `- 80:80` and
dates stay strings. Every cost is bounded (see limits): any file ends in a Config or a
ConfigError within about a second.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from greenroom.config.interpolation import Interpolation, read_variables
from greenroom.config.limits import (
    MAX_DEPTH,
    MAX_PROBLEMS,
    MAX_VALUES,
    ReadBudget,
    bad_character,
    blank_bad_characters,
    read_text,
)
from greenroom.config.problem import HINT, Problem, join_path
from greenroom.config.root import Config
from greenroom.config.yaml_loader import MERGE, TAG, TAGS, Loader, TooLarge, source_text
from greenroom.errors import ConfigError
from greenroom.secrets import Masker

# --- YAML ----------------------------------------------------------------------------------


class _Index:
    """Lines of every key and list item by dotted path; duplicate keys and unknown tags; a budget
    of values that counts every expansion of an alias or a merge key (`<<`), and of nesting."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.nodes = 0
        self._stack: list[Node] = []

    def walk(self, node: Node, path: str, *, merged: bool = False) -> None:
        """Index `node`; `merged` nodes (the contents of a merge key) are only counted and checked."""
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_VALUES:
            message = f"more than {MAX_VALUES} values after expanding aliases and merge keys"
            raise ConfigError(str(Problem(path, message, line)), where=self.where, hint=HINT)
        if len(self._stack) >= MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep, aliases and merge keys included"
            raise ConfigError(str(Problem(path, message, line)), where=self.where, hint=HINT)
        if any(node is seen for seen in self._stack):
            self.problems.append(Problem(path, "a YAML alias refers to itself", self.lines.get(path)))
            return
        if node.tag not in TAGS:
            tag = node.tag.replace(TAG, "!!")
            message = f"invalid YAML: {path or '(top level)'}: the tag {tag} is not supported (line {line})"
            raise ConfigError(message, where=self.where, hint="write the value without a tag")
        self._stack.append(node)
        if isinstance(node, MappingNode):
            self._mapping(node, path, merged)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                sub = join_path(path, i)
                if not merged:
                    self.lines[sub] = item.start_mark.line + 1
                self.walk(item, sub, merged=merged)
        self._stack.pop()

    def _mapping(self, node: MappingNode, path: str, merged: bool) -> None:
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE:  # PyYAML copies the merged mappings in: count them here
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    self.walk(source, path, merged=True)
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in TAGS:
                self.problems.append(Problem(path, "keys must be plain strings", line))
                continue
            if merged:
                self.walk(value_node, join_path(path, key_node.value), merged=True)
                continue
            sub = join_path(path, key_node.value)
            if key_node.value in first:
                message = f"duplicate key (first at line {first[key_node.value]})"
                self.problems.append(Problem(sub, message, line))
                continue
            first[key_node.value] = line
            self.lines[sub] = line
            self.walk(value_node, sub)


def parse_yaml(text: str, where: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The document as data, and the line of each dotted path in it."""
    bad = bad_character(text)
    if bad is not None:
        raise _bad_character_error(text, bad.line, bad.describe(), where)
    loader, index = Loader(text), _Index(where)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("the file is empty; it needs at least an apps: section", where=where, hint=HINT)
        if not isinstance(node, MappingNode):
            raise ConfigError(
                f"expected a mapping of sections (version, engine, proxy, apps) "
                f"(line {node.start_mark.line + 1})",
                where=where,
                hint=HINT,
            )
        index.walk(node, "")
        if index.problems:
            raise _config_error(index.problems, where, set())
        data = loader.construct_document(node)
    except TooLarge as exc:
        at = f" (line {exc.mark.line + 1})" if exc.mark else ""
        raise ConfigError(f"{exc.message}{at}", where=where, hint=HINT) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" (line {mark.line + 1})" if mark else ""
        path = _path_on_line(index.lines, mark.line + 1) if mark else ""  # once the file parsed
        detail = " ".join(str(s) for s in (path and f"{path}:", exc.context, exc.problem) if s)
        raise ConfigError(f"invalid YAML: {detail}{at}", where=where, hint=HINT) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", where=where, hint=HINT) from None
    finally:
        loader.dispose()
    return data, index.lines


def _path_on_line(lines: Mapping[str, int], line: int) -> str:
    """The deepest path that starts on a line ("" if none does)."""
    on_line = [p for p, n in lines.items() if n == line]
    return max(on_line, key=lambda p: p.count(".")) if on_line else ""


def _bad_character_error(text: str, line: int, what: str, where: str) -> ConfigError:
    """Name the path on the character's line, if the file parses with such characters blanked."""
    try:
        _, lines = parse_yaml(blank_bad_characters(text), where)
    except ConfigError:
        lines = {}
    path = _path_on_line(lines, line)
    message = (
        f"{what}; YAML allows only printable characters, tabs and newlines "
        "(in a double-quoted string, write it as an escape like \\e or \\x00)"
    )
    return ConfigError(str(Problem(path, message)), where=where, hint=HINT)


# --- validation errors ---------------------------------------------------------------------


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that a location inside Config refers to, to suggest its keys."""
    tp: Any = Config
    for part in (*loc, None):
        while typing.get_origin(tp) in (typing.Annotated, typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if part is None:
            break
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if str(part) not in tp.model_fields:
                return None
            tp = tp.model_fields[str(part)].annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _message(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.7)
        if close:
            return f"unknown key (did you mean {close[0]}?)"
        return "unknown key" + (f"; known keys: {', '.join(known)}" if known else "")
    if kind == "missing":
        return "required"
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in error["loc"] if p != "[key]")
        if error["type"] == "greenroom":
            loc += tuple((error.get("ctx") or {}).get("at", ()))
        out.append(Problem(".".join(map(str, loc)), _message(error, loc)))
    return out


def _line(path: str, lines: Mapping[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path.rpartition(".")[0]
    return None


def _config_error(problems: list[Problem], where: str, secrets: set[str]) -> ConfigError:
    listed = sorted(problems, key=lambda p: p.line or 0)
    shown = [str(p) for p in listed[:MAX_PROBLEMS]]
    masker = Masker(secrets)  # every shown form: a message may quote a value that holds a secret
    text = "\n".join(masker.text(line) for line in shown)
    if len(listed) > MAX_PROBLEMS:
        text += f"\n... and {len(listed) - MAX_PROBLEMS} more"
    if len(listed) > 1:
        text = f"{len(listed)} problems:\n{text}"
    return ConfigError(text, where=where, hint=HINT)


def _raw_secrets(data: Any) -> set[str]:
    apps = data.get("apps") if isinstance(data, dict) else None
    found: set[str] = set()
    for app in apps.values() if isinstance(apps, dict) else ():
        secrets = app.get("secrets") if isinstance(app, dict) else None
        if isinstance(secrets, dict):
            found.update(
                v if isinstance(v, str) else source_text(v)
                for v in secrets.values()
                if isinstance(v, str | int | float) and not isinstance(v, bool)
            )
    return found


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Config:
    """Read, interpolate and validate a config file; every problem is reported in one ConfigError."""
    return _load(Path(path), environ, env_file, lenient=False)[0]


def load_config_lenient(
    path: Path, *, environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> tuple[Config, list[str]]:
    """For commands that only read (status, logs, history, ...): like load_config, but a
    variable that is not set (${VAR}, ${VAR:?msg}) reads as empty, or as PLACEHOLDER where a
    value does not validate empty (an image tag, a secret); returns the config and one
    warning per variable and field. Deploy-time values are then not needed to look."""
    return _load(Path(path), environ, env_file, lenient=True)


def _touches(problem: str, path: str) -> bool:
    return problem == path or problem.startswith(path + ".") or path.startswith(problem + ".")


def _load(
    path: Path, environ: Mapping[str, str] | None, env_file: Path | None, *, lenient: bool
) -> tuple[Config, list[str]]:
    where = str(path)
    try:
        text = read_text(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        hint = "pass the file with -f FILE" if isinstance(exc, OSError) else HINT
        raise ConfigError(f"cannot read the config file: {reason}", where=where, hint=hint) from None
    variables = read_variables(path, os.environ if environ is None else environ, env_file)
    raw, lines = parse_yaml(text, where)
    problems: list[Problem] = []
    reading = Interpolation(variables, problems, lenient=lenient)
    data = reading.tree(raw, "")
    config, invalid = _validate(data, path, problems)
    retry = frozenset(p for p in reading.unset if any(_touches(i.path, p) for i in invalid))
    if retry:  # lenient: values that do not validate empty are read with PLACEHOLDER instead
        problems = []
        reading = Interpolation(variables, problems, lenient=True, placeholder_at=retry)
        data = reading.tree(raw, "")
        config, invalid = _validate(data, path, problems)
    problems += invalid
    if problems or config is None:
        secrets = _raw_secrets(data) | _raw_secrets(raw)
        located = [p._replace(line=p.line or _line(p.path, lines)) for p in problems]
        raise _config_error(located, where, secrets)
    return config, reading.warnings()


def _validate(data: Any, path: Path, failed: list[Problem]) -> tuple[Config | None, list[Problem]]:
    """The config, or the problems of validating it (but for paths that `failed` already)."""
    try:
        context = {"base_dir": path.parent, "budget": ReadBudget()}
        return Config.model_validate(data, context=context), []
    except ValidationError as exc:
        known = [p.path for p in failed]
        return None, [
            p
            for p in _pydantic_problems(exc)
            if not any(p.path == f or p.path.startswith(f + ".") for f in known)
        ]
