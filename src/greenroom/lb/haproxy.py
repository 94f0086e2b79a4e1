"""HAProxy's runtime API, the load-balancer adapter: the hand-off around one host.

Before a host's switch or proxy reboot greenroom sets its server to `drain` (HAProxy sends
it no new requests; requests under way finish), waits until the server has no sessions,
and afterwards sets it `ready` again. The API is reached where the user's HAProxy has it:

* a unix socket on this machine (`stats socket /run/haproxy/admin.sock level admin`),
* a TCP address (`stats socket ipv4@10.0.0.5:9999 level admin`),
* a unix socket on the LB host, over SSH: the user's own OpenSSH client runs
  `socat - UNIX-CONNECT:PATH` there (as HAProxy's documentation reaches it), with the same
  options, config and known hosts as ssh:// engines (engine/ssh_command.py).

Each command is one connection in HAProxy's non-interactive mode: send a line, read until
HAProxy closes. Every failure is a LoadBalancerError naming the API's address, the backend
and server, and what to do.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from greenroom.clock import Clock, SystemClock, poll_until
from greenroom.engine.ssh_command import SSH_COMMAND_ENV, SSH_CONFIG_ENV, SshTarget
from greenroom.errors import LoadBalancerError
from greenroom.lb import haproxy_text as text
from greenroom.lb.haproxy_text import ServerStat, ServerState

DEFAULT_TIMEOUT = 5.0  # seconds for one command, connection included
MAX_REPLY = 16 * 1024 * 1024  # `show stat` of a few thousand servers is a few MB
LEVEL_HINT = (
    "greenroom needs the runtime API at level admin: in haproxy.cfg's global section, "
    "e.g. `stats socket /run/haproxy/admin.sock mode 660 level admin`"
)


class RuntimeApi(Protocol):
    """Sends one command to HAProxy's runtime API and returns its reply."""

    @property
    def display(self) -> str: ...

    def send(self, command: str) -> str: ...


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise OSError("the reply is larger than 16 MB")
    return b"".join(chunks)


def _exchange(sock: socket.socket, target: str | tuple[str, int], command: str, display: str) -> str:
    try:
        with sock:
            sock.connect(target)
            sock.sendall(command.encode() + b"\n")
            return _read_all(sock).decode("utf-8", "replace")
    except TimeoutError:
        raise LoadBalancerError(
            f"HAProxy's runtime API did not answer `{command}` in time",
            where=display,
            hint="is HAProxy running, and is this its stats socket?",
        ) from None
    except FileNotFoundError:
        raise LoadBalancerError(
            "no socket there",
            where=display,
            hint="is HAProxy running? the path is its `stats socket` in haproxy.cfg's global section",
        ) from None
    except ConnectionRefusedError:
        raise LoadBalancerError(
            "the connection was refused: nothing listens there",
            where=display,
            hint="is HAProxy running, with a `stats socket ... level admin` at this address?",
        ) from None
    except PermissionError:
        raise LoadBalancerError(
            "not allowed to open HAProxy's admin socket",
            where=display,
            hint="run greenroom as a user the socket's `mode`/`user`/`group` in haproxy.cfg let in",
        ) from None
    except OSError as exc:
        raise LoadBalancerError(
            f"cannot talk to HAProxy's runtime API ({exc.strerror or exc})",
            where=display,
            hint="check the address and that HAProxy runs there",
        ) from exc


@dataclass(frozen=True)
class UnixSocketApi:
    path: str
    timeout: float = DEFAULT_TIMEOUT

    @property
    def display(self) -> str:
        return f"haproxy unix:{self.path}"

    def send(self, command: str) -> str:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        return _exchange(sock, self.path, command, self.display)


