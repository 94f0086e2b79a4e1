"""The clock adapter: monotonic time for deadlines, wall time for labels and history, and
the one deadline poller every wait in greenroom goes through (a fake clock drives it in
the unit tests, without sleeping)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep until `event` is set or `seconds` have passed; whether it is set."""
        ...

    def now(self) -> datetime: ...

    def every(self, seconds: float, tick: Callable[[], bool]) -> Callable[[], None]:
        """Call `tick` every `seconds`, in the background, until it returns False or the
        function returned is called."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))

    def now(self) -> datetime:
        return datetime.now(UTC)

    def every(self, seconds: float, tick: Callable[[], bool]) -> Callable[[], None]:
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(seconds) and tick():
                pass

        threading.Thread(target=run, name="greenroom every", daemon=True).start()
        return stop.set


def backoff(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff: base, 2*base, 4*base ... cap."""
    return float(min(cap, base * (2 ** min(attempt, 16))))


def poll_until(
    clock: Clock,
    attempt: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    cap: float | None = None,
    wake: threading.Event | None = None,
) -> T | None:
    """Call `attempt` until it returns a value (not None), and return that value; None once
    `timeout` seconds have passed. Between attempts it waits `interval` seconds (growing
    to `cap` by capped backoff when `cap` is given), never past the deadline: the last
    attempt runs at the deadline. `wake`, when set, ends a wait early. Exceptions from
    `attempt` pass through."""
    deadline = clock.monotonic() + timeout
    tries = 0
    while True:
        result = attempt()
        if result is not None:
            return result
        left = deadline - clock.monotonic()
        if left <= 0:
            return None
        delay = interval if cap is None else backoff(tries, interval, cap)
        tries += 1
        if wake is not None:
            clock.wait(wake, min(delay, left))
        else:
            clock.sleep(min(delay, left))
