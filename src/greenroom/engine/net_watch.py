"""Watch a container's TCP table through the engine: one helper for a whole drain.

When greenroom cannot read the proxy's namespace directly (a remote engine, or
`engine.direct: false`), it starts one helper container that shares the proxy's network
namespace and, every `period`, prints only the lines of /proc/net/tcp{,6} that mention the
drain's targets (grep, in the namespace: the thousands of TIME_WAIT lines under load never
cross the wire), then a marker. A thread reads the log stream and keeps the last complete
table; `sockets()` waits for a table printed after it was called, so an answer is never
older than the question. The helper is removed on the way out, whatever happens.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

from greenroom.clock import Clock
from greenroom.errors import GreenroomError, RouteReadError
from greenroom.sockets import Socket, parse_tcp, target_keys

MARKER = "--greenroom-table--"


class HelperHost(Protocol):
    """What the watcher needs of the engine adapter."""

    host: str

    def start_helper(self, image: str, command: list[str], *, network_mode: str) -> str: ...

    def follow_logs(self, container: str, *, tail: int = 100) -> Iterator[str]: ...

    def remove(self, container: str) -> None: ...


def watch_script(keys: list[str], period: float, lifetime: float = 3600.0) -> str:
    """The helper's loop: the table lines mentioning any key, then the marker, until it is
    removed or `lifetime` is over (a greenroom killed outright leaves no helper for long;
    the engine removes it when it exits)."""
    patterns = " ".join(f"-e {k}" for k in keys)
    rounds = max(1, math.ceil(lifetime / period))
    return (
        f"i=0; while [ $i -lt {rounds} ]; do grep -h {patterns} /proc/net/tcp /proc/net/tcp6 2>/dev/null; "
        f"echo {MARKER}; sleep {period:g}; i=$((i+1)); done"
    )


class TableWatch:
    def __init__(
        self,
        engine: HelperHost,
        container_id: str,
        targets: set[tuple[str, int]],
        image: str,
        clock: Clock,
        period: float = 0.05,
        lifetime: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.container_id = container_id
        self.targets = targets
        self.image = image
        self.clock = clock
        self.period = period
        self.lifetime = lifetime
        self.helper: str | None = None
        self._cond = threading.Condition()
        self._tables = 0  # complete tables seen so far
        self._last = ""
        self._ended: str | None = None  # why the stream ended, once it has
        self._failure: GreenroomError | None = None  # the engine's error that ended it
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TableWatch:
        script = watch_script(target_keys(self.targets), self.period, self.lifetime)
        self.helper = self.engine.start_helper(
            self.image, ["sh", "-c", script], network_mode=f"container:{self.container_id}"
        )
        self._thread = threading.Thread(target=self._read, name="greenroom-table-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        helper, self.helper = self.helper, None
        if helper is not None:
            # force: ends the loop and the log stream; an engine gone away has nothing to stop
            with contextlib.suppress(GreenroomError):
                self.engine.remove(helper)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read(self) -> None:
        assert self.helper is not None
        pending = ""
        lines: list[str] = []
        why = "the helper's output ended"
        try:
            for chunk in self.engine.follow_logs(self.helper, tail=0):
                pending += chunk
                *complete, pending = pending.split("\n")
                for line in complete:
                    if line.strip() == MARKER:
                        with self._cond:
                            self._last = "\n".join(lines)
                            self._tables += 1
                            self._cond.notify_all()
                        lines = []
                    else:
                        lines.append(line)
        except GreenroomError as exc:
            why = exc.message
            self._failure = exc
        except OSError as exc:  # the stream's connection dropped
            why = str(exc)
        except Exception as exc:  # a bug: the watch ends, the drain must not wait on it forever
            why = f"unexpected {type(exc).__name__}: {exc}"
        with self._cond:
            self._ended = why
            self._cond.notify_all()

    def sockets(self, timeout: float = 5.0) -> list[Socket]:
        """The targets' sockets from a table read wholly after this call began (the one
        being printed now may have been read before it: the next one is wanted)."""
        deadline = self.clock.monotonic() + timeout
        with self._cond:
            wanted = self._tables + 2
            while self._tables < wanted:
                if self._failure is not None:
                    raise self._failure
                if self._ended is not None:
                    raise RouteReadError(
                        f"the proxy's connection table stopped coming: {self._ended}",
                        where=self.engine.host,
                        hint=f"the helper image {self.image} needs sh, grep and sleep",
                    )
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    raise RouteReadError(
                        f"no connection table from the helper within {timeout:g}s",
                        where=self.engine.host,
                        hint="the engine may be overloaded; the drain waits out drain_timeout",
                    )
                self._cond.wait(min(left, 0.5))
            return parse_tcp(self._last)
