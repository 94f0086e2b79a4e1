"""One problem of a config file: where (a dotted path, a line) and what."""

from __future__ import annotations

from typing import NamedTuple

HINT = "see docs/configuration.md or `greenroom config reference`"


class Problem(NamedTuple):
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path or '(top level)'}: {self.message}{where}"


def join_path(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)
