"""HTTP calls to the proxy's own listeners (the admin API, the public listener), made at
127.0.0.1 inside the proxy container.

Two ways in, same answers. On the engine's own host (root, a unix socket): a socket opened
in the proxy's network namespace, no process started. Otherwise: one `curl` by exec for
a whole batch of requests. A request that gets no answer has status 0.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from enum import StrEnum

from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import ContainerInfo
from greenroom.engine.netns import Namespace, NamespaceConnection, pid_is_container
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound, ProxyError

UPSTREAM_HEADER = "X-Greenroom-Upstream"
_MARK = "--greenroom-reply "
_MARKED = re.compile(rf"\n{_MARK}(\d{{3}}) ?(\S*)\n")


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no answer
    body: str
    upstream: str = ""  # the X-Greenroom-Upstream header, when the proxy sets it


class AdminReach(StrEnum):
    """How the admin calls reached the proxy."""

    DIRECT = "direct"  # a socket opened in the proxy's network namespace
    EXEC = "exec"  # `docker exec curl` in the proxy


class ProxyClient:
    def __init__(self, engine: Engine, container: str, *, direct: bool = True) -> None:
        self.engine = engine
        self.container = container
        self.access = HostAccess(engine, direct=direct)
        self._ns: Namespace | None = None
        self._ns_of: tuple[str, int] = ("", 0)  # (container id, pid) the namespace belongs to
        self.last_mode: AdminReach | None = None  # how the last batch went

    def reset(self) -> None:
        """Forget the proxy's namespace (it was recreated or restarted)."""
        if self._ns is not None:
            self._ns.close()
        self._ns = None
        self._ns_of = ("", 0)

    def fetch(
        self,
        method: str,
        port: int,
        paths: list[str],
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        timeout: float = 10.0,
        idempotent: bool = True,
    ) -> list[Reply]:
        """One reply per path, in order, every request alike but for its path.
        `idempotent`: the requests may be sent again when the engine lost curl's output."""
        ns = self._namespace()
        if ns is not None:
            self.last_mode = AdminReach.DIRECT
            return [self._direct(ns, method, port, p, headers or {}, body, timeout) for p in paths]
        self.last_mode = AdminReach.EXEC
        return self._exec(method, port, paths, headers or {}, body, timeout, idempotent)

    # -- direct -------------------------------------------------------------------------

    def seen(self, info: ContainerInfo) -> None:
        """The proxy container as just inspected: saves inspecting it again to get in."""
        if self.access.reaches_in and (info.id, info.pid) != self._ns_of and info.running:
            self._enter(info)

    def _namespace(self) -> Namespace | None:
        if not self.access.reaches_in:
            return None
        cid, pid = self._ns_of
        if self._ns is not None and pid_is_container(pid, cid):
            return self._ns
        try:
            info = self.engine.container(self.container)
        except NotFound:
            self.reset()
            return None
        return self._enter(info)

    def _enter(self, info: ContainerInfo) -> Namespace | None:
        self.reset()
        self._ns = self.access.namespace(info)
        if self._ns is not None:
            self._ns_of = (info.id, info.pid)
        return self._ns

    @staticmethod
    def _direct(
        ns: Namespace,
        method: str,
        port: int,
        path: str,
        headers: dict[str, str],
        body: str | None,
        timeout: float,
    ) -> Reply:
        conn = NamespaceConnection(ns, "127.0.0.1", port, timeout)
        try:
            sent = dict(headers)
            if body is not None:
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body.encode() if body is not None else None, headers=sent)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            return Reply(resp.status, text, resp.getheader(UPSTREAM_HEADER, "") or "")
        except (OSError, http.client.HTTPException) as exc:
            return Reply(0, str(exc))
        finally:
            conn.close()

    # -- through the engine -------------------------------------------------------------

    def _exec(
        self,
        method: str,
        port: int,
        paths: list[str],
        headers: dict[str, str],
        body: str | None,
        timeout: float,
        idempotent: bool,
    ) -> list[Reply]:
        cmd = curl_command(method, port, paths, headers, body, timeout)
        code, out = self._run(cmd, port, timeout * len(paths))
        if code == 0 and not out.strip() and idempotent:
            # curl exits 0 only after printing a mark per request: its output was lost on
            # the way back (seen once over ssh, right after the connection froze and
            # resumed); the requests are safe to send again
            code, out = self._run(cmd, port, timeout * len(paths))
        replies = parse_curl_replies(out)
        if code == 0 and not out.strip():
            raise ProxyError(
                f"the engine returned none of curl's output for {len(paths)} request(s) to the "
                f"proxy's port {port} (curl exited 0): it was lost on the way back"
                + (", twice" if idempotent else " (the request was not sent again: it may have been done)"),
                where=f"{self.engine.host} {self.container}",
                hint="check the connection to the engine (ssh or TLS) and run the command again",
            )
        if len(replies) != len(paths):
            raise ProxyError(
                f"curl in the proxy answered {len(replies)} of {len(paths)} requests (exit {code}): "
                f"{out.strip()[-500:]}",
                where=f"{self.engine.host} {self.container}",
                hint="the proxy image needs curl 7.84 or later",
            )
        return replies

    def _run(self, cmd: list[str], port: int, runs: float) -> tuple[int, str]:
        try:
            return self.engine.exec(self.container, cmd, runs=runs)
        except GreenroomError as exc:
            raise ProxyError(
                f"cannot reach the proxy's listener on port {port}: {exc.message}",
                where=f"{self.engine.host} {self.container}",
                hint="`greenroom proxy status` shows the proxy; `greenroom proxy reboot` rebuilds it",
            ) from exc


def curl_command(
    method: str, port: int, paths: list[str], headers: dict[str, str], body: str | None, timeout: float
) -> list[str]:
    """One curl for a batch of requests to 127.0.0.1:port, each answer followed by a mark
    line with its status and upstream header."""
    cmd = ["curl", "-sS", "-m", f"{timeout:g}", "-X", method]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
    cmd += ["-w", f"\\n{_MARK}%{{http_code}} %header{{{UPSTREAM_HEADER.lower()}}}\\n"]
    return cmd + [f"http://127.0.0.1:{port}{p}" for p in paths]


def parse_curl_replies(out: str) -> list[Reply]:
    """The replies in the output of `curl_command`, in order (status 0: no answer)."""
    parts = _MARKED.split(out)
    return [Reply(int(parts[i + 1]), parts[i].strip(), parts[i + 2]) for i in range(0, len(parts) - 2, 3)]
