"""ssh:// engines: the Engine API spoken through the user's own OpenSSH client.

Why this transport, and not the Docker SDK's:

* Robust. The SDK's paramiko transport reads ~/.ssh/config only in part (it dialled port 22
  for a host whose `Port 2222` is in the config, refused a host key that `UserKnownHostsFile`
  lists) and needs paramiko; its `use_ssh_client=True` mode emulates a socket over pipes and
  ended in BrokenPipeError. We do what the Docker CLI does instead: run
  `ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio` and speak HTTP over its stdin
  and stdout. The user's ssh resolves everything exactly as a plain `ssh HOST` would: keys,
  agent, ~/.ssh/config (Host aliases, Port, User, ProxyJump, IdentityFile), known hosts,
  certificates. `BatchMode=yes` makes it fail instead of prompting; an unknown host key
  is refused by ssh itself and reported as a greenroom error that names the host and says
  how to add the key.
* Fast. Each pooled HTTP connection owns one ssh process, kept open between requests (HTTP
  keep-alive through dial-stdio), so a deploy pays one ssh handshake per pooled connection,
  not one per API call. No ControlMaster is needed (`ControlMaster=no`: we never start a
  master that outlives us; a master the user already runs is still used).
* Real sockets. The ssh process gets one end of a socketpair as both stdin and stdout; the
  HTTP client holds the other end. No copying threads, and everything that needs a real
  socket (timeouts, select, the SDK's raw-stream readers for attach/exec/logs) works.
* Owned processes. ssh runs in its own session (Ctrl-C in the terminal does not kill it
  in the middle of an interrupted deploy's clean-up); it exits when its socket closes,
  and closing the client (or exiting) closes every socket.
"""

from __future__ import annotations

import contextlib
import http.client
import shlex
import socket
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Sequence
from typing import IO, Any

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool
from docker.transport.basehttpadapter import BaseHTTPAdapter

from greenroom.engine.ssh_command import (
    HOST_KEY_UNKNOWN,
    SSH_COMMAND_ENV,
    SshTarget,
    explain_ssh_failure,
    resolve_with_ssh_g,
)
from greenroom.errors import EngineHung, EngineUnreachable

LOGIN_FLOOR = 10.0  # seconds an ssh login may take at least (a busy machine), whatever the bound

# -- one pooled connection: one ssh process ---------------------------------------------------


def _reap(proc: subprocess.Popen[bytes], sock: socket.socket, log: IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        sock.close()
    if proc.poll() is None:
        try:
            proc.wait(timeout=0.5)  # ssh ends by itself once its stdin closes
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with contextlib.suppress(OSError):
        log.close()


class SshConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket is bridged to `ssh HOST docker system dial-stdio`."""

    def __init__(
        self,
        host: str = "localhost",
        port: int | None = None,
        *,
        argv: Sequence[str],
        target: SshTarget,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.argv = list(argv)
        self.target = target
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.last_exit: tuple[int | None, str] = (None, "")  # of the last ssh process: code, stderr
        self.login_timeout: float | None = None

    def connect(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # ssh's stderr goes to a file, not a pipe: nothing to drain, and a master that
        # ssh might fork cannot hold a pipe of ours open.
        stderr = tempfile.TemporaryFile(prefix="greenroom-ssh-")  # noqa: SIM115 (closed by _reap)
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=stderr,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            stderr.close()
            raise EngineUnreachable(
                f"cannot run ssh ({exc})",
                where=self.target.display,
                hint=f"install the OpenSSH client, or name the ssh program in {SSH_COMMAND_ENV}",
            ) from exc
        finally:
            theirs.close()
        self.proc, self._stderr = proc, stderr
        self._finalizer = weakref.finalize(self, _reap, proc, ours, stderr)
        # the login may take longer than a call (a busy machine): urllib3 sets the read timeout after
        timeout = max(self.timeout, LOGIN_FLOOR) if isinstance(self.timeout, int | float) else None
        self.login_timeout = timeout
        ours.settimeout(timeout)
        try:
            self._handshake(ours)
        except BaseException:
            self._finalizer()
            raise
        self.sock = ours

    def _handshake(self, sock: socket.socket) -> None:
        """One `GET /_ping` before the connection is used: ssh's login and the remote
        dial-stdio are done (or failed, with ssh's own words) before a real request is sent."""
        try:
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nUser-Agent: greenroom\r\n\r\n")
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            resp.read()
            if resp.status != 200:
                raise EngineUnreachable(
                    f"the Docker engine on {self.target.host} answered /_ping with {resp.status}",
                    where=self.target.display,
                )
            if resp.will_close:
                raise http.client.RemoteDisconnected("the engine closed the connection after /_ping")
        except TimeoutError:
            raise self.failure(wait=0) from None
        except (OSError, http.client.HTTPException):
            raise self.failure() from None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        """As HTTPConnection's; when ssh itself failed mid-request (the connection dropped,
        a session killed), say so in ssh's words instead of "connection aborted"."""
        try:
            return super().getresponse(*args, **kwargs)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if self.proc is not None:  # still open: let ssh finish, then look
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=2)
                self.close()
            code, text = self.last_exit
            if code not in (None, 0) and text.strip():
                raise explain_ssh_failure(self.target, code, text) from None
            raise

    def ssh_stderr(self) -> str:
        """What ssh printed ("" once the file is closed: a spare login that failed is closed
        by its own thread while the pool may close it too)."""
        try:
            if self._stderr is None or self._stderr.closed:
                return ""
            self._stderr.seek(0)
            data = self._stderr.read()[-8192:]
        except (ValueError, OSError):  # closed by the other side in between
            return ""
        return data.decode(errors="replace")

    def failure(self, *, wait: float = 5.0) -> EngineUnreachable:
        """Why this connection failed, from the ssh process's exit status and stderr."""
        code: int | None = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=wait) if wait else self.proc.poll()
            except subprocess.TimeoutExpired:
                code = None
        stderr = self.ssh_stderr()
        if code is None and not stderr.strip():
            return EngineHung(
                f"no answer from the Docker engine on {self.target.host} through ssh within "
                f"{self.login_timeout or 0:g} s",
                where=self.target.display,
                hint=f"try `{shlex.join(self.argv)}` by hand",
                seconds=self.login_timeout,
            )
        resolved = resolve_with_ssh_g(self.argv) if HOST_KEY_UNKNOWN.search(stderr) else None
        return explain_ssh_failure(self.target, code, stderr, resolved)

    def close(self) -> None:
        sock, proc = self.sock, self.proc
        text = self.ssh_stderr() if proc is not None else ""
        try:
            super().close()
        finally:
            if self._finalizer is not None:
                self._finalizer()  # closes the socket (again), reaps ssh
                self._finalizer = None
            elif sock is not None:
                sock.close()
            if proc is not None:
                self.last_exit = (proc.returncode, text)
            self.proc = None
            self._stderr = None

    @property
    def ssh_pid(self) -> int | None:
        return self.proc.pid if self.proc else None


class SshConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    """urllib3's pool of SshConnections, plus one spare connection made in the background.

    Requests that take over their connection (exec and attach upgrade it to a raw stream,
    which ends with the connection) leave nothing to reuse, so each would wait for an ssh
    login (~0.3 s). Once a second connection has been needed, the pool keeps one spare
    logged in ahead of time, and a new connection is usually ready at once."""

    ConnectionCls = SshConnection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made: weakref.WeakSet[SshConnection] = weakref.WeakSet()
        self._spare_lock = threading.Lock()
        self._spare: SshConnection | None = None
        self._spare_wanted = False  # set once a second login has been needed
        self._spare_busy = False
        self._logins = 0
        self._closed = False

    def _make(self) -> SshConnection:
        conn = super()._new_conn()
        assert isinstance(conn, SshConnection)
        self.made.add(conn)
        return conn

    def _new_conn(self) -> SshConnection:
        return self._make()

    def _get_conn(self, timeout: float | None = None) -> SshConnection:
        """A pooled connection; when it would have to log in first (new, or dropped after
        an exec took it over), the spare instead if one is ready."""
        conn = super()._get_conn(timeout)
        assert isinstance(conn, SshConnection)
        if conn.sock is not None:
            return conn
        with self._spare_lock:
            self._logins += 1
            self._spare_wanted = self._spare_wanted or self._logins >= 2
            spare, self._spare = self._spare, None
        if spare is not None and not spare.is_connected:
            spare.close()  # went away while waiting
            spare = None
        self._refill()
        return spare if spare is not None else conn

    def _refill(self) -> None:
        with self._spare_lock:
            if not self._spare_wanted or self._spare is not None or self._spare_busy or self._closed:
                return
            self._spare_busy = True
        threading.Thread(target=self._login_spare, name="greenroom ssh spare", daemon=True).start()

    def _login_spare(self) -> None:
        conn: SshConnection | None = self._make()
        try:
            assert conn is not None
            conn.connect()
        except Exception:  # the next real request reports the failure itself
            assert conn is not None
            conn.close()
            conn = None
        with self._spare_lock:
            self._spare_busy = False
            if conn is not None and not self._closed and self._spare is None:
                self._spare, conn = conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close idle connections, the spare, and those still checked out (a stream nobody
        finished): no ssh process outlives the client."""
        with self._spare_lock:
            self._closed = True
            self._spare = None
        super().close()
        for conn in list(self.made):
            conn.close()


class SshAdapter(BaseHTTPAdapter):
    """requests adapter: every URL under its prefix goes through one pool of ssh connections."""

    def __init__(
        self, url: str, *, argv: Sequence[str], timeout: float = 60, max_pool_size: int = 10
    ) -> None:
        super().__init__()
        self.target = SshTarget.parse(url)
        self.argv = list(argv)
        self._lock = threading.Lock()
        self.pool = SshConnectionPool(
            "localhost",
            maxsize=max_pool_size,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            argv=self.argv,
            target=self.target,
        )

    def get_connection(self, url: str | bytes, proxies: Any = None) -> SshConnectionPool:
        return self.pool

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return str(request.path_url)  # no host part: the ssh command names the host

    def close(self) -> None:
        super().close()
        self.pool.close()

    def live_processes(self) -> list[int]:
        """pids of the ssh processes of idle pooled connections (for tests and diagnostics)."""
        out = []
        queue = self.pool.pool
        if queue is not None:
            with queue.mutex:
                for conn in list(queue.queue):
                    if conn is not None and conn.ssh_pid is not None:
                        out.append(conn.ssh_pid)
        return out
