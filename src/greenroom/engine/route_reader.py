"""Read a container's kernel tables (routes, sockets) without any tool inside it.

Local engine: the kernel's own text at /proc/<pid>/net/* (the namespace of that pid),
after checking that the pid really is that container's. Otherwise, or when that fails:
a short-lived helper container sharing the target's network namespace cats
/proc/net/* of that same namespace.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from greenroom.engine.model import ContainerInfo
from greenroom.engine.netns import pid_is_container
from greenroom.engine.protocol import Engine
from greenroom.errors import RouteReadError
from greenroom.routes import RouteTable, parse_tables

DEFAULT_HELPER_IMAGE = "busybox:stable"
SEPARATOR = "--greenroom-file--"


def helper_image() -> str:
    return os.environ.get("GREENROOM_HELPER_IMAGE") or DEFAULT_HELPER_IMAGE


def read_local_files(
    container: ContainerInfo, names: Sequence[str], proc: Path = Path("/proc")
) -> dict[str, str] | None:
    """/proc/<pid>/net/<name> for each name ("" when absent), or None when that pid is not
    visible here (another host, another pid namespace) or is not that container's."""
    if not container.pid or not pid_is_container(container.pid, container.id, proc):
        return None
    base = proc / str(container.pid) / "net"
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = (base / name).read_text()
        except FileNotFoundError:
            out[name] = ""
        except OSError:
            return None
    return out


def read_files_via_engine(
    engine: Engine, container: ContainerInfo, names: Sequence[str], image: str | None = None
) -> dict[str, str]:
    script = "; ".join(f"cat /proc/net/{n} 2>/dev/null; echo {SEPARATOR}" for n in names)
    text = engine.run_helper(
        image or helper_image(), ["sh", "-c", script + "; true"], network_mode=f"container:{container.id}"
    )
    parts = text.split(SEPARATOR + "\n")
    return {name: parts[i] if i < len(parts) else "" for i, name in enumerate(names)}


def read_net_files(
    engine: Engine,
    container: ContainerInfo,
    names: Sequence[str],
    *,
    method: str = "auto",
    image: str | None = None,
) -> dict[str, str]:
    if not container.running:
        raise RouteReadError(
            f"container {container.name} is not running: it has no network namespace to read",
            hint=f"start it (docker start {container.name}) and try again",
        )
    if method in ("auto", "proc") and engine.is_local:
        found = read_local_files(container, names)
        if found is not None:
            return found
        if method == "proc":
            raise RouteReadError(
                f"/proc/{container.pid}/net of container {container.name} is not readable here",
                hint="run greenroom on the engine's host as root, or use --routes-via engine",
            )
    return read_files_via_engine(engine, container, names, image)


def read_local(container: ContainerInfo, proc: Path = Path("/proc")) -> RouteTable | None:
    found = read_local_files(container, ("route", "ipv6_route"), proc)
    return None if found is None else parse_tables(found["route"], found["ipv6_route"])


def read_via_engine(engine: Engine, container: ContainerInfo, image: str | None = None) -> RouteTable:
    found = read_files_via_engine(engine, container, ("route", "ipv6_route"), image)
    return parse_tables(found["route"], found["ipv6_route"])


def read_routes(
    engine: Engine, container: ContainerInfo, *, method: str = "auto", image: str | None = None
) -> RouteTable:
    found = read_net_files(engine, container, ("route", "ipv6_route"), method=method, image=image)
    return parse_tables(found["route"], found["ipv6_route"])
