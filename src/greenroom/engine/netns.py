"""Sockets opened inside a local container's network namespace.

When greenroom runs as root on the engine's own host (a unix socket, the container's pid
visible here and really that container's), it can open a socket in the container's
network namespace and reach the container's own addresses without any helper container:
setns(2) applies to the calling thread only, and a socket stays in the namespace it was
created in. Anything else (a remote engine, another pid namespace, no privilege) answers
None and the caller falls back to a helper container on the engine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import http.client
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

from greenroom.engine.model import ContainerInfo

CLONE_NEWNET = 0x40000000


def pid_is_container(pid: int, container_id: str, proc: Path = Path("/proc")) -> bool:
    """True when `pid` is visible here and belongs to that container (its cgroup says so)."""
    try:
        cgroup = (proc / str(pid) / "cgroup").read_text()
    except OSError:
        return False
    return container_id in cgroup


@functools.cache
def _setns() -> Callable[[int, int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return cast(Callable[[int, int], int], libc.setns)
    except (OSError, AttributeError):
        return None


class Namespace:
    """The network namespace of one running local container, held open by a descriptor
    (so the pid may exit without this pointing at a recycled one)."""

    def __init__(self, fd: int, container: str) -> None:
        self.fd = fd
        self.container = container

    @classmethod
    def of(cls, container: ContainerInfo, engine_is_local: bool) -> Namespace | None:
        if not engine_is_local or not container.running or not container.pid:
            return None
        if _setns() is None or not pid_is_container(container.pid, container.id):
            return None
        try:
            fd = os.open(f"/proc/{container.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        ns = cls(fd, container.name)
        if not pid_is_container(container.pid, container.id):  # the pid was reused meanwhile
            ns.close()
            return None
        try:
            ns.socket().close()  # privileged enough to enter it?
        except OSError:
            ns.close()
            return None
        return ns

    def socket(
        self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, proto: int = 0
    ) -> socket.socket:
        """A new socket that lives in this namespace."""
        setns = _setns()
        if setns is None:
            raise OSError("setns(2) is not available")
        made: list[socket.socket | BaseException] = []

        def enter() -> None:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if setns(self.fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {self.container}: {os.strerror(err)}")
                try:
                    made.append(socket.socket(family, kind, proto))
                finally:
                    setns(home, CLONE_NEWNET)
            except BaseException as exc:
                made.append(exc)
            finally:
                os.close(home)

        worker = threading.Thread(target=enter, name="greenroom-netns")
        worker.start()
        worker.join()
        result = made[0] if made else OSError("setns worker did not run")
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class NamespaceConnection(http.client.HTTPConnection):
    """HTTP to an address as seen from inside `ns` (its own loopback included)."""

    def __init__(self, ns: Namespace, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self) -> None:
        sock = self._ns.socket()
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
