"""Read a container's routing table without any tool inside the container.

Local engine: the kernel's own text at /proc/<pid>/net/route (the namespace of that
pid), after checking that the pid really is that container's. Otherwise, or when that
fails: a short-lived helper container sharing the target's network namespace cats
/proc/net/route of that same namespace.
"""

from __future__ import annotations

import os
from pathlib import Path

from greenroom.engine.client import Engine
from greenroom.engine.model import ContainerInfo
from greenroom.errors import RouteReadError
from greenroom.routes import SEPARATOR, RouteTable, parse_combined, parse_tables

DEFAULT_HELPER_IMAGE = "busybox:stable"


def helper_image() -> str:
    return os.environ.get("GREENROOM_HELPER_IMAGE") or DEFAULT_HELPER_IMAGE


def _pid_is_container(pid: int, container_id: str, proc: Path) -> bool:
    try:
        cgroup = (proc / str(pid) / "cgroup").read_text()
    except OSError:
        return False
    return container_id in cgroup


def read_local(container: ContainerInfo, proc: Path = Path("/proc")) -> RouteTable | None:
    """The routes from /proc/<pid>/net, or None when that pid is not visible here."""
    if not container.pid or not _pid_is_container(container.pid, container.id, proc):
        return None
    base = proc / str(container.pid) / "net"
    try:
        ipv4 = (base / "route").read_text()
    except OSError:
        return None
    try:
        ipv6 = (base / "ipv6_route").read_text()
    except OSError:
        ipv6 = ""
    return parse_tables(ipv4, ipv6)


def read_via_engine(engine: Engine, container: ContainerInfo, image: str | None = None) -> RouteTable:
    script = f"cat /proc/net/route; echo {SEPARATOR}; cat /proc/net/ipv6_route 2>/dev/null; true"
    text = engine.run_helper(
        image or helper_image(),
        ["sh", "-c", script],
        network_mode=f"container:{container.id}",
    )
    return parse_combined(text)


def read_routes(engine: Engine, container: ContainerInfo, *, method: str = "auto",
                image: str | None = None) -> RouteTable:
    if not container.running:
        raise RouteReadError(
            f"container {container.name} is not running: it has no routes",
            hint=f"start it (docker start {container.name}) and try again",
        )
    if method in ("auto", "proc") and engine.is_local:
        table = read_local(container)
        if table is not None:
            return table
        if method == "proc":
            raise RouteReadError(
                f"/proc/{container.pid}/net/route of container {container.name} is not readable here",
                hint="run greenroom on the engine's host as root, or use --routes-via engine",
            )
    return read_via_engine(engine, container, image)
