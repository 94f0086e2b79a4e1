"""The clock adapter: monotonic time for deadlines, wall time for labels and history."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def now(self) -> datetime:
        return datetime.now(UTC)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff: base, 2*base, 4*base ... cap."""
    return float(min(cap, base * (2 ** min(attempt, 16))))
