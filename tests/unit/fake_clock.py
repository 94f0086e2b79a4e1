"""A clock for unit tests: time moves only when something sleeps or waits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Monotonic time that moves only when something sleeps or waits: no real sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []
        self.alarms: list[tuple[float, Callable[[], None]]] = []  # (after seconds, then do)
        self.start = self.t

    def at(self, after: float, then: Callable[[], None]) -> None:
        """Once `after` seconds have passed (from now), `then` happens."""
        self.alarms.append((self.t - self.start + after, then))

    def elapsed(self) -> float:
        return self.t - self.start

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)
        for when, then in list(self.alarms):
            if self.elapsed() >= when:
                self.alarms.remove((when, then))
                then()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.sleep(seconds)
        return event.is_set()

    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=self.t)

    def every(self, seconds: float, tick: Callable[[], bool]) -> Callable[[], None]:
        """`tick` every `seconds` of fake time (inside whatever sleeps), until it returns False."""
        stopped = threading.Event()

        def fire() -> None:
            if not stopped.is_set() and tick():
                self.at(seconds, fire)

        self.at(seconds, fire)
        return stopped.set
