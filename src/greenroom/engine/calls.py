"""Engine calls in greenroom's words: the Docker SDK's and requests' exceptions translated
at the boundary, each call within its host's bound (engine/bound.py)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import docker.errors
import requests.exceptions
import urllib3.exceptions

from greenroom.engine.bound import CallBound
from greenroom.errors import Conflict, EngineError, EngineHung, EngineUnreachable, NotFound

_TIMEOUTS = (
    requests.exceptions.Timeout,
    urllib3.exceptions.TimeoutError,
    socket.timeout,
    TimeoutError,
)


def timed_out(exc: BaseException) -> bool:
    """Whether a read or connect deadline ended it (requests wraps some in ConnectionError)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, _TIMEOUTS):
            return True
        todo += [e.__cause__, e.__context__, *e.args, getattr(e, "reason", None)]
    return False


class Calls:
    """`with calls("what"):` around each request of one engine."""

    def __init__(self, host: str, bound: CallBound, ping: Callable[[float], object]) -> None:
        self.host = host
        self.bound = bound
        self._ping = ping  # one /_ping within the given seconds

    def answers(self) -> bool:
        """After a long call ran out of its own time: does the engine answer at all?"""
        try:
            self._ping(self.bound.seconds)
        except Exception:
            return False
        return True

    @contextmanager
    def __call__(self, what: str, *, long: float | None = None) -> Iterator[None]:
        """`long`: the call's own deadline (seconds) when it is long by nature; a timeout then
        means hung only when the engine fails a ping as well."""
        self.bound.check(what)
        try:
            yield
        except EngineHung as exc:
            if self.bound.stopped is not None:  # a call inside this one found it hung already
                raise
            raise self.bound.overran(what, exc.seconds) from exc  # the ssh login got no answer
        except docker.errors.NotFound as exc:
            raise NotFound(
                f"{what}: not found ({exc.explanation})",
                where=self.host,
                hint="check the name with `docker ps -a` / `docker network ls` on that engine",
            ) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Conflict(f"{what}: {exc.explanation}", where=self.host) from exc
            raise EngineError(f"{what}: the engine refused: {exc.explanation}", where=self.host) from exc
        except (requests.exceptions.RequestException, docker.errors.DockerException, OSError) as exc:
            if timed_out(exc):
                if long is not None and self.answers():
                    raise EngineError(
                        f"{what}: no result within {long:g} s (the engine answers otherwise)",
                        where=self.host,
                    ) from exc
                raise self.bound.overran(what, long) from exc
            if isinstance(exc, OSError) and not isinstance(exc, requests.exceptions.RequestException):
                raise
            raise EngineUnreachable(
                f"{what}: cannot reach the Docker engine ({exc})",
                where=self.host,
                hint=self.bound.label.unreachable_hint(),
            ) from exc
