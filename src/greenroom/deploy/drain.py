"""Draining: wait until the proxy's connections to the old version are gone.

Every connection in the proxy's own table to an old container's address and port is a
request or a stream still in flight, one still being opened (its SYN retried), or an idle
one in the proxy's upstream pool. After the switch nothing new goes to the old color's
pools, and nginx closes their idle connections after `upstream_idle_ms` (1 s), so those
hold a drain for at most that long, never for `drain_timeout`. The proxy's view is the
one that counts: the app's side cannot see a SYN it dropped.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from greenroom.clock import Clock, poll_until
from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import ContainerInfo
from greenroom.engine.netns import Namespace
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound
from greenroom.sockets import (
    NETLINK_SOCK_DIAG,
    Socket,
    diag_request,
    in_flight_to,
    mentioning,
    parse_diag,
    parse_tcp,
)


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

    def in_flight(
        self, proxy: ContainerInfo, targets: set[tuple[str, int]], ns: Namespace | None = None
    ) -> int:
        if ns is not None:
            try:
                return in_flight_to(ask_kernel(ns), targets)
            except OSError:
                pass  # no sock_diag here: read the tables instead
        files = HostAccess(self.engine, helper_image=self.helper_image).net_files(proxy, ("tcp", "tcp6"))
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

        def drained() -> bool | None:
            if blind:
                return None  # waiting the timeout out
            try:
                count = self.in_flight(seen, targets, ns)
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

        try:
            try:
                seen = self.engine.container(proxy)
            except GreenroomError as exc:
                blind.append(exc.message)
            else:
                ns = Namespace.of(seen, self.engine.is_local)
            done = poll_until(self.clock, drained, timeout=timeout, interval=0.02 if ns is not None else 0.1)
        finally:
            if ns is not None:
                ns.close()
        if blind:
            return (
                f"could not watch the proxy's connections ({blind[0]}); "
                f"waited out drain_timeout ({timeout:g}s)"
            )
        if done is None:
            return f"drain_timeout ({timeout:g}s) reached with {counts[-1]} connection(s) open"
        return f"drained in {self.clock.monotonic() - start:.2f}s"


def ask_kernel(ns: Namespace) -> list[Socket]:
    """The open and opening TCP sockets of a namespace, by netlink sock_diag: the kernel
    filters by state, so the thousands in TIME_WAIT under load are never even listed."""
    out: list[Socket] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        link = ns.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        try:
            link.settimeout(2.0)
            link.sendto(diag_request(family), (0, 0))
            done = False
            while not done:
                found, done = parse_diag(link.recv(1 << 16))
                out.extend(found)
        finally:
            link.close()
    return out
