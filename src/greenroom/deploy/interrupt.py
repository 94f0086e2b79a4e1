"""Interrupting a command so that the executor undoes it: Ctrl-C, SIGTERM, or the main
thread of a parallel deploy telling its workers to stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType

from greenroom.clock import Clock


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that says why: the CLI and the executor treat both alike."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def why(exc: KeyboardInterrupt) -> str:
    return exc.why if isinstance(exc, Interrupted) else "interrupted (Ctrl-C)"


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM interrupts the main thread like Ctrl-C (the executor undoes
    the step in progress). Only the main thread can handle signals: elsewhere it does
    nothing. A second SIGTERM while undoing is ignored (so it cannot cut the undo short);
    the previous handler is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Interrupted("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class CancellableClock:
    """A clock whose waits end with Interrupted as soon as `cancel` is set: a worker
    that is waiting (a health gate, a drain) hears the cancel at once, not after the step."""

    SLICE = 0.05

    def __init__(self, clock: Clock, cancel: threading.Event) -> None:
        self.clock = clock
        self.cancel = cancel

    def check(self) -> None:
        if self.cancel.is_set():
            raise Interrupted("interrupted (cancelled with the other deploys)")

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def now(self) -> datetime:
        return self.clock.now()

    def every(self, seconds: float, tick: Callable[[], bool]) -> Callable[[], None]:
        return self.clock.every(seconds, tick)

    def sleep(self, seconds: float) -> None:
        self.check()
        self.clock.wait(self.cancel, seconds)
        self.check()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        deadline = self.clock.monotonic() + seconds
        while True:
            self.check()
            left = deadline - self.clock.monotonic()
            if event.is_set() or left <= 0:
                return event.is_set()
            self.clock.wait(event, min(self.SLICE, left))
