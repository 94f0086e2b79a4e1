"""Draining: wait until the proxy's connections to the old version are gone.

The proxy keeps no idle connections to apps (no upstream keep-alive), so every
established connection from the proxy's address to the app's port is a request or a
stream still in flight. They are read from the containers' own /proc/net/tcp.
"""

from __future__ import annotations

from collections.abc import Callable

from greenroom.clock import Clock
from greenroom.engine.client import Engine
from greenroom.engine.route_reader import read_net_files
from greenroom.errors import GreenroomError
from greenroom.sockets import established_to, parse_tcp


class Drainer:
    def __init__(self, engine: Engine, clock: Clock, helper_image: str) -> None:
        self.engine = engine
        self.clock = clock
        self.helper_image = helper_image

    def in_flight(self, containers: list[str], port: int, peer: str | None) -> int:
        total = 0
        for name in containers:
            try:
                c = self.engine.container(name)
                if not c.running:
                    continue
                files = read_net_files(self.engine, c, ("tcp", "tcp6"), image=self.helper_image)
            except GreenroomError:
                continue
            socks = parse_tcp(files["tcp"]) + parse_tcp(files["tcp6"])
            total += established_to(socks, port, {peer} if peer else None)
        return total

    def drain(
        self,
        containers: list[str],
        port: int,
        network: str,
        proxy: str,
        timeout: float,
        progress: Callable[[str], None] | None = None,
    ) -> str:
        peer = None
        try:
            att = self.engine.container(proxy).attachment(network)
            peer = str(att.ipv4.ip) if att is not None and att.ipv4 is not None else None
        except GreenroomError:
            pass
        start = self.clock.monotonic()
        deadline = start + timeout
        count = self.in_flight(containers, port, peer)
        while count > 0:
            if progress:
                progress(f"{count} connection(s) from the proxy still open")
            if self.clock.monotonic() >= deadline:
                return f"drain_timeout ({timeout:g}s) reached with {count} connection(s) open"
            self.clock.sleep(0.2)
            count = self.in_flight(containers, port, peer)
        return f"drained in {self.clock.monotonic() - start:.2f}s"
