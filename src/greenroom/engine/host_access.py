"""Reach into a container on the engine's host: its kernel tables (routes, sockets) and its
network namespace. This is the one place that decides how.

Directly, when greenroom runs as root on the engine's own host (a local engine, `direct`
on, the container's pid visible here and really that container's): the kernel's own text
at /proc/<pid>/net/*, netlink and sockets opened inside the container's namespace; no
process is started. Otherwise, or when that fails: through the engine, a short-lived
helper container sharing the target's network namespace cats /proc/net/* of that same
namespace. Either way the text is the kernel's, parsed by the pure routes.py and sockets.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from greenroom.clock import Clock
from greenroom.engine.model import ContainerInfo
from greenroom.engine.net_watch import TableWatch
from greenroom.engine.netns import Namespace, pid_is_container
from greenroom.engine.protocol import Engine
from greenroom.errors import RouteReadError
from greenroom.gateway.routes import RouteTable, parse_tables
from greenroom.sockets import (
    NETLINK_SOCK_DIAG,
    Socket,
    diag_request,
    in_flight_to,
    mentioning,
    parse_diag,
    parse_tcp,
)

DEFAULT_HELPER_IMAGE = "busybox:stable"
SEPARATOR = "--greenroom-file--"


def helper_image() -> str:
    return os.environ.get("GREENROOM_HELPER_IMAGE") or DEFAULT_HELPER_IMAGE


class HostAccess:
    """One engine's containers, reached directly where greenroom can, else through the engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        direct: bool = True,
        helper_image: str | None = None,
        proc: Path = Path("/proc"),
    ) -> None:
        self.engine = engine
        self.direct = direct
        self.helper_image = helper_image
        self.proc = proc

    @property
    def reaches_in(self) -> bool:
        """Whether containers' namespaces may be entered from here (else: the engine only)."""
        return self.direct and self.engine.is_local

    def namespace(self, container: ContainerInfo) -> Namespace | None:
        """The container's network namespace, held open; None when out of reach from here."""
        return Namespace.of(container, self.reaches_in)

    # -- /proc/net files -------------------------------------------------------------------

    def net_files(
        self, container: ContainerInfo, names: Sequence[str], *, via: str = "auto"
    ) -> dict[str, str]:
        """The text of /proc/net/<name> in the container's namespace for each name ("" when absent)."""
        if not container.running:
            raise RouteReadError(
                f"container {container.name} is not running: it has no network namespace to read",
                hint=f"start it (docker start {container.name}) and try again",
            )
        if via != "engine" and self.engine.is_local and (self.direct or via == "proc"):
            found = self._proc_files(container, names)
            if found is not None:
                return found
            if via == "proc":
                raise RouteReadError(
                    f"/proc/{container.pid}/net of container {container.name} is not readable here",
                    hint="run greenroom on the engine's host as root, or use --routes-via engine",
                )
        return self._helper_files(container, names)

    def routes(self, container: ContainerInfo, *, via: str = "auto") -> RouteTable:
        found = self.net_files(container, ("route", "ipv6_route"), via=via)
        return parse_tables(found["route"], found["ipv6_route"])

    def _proc_files(self, container: ContainerInfo, names: Sequence[str]) -> dict[str, str] | None:
        """None when that pid is not visible here (another host, another pid namespace) or
        is not that container's."""
        if not container.pid or not pid_is_container(container.pid, container.id, self.proc):
            return None
        base = self.proc / str(container.pid) / "net"
        out: dict[str, str] = {}
        for name in names:
            try:
                out[name] = (base / name).read_text()
            except FileNotFoundError:
                out[name] = ""
            except OSError:
                return None
        return out

    def _helper_files(self, container: ContainerInfo, names: Sequence[str]) -> dict[str, str]:
        script = "; ".join(f"cat /proc/net/{n} 2>/dev/null; echo {SEPARATOR}" for n in names)
        text = self.engine.run_helper(
            self.helper_image or helper_image(),
            ["sh", "-c", script + "; true"],
            network_mode=f"container:{container.id}",
        )
        parts = text.split(SEPARATOR + "\n")
        return {name: parts[i] if i < len(parts) else "" for i, name in enumerate(names)}

    # -- sockets ---------------------------------------------------------------------------

    def in_flight(
        self, container: ContainerInfo, targets: set[tuple[str, int]], ns: Namespace | None = None
    ) -> int:
        """Connections of the container open or opening to any of `targets`: asked of the
        kernel by netlink inside `ns` when given, else read from its TCP tables."""
        if ns is not None:
            try:
                return in_flight_to(ask_kernel(ns), targets)
            except OSError:
                pass  # no sock_diag here: read the tables instead
        files = self.net_files(container, ("tcp", "tcp6"))
        return in_flight_to(parse_tcp(mentioning(files["tcp"] + "\n" + files["tcp6"], targets)), targets)

    def watch(
        self, container: ContainerInfo, targets: set[tuple[str, int]], clock: Clock, lifetime: float
    ) -> TableWatch:
        """For repeated in-flight counts where the namespace is out of reach: one helper
        container for the whole watch (enter it as a context), not one per count."""
        return TableWatch(
            self.engine, container.id, targets, self.helper_image or helper_image(), clock, lifetime=lifetime
        )


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
