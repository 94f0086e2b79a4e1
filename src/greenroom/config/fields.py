"""The building blocks of greenroom.yml's schema: the base model, path-located problems,
numbers, durations and sizes, and the small validators the sections share.

Validators raise ValueError for the field at hand; when the culprit is deeper (a list item,
a mapping key, another field of a cross-field check) they raise `problem(message, *at)`,
whose context carries the relative path so the loader can point at `apps.web.hosts.0`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from greenroom.config import rules
from greenroom.config.limits import ReadBudget
from greenroom.config.yaml_loader import source_text


@dataclass(frozen=True)
class Kind:
    """Names a field's type in the reference documentation."""

    name: str


def problem(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error located at the sub-path `at` of the value being validated."""
    return PydanticCustomError("greenroom", message, {"at": at})


# --- scalars -------------------------------------------------------------------------------


def scalar_text(value: Any) -> str | None:
    """A scalar as a string for a container; numbers exactly as the file wrote them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return source_text(value)
    return None


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_not_bool), Kind("integer")]
Float = Annotated[float, BeforeValidator(_not_bool), Kind("number")]

_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds from "250ms", "2s", "1.5s", "1m", "1h" or a bare number of seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a duration is a string like 2s or a number of seconds, not {type(value).__name__}")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid duration {value!r}: use 250ms, 2s, 1.5s, 1m, 1h or seconds")
        seconds = float(match[1]) * _SECONDS[match[2]]
    else:
        seconds = float(value) if value < 1e300 else math.inf  # float() of a huge int raises
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite, non-negative number of seconds")
    return seconds


def format_duration(seconds: float) -> str:
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def within(low: float, high: float | None = None, *, above: bool = False) -> AfterValidator:
    def check(seconds: float) -> float:
        if seconds < low or (above and seconds == low):
            raise ValueError(f"must be {'more than' if above else 'at least'} {format_duration(low)}")
        if high is not None and seconds > high:
            raise ValueError(f"must be at most {format_duration(high)}")
        return seconds

    return AfterValidator(check)


Duration = Annotated[float, BeforeValidator(parse_duration), Kind("duration")]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?", re.IGNORECASE)
_MIN_MEMORY = 6 * 1024**2  # the Docker engine refuses less


def parse_size(value: str | int) -> int:
    """Bytes from "512k", "256m", "1g" (powers of 1024) or a number of bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a size is a string like 256m or a number of bytes")
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"invalid size {value!r}: use bytes or a number with k, m or g, e.g. 256m, 1g")
    power = " kmgt".index((match[2] or " ").lower())
    size = float(match[1]) * (1 << (10 * power))
    if not math.isfinite(size):
        raise ValueError(f"invalid size {value!r}: too large")
    return round(size)


def memory_limit(value: Any) -> int | None:
    if value is None:
        return None
    size = parse_size(value)
    if size < _MIN_MEMORY:
        raise ValueError("must be at least 6m (Docker's minimum)")
    return rules.memory(size)


def unique(what: str) -> AfterValidator:
    def check(items: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item in seen:
                raise problem(f"{what} {item} is listed twice", i)
            seen.add(item)
        return items

    return AfterValidator(check)


def base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir", "."))


def budget(info: ValidationInfo) -> ReadBudget | None:
    budget = (info.context or {}).get("budget")
    return budget if isinstance(budget, ReadBudget) else None


def one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def section(value: Any) -> Any:
    return {} if value is None else value  # a section with every key commented out


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, hide_input_in_errors=True)