@dataclass(frozen=True)
class TcpApi:
    host: str
    port: int
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, address: str, timeout: float = DEFAULT_TIMEOUT) -> TcpApi:
        """HOST:PORT, an IPv6 host in brackets."""
        host, port = text.parse_tcp_address(address)
        return cls(host, port, timeout)

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"haproxy {host}:{self.port}"

    def send(self, command: str) -> str:
        try:
            family, kind, proto, _, target = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM
            )[0]
        except (socket.gaierror, UnicodeError) as exc:
            raise LoadBalancerError(
                f"cannot resolve {self.host!r} ({exc})", where=self.display, hint="check the LB's address"
            ) from None
        sock = socket.socket(family, kind, proto)
        sock.settimeout(self.timeout)
        return _exchange(sock, (str(target[0]), int(target[1])), command, self.display)


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class SshSocketApi:
    """A unix socket on the LB host, reached with `ssh HOST socat - UNIX-CONNECT:PATH`."""

    target: SshTarget
    path: str
    timeout: float = DEFAULT_TIMEOUT
    ssh: str = "ssh"
    config_file: str | None = None
    runner: Runner = subprocess.run

    @classmethod
    def of(
        cls, host: str, path: str, timeout: float = DEFAULT_TIMEOUT, environ: Mapping[str, str] | None = None
    ) -> SshSocketApi:
        """`host` as [ssh://][USER@]HOST[:PORT]; ssh and -F from the same variables as ssh:// engines."""
        env = os.environ if environ is None else environ
        url = host if host.startswith("ssh://") else f"ssh://{host}"
        return cls(
            SshTarget.parse(url),
            path,
            timeout,
            ssh=env.get(SSH_COMMAND_ENV) or "ssh",
            config_file=env.get(SSH_CONFIG_ENV) or None,
        )

    @property
    def display(self) -> str:
        return f"haproxy {self.target.display}:{self.path}"

    def argv(self) -> list[str]:
        remote = shlex.join(["socat", "-", f"UNIX-CONNECT:{self.path}"])
        return self.target.command(ssh=self.ssh, config_file=self.config_file, remote=[remote])

    def send(self, command: str) -> str:
        try:
            done = self.runner(
                self.argv(),
                input=command + "\n",
                capture_output=True,
                text=True,
                timeout=self.timeout + 10,  # ssh's own handshake on top
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise LoadBalancerError(
                f"no answer over SSH within {self.timeout + 10:g}s",
                where=self.display,
                hint=by_hand(self),
            ) from None
        except FileNotFoundError:
            raise LoadBalancerError(
                f"no ssh program {self.ssh!r} here", where=self.display, hint="install OpenSSH's client"
            ) from None
        if done.returncode != 0:
            raise ssh_failure(self, done.returncode, done.stderr)
        return done.stdout


def by_hand(api: SshSocketApi) -> str:
    return f"try `echo 'show info' | ssh {api.target.host} socat - UNIX-CONNECT:{api.path}` by hand"


def ssh_failure(api: SshSocketApi, returncode: int, stderr: str) -> LoadBalancerError:
    err = stderr.strip()
    last = err.splitlines()[-1] if err else f"exit {returncode}"
    host = api.target.host
    if "host key" in err.lower() or "Host key verification failed" in err:
        return LoadBalancerError(
            f"ssh refused {host}'s host key ({last}); greenroom never accepts an unknown host key",
            where=api.display,
            hint=f"check its fingerprint and add it to known_hosts (`ssh {host}` once by hand)",
        )
    if returncode == 127 or "socat: not found" in err or "command not found" in err:
        return LoadBalancerError(
            f"socat is not installed on {host}",
            where=api.display,
            hint=f"install it there (Debian: apt-get install socat); then {by_hand(api)}",
        )
    socat = "socat" in err  # socat's own errors name it; ssh's start with "ssh:"
    if socat and ("No such file" in err or "Connection refused" in err):
        return LoadBalancerError(
            f"no HAProxy admin socket at {api.path} on {host} ({last})",
            where=api.display,
            hint="is HAProxy running there? the path is its `stats socket` in haproxy.cfg",
        )
    if socat and "Permission denied" in err:
        return LoadBalancerError(
            f"the SSH user may not open {api.path} on {host} ({last})",
            where=api.display,
            hint="log in as a user the socket's mode/user/group allow, e.g. the haproxy group",
        )
    return LoadBalancerError(
        f"cannot reach HAProxy's runtime API over SSH ({last})",
        where=api.display,
        hint=by_hand(api),
    )


class HAProxy:
    """drain / wait_idle / ready of one backend's servers through the runtime API."""

    def __init__(self, api: RuntimeApi, clock: Clock | None = None) -> None:
        self.api = api
        self.clock = clock or SystemClock()

    @property
    def where(self) -> str:
        return self.api.display

    def drain(self, backend: str, server: str) -> None:
        self._set(backend, server, "drain")

    def ready(self, backend: str, server: str) -> None:
        self._set(backend, server, "ready")

    def servers(self, backend: str) -> list[ServerState]:
        reply = self._send(text.show_servers_state(backend), backend)
        try:
            return text.parse_servers_state(reply)
        except text.ReplyError as exc:
            raise self._refused(str(exc), backend) from None

    def state(self, backend: str, server: str) -> ServerState:
        for found in self.servers(backend):
            if found.server == server:
                return found
        raise self._no_server(backend, server)

    def stat(self, backend: str, server: str) -> ServerStat:
        reply = self._send(text.show_stat(backend), backend)
        try:
            stats = text.parse_stat(reply)
        except text.ReplyError as exc:
            raise self._refused(str(exc), backend) from None
        for found in stats:
            if found.server == server:
                return found
        raise self._no_server(backend, server)

    def wait_idle(self, backend: str, server: str, timeout: float, interval: float = 0.1) -> ServerStat:
        """Wait until the server has no sessions and nothing queued; its last statistics."""
        last: list[ServerStat] = []

        def idle() -> ServerStat | None:
            last[:] = [self.stat(backend, server)]
            return last[0] if last[0].idle else None

        done = poll_until(self.clock, idle, timeout=timeout, interval=interval)
        if done is not None:
            return done
        busy = last[0]
        raise LoadBalancerError(
            f"server {backend}/{server} still has {busy.sessions} session(s) and {busy.queued} queued "
            f"request(s) after {timeout:g}s of draining",
            where=self.where,
            hint="long requests or streams are still running on it: allow them longer "
            "(load_balancer.haproxy.drain_timeout), or see them with `show sess` on the runtime API; "
            f"`set server {backend}/{server} state ready` puts it back",
        )

    # --- replies --------------------------------------------------------------------------

    def _send(self, command: str, backend: str, server: str | None = None) -> str:
        try:
            return self.api.send(command)
        except LoadBalancerError as exc:
            on = f"server {backend}/{server}" if server else f"backend {backend}"
            raise LoadBalancerError(f"{exc.message} (for {on})", where=exc.where, hint=exc.hint) from exc

    def _set(self, backend: str, server: str, state: text.State) -> None:
        try:
            command = text.set_state(backend, server, state)
        except ValueError as exc:
            raise LoadBalancerError(str(exc), where=self.where) from None
        error = text.reply_error(self._send(command, backend, server))
        if error is not None:
            raise self._refused(error, backend, server, command)

    def _refused(
        self, error: str, backend: str, server: str | None = None, command: str = ""
    ) -> LoadBalancerError:
        said = error.strip().splitlines()[0]
        if said in ("No such backend.", "Can't find backend.", "No such proxy."):
            known = self._known_backends()
            return LoadBalancerError(
                f"HAProxy has no backend {backend!r} ({said})",
                where=self.where,
                hint=f"HAProxy's backends: {', '.join(known) or 'none'}; "
                "set load_balancer.haproxy.backend to the one whose servers are the hosts",
            )
        if said == "No such server." and server is not None:
            return self._no_server(backend, server)
        if said.startswith("Permission denied") or said.startswith("Unknown command"):
            return LoadBalancerError(
                f"HAProxy refused `{command or 'the command'}`: {said}",
                where=self.where,
                hint=LEVEL_HINT,
            )
        on = f"{backend}/{server}" if server else backend
        return LoadBalancerError(f"HAProxy refused `{command}` for {on}: {said}", where=self.where)

    def _no_server(self, backend: str, server: str) -> LoadBalancerError:
        try:
            known = [s.server for s in self.servers(backend)]
        except LoadBalancerError:
            known = []
        return LoadBalancerError(
            f"backend {backend!r} has no server {server!r}",
            where=self.where,
            hint=f"its servers: {', '.join(known) or 'none'}; map each host to its server name in "
            "load_balancer.haproxy.servers (the default is the host's name)",
        )

    def _known_backends(self) -> list[str]:
        try:
            return text.parse_backends(self.api.send(text.SHOW_BACKEND))
        except LoadBalancerError:
            return []
