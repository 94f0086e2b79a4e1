"""Draining: wait until the proxy's connections to the old version are gone.

Every connection in the proxy's own table to an old container's address and port is a
request or a stream still in flight, one still being opened (its SYN retried), or an idle
one in the proxy's upstream pool. After the switch nothing new goes to the old color's
pools, and nginx closes their idle connections after `upstream_idle_ms` (1 s), so those
hold a drain for at most that long, never for `drain_timeout`. The proxy's view is the
one that counts: the app's side cannot see a SYN it dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from greenroom.clock import Clock, poll_until
from greenroom.engine.host_access import HostAccess
from greenroom.engine.net_watch import TableWatch
from greenroom.engine.netns import Namespace
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound
from greenroom.sockets import in_flight_to

WATCH_GRACE = 30.0  # seconds a remote watch's helper outlives the drain_timeout, at most


class Drainer:
    def __init__(self, engine: Engine, clock: Clock, helper_image: str, *, direct: bool = True) -> None:
        self.engine = engine
        self.clock = clock
        self.access = HostAccess(engine, direct=direct, helper_image=helper_image)

    def targets(self, containers: list[str], port: int, network: str) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        for name in containers:
            try:
                att = self.engine.container(name).attachment(network)
            except NotFound:
                continue
            if att is not None and att.ipv4 is not None:
                out.add((str(att.ipv4.ip), port))
        return out

    def drain(
        self,
        containers: list[str],
        port: int,
        network: str,
        proxy: str,
        timeout: float,
        progress: Callable[[str], None] | None = None,
    ) -> str:
        """Wait until the proxy has no connection to the containers left, at most
        `timeout`. When the proxy's connections cannot be watched, it waits out the whole
        `timeout`: failing the step would leave the old color serving nothing yet running
        (and the next drain would fail the same way), and stopping it at once would cut
        the streams still in flight. Waiting is what a drain that never empties does."""
        targets = self.targets(containers, port, network)
        if not targets:
            return "not attached: nothing to drain"
        start = self.clock.monotonic()
        blind: list[str] = []  # why the watch failed, once it has
        counts: list[int] = []
        ns: Namespace | None = None
        watch: TableWatch | None = None

        def drained() -> bool | None:
            if blind:
                return None  # waiting the timeout out
            try:
                if watch is not None:
                    count = in_flight_to(watch.sockets(), targets)
                else:
                    count = self.access.in_flight(seen, targets, ns)
            except GreenroomError as exc:
                blind.append(exc.message)
                if progress:
                    progress(f"could not watch the proxy's connections ({exc.message}): waiting")
                return None
            counts[:] = [count]
            if count == 0:
                return True
            if progress:
                progress(f"{count} connection(s) from the proxy still open")
            return None

        with contextlib.ExitStack() as stack:
            try:
                seen = self.engine.container(proxy)
                ns = self.access.namespace(seen)
                if ns is not None:
                    stack.callback(ns.close)
                else:  # out of reach from here: one helper watches for the whole drain
                    watch = stack.enter_context(
                        self.access.watch(seen, targets, self.clock, lifetime=timeout + WATCH_GRACE)
                    )
            except GreenroomError as exc:
                blind.append(exc.message)
            done = poll_until(self.clock, drained, timeout=timeout, interval=0.02 if ns is not None else 0.1)
        if blind:
            return (
                f"could not watch the proxy's connections ({blind[0]}); "
                f"waited out drain_timeout ({timeout:g}s)"
            )
        if done is None:
            return f"drain_timeout ({timeout:g}s) reached with {counts[-1]} connection(s) open"
        return f"drained in {self.clock.monotonic() - start:.2f}s"
