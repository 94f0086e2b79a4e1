"""Draining: wait until the proxy's connections to the old version are gone.

The proxy keeps no idle connections to apps (no upstream keep-alive), so every
connection in the proxy's own table to an old container's address and port is a request
or a stream still in flight, or one still being opened (its SYN retried). The proxy's
view is the one that counts: the app's side cannot see a SYN it dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from greenroom.clock import Clock
from greenroom.engine.client import Engine
from greenroom.engine.model import ContainerInfo
from greenroom.engine.route_reader import read_net_files
from greenroom.errors import GreenroomError, NotFound
from greenroom.sockets import in_flight_to, mentioning, parse_tcp


class Drainer:
    def __init__(self, engine: Engine, clock: Clock, helper_image: str) -> None:
        self.engine = engine
        self.clock = clock
        self.helper_image = helper_image

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

    def in_flight(self, proxy: ContainerInfo, targets: set[tuple[str, int]]) -> int:
        files = read_net_files(self.engine, proxy, ("tcp", "tcp6"), image=self.helper_image)
        text = mentioning(files["tcp"] + "\n" + files["tcp6"], targets)
        return in_flight_to(parse_tcp(text), targets)

    def drain(
        self,
        containers: list[str],
        port: int,
        network: str,
        proxy: str,
        timeout: float,
        progress: Callable[[str], None] | None = None,
    ) -> str:
        targets = self.targets(containers, port, network)
        if not targets:
            return "not attached: nothing to drain"
        start = self.clock.monotonic()
        deadline = start + timeout
        try:
            seen = self.engine.container(proxy)
            count = self.in_flight(seen, targets)
            while count > 0:
                if progress:
                    progress(f"{count} connection(s) from the proxy still open")
                if self.clock.monotonic() >= deadline:
                    return f"drain_timeout ({timeout:g}s) reached with {count} connection(s) open"
                self.clock.sleep(0.1)
                count = self.in_flight(seen, targets)
        except GreenroomError as exc:
            return f"could not watch the proxy's connections ({exc.message}); waited nothing"
        return f"drained in {self.clock.monotonic() - start:.2f}s"
