"""One-off commands attached to this terminal: `greenroom run` (a new container, attached
before it starts) and `greenroom exec` (in a running one). Through the Engine API's attach
and exec streams (hijacked connections), so over unix://, ssh:// and tcp:// alike.

stdin is forwarded when there is one (a pipe, a file or a terminal); with a terminal the
container gets a TTY and this terminal is put in raw mode until the command ends. The
command's output is passed through as it is: it is the user's command's own output."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import sys
import termios
import threading
import time
import tty as ttymod
from collections.abc import Iterator, Sequence
from typing import Any

from greenroom.engine.client import DockerEngine
from greenroom.engine.frames import STDERR, frames, raw_socket
from greenroom.engine.protocol import Engine
from greenroom.errors import EngineError


def _docker(engine: Engine) -> DockerEngine:
    if not isinstance(engine, DockerEngine):
        raise EngineError("attached commands need a Docker engine", where=engine.host)
    return engine


def _feed(fd: int, sock: socket.socket) -> None:
    """stdin to the container until it ends; then half-close, so the command sees EOF.
    Not over TLS: Python's SSLSocket.shutdown drops the TLS session (what is read after it
    would be the raw records), and it has no close_notify-only half-close."""
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            sock.sendall(data)
        if not isinstance(sock, ssl.SSLSocket):
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the command ended first


def _close(sock: Any) -> None:
    """End a hijacked stream: the socket shut, then its HTTP response closed (which closes the
    file under it; closing that file first breaks the response's own close later)."""
    with contextlib.suppress(OSError):
        raw_socket(sock).shutdown(socket.SHUT_RDWR)
    response = getattr(sock, "_response", None)
    with contextlib.suppress(OSError, ValueError):
        if response is not None:
            response.close()
        else:
            sock.close()


@contextlib.contextmanager
def raw_terminal(tty: bool) -> Iterator[None]:
    if not tty:
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd, termios.TCSANOW)  # TCSAFLUSH (the default) would drop what was typed ahead
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _pump(sock: Any, tty: bool, stdin: bool) -> None:
    if stdin:
        threading.Thread(target=_feed, args=(sys.stdin.fileno(), raw_socket(sock)), daemon=True).start()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for stream, data in frames(sock, tty):
        target = err if stream == STDERR else out
        target.write(data)
        target.flush()


def run_attached(engine: Engine, container: str, *, tty: bool, stdin: bool) -> int:
    """Start a created container attached to this process; its exit code."""
    docker_engine = _docker(engine)
    api = docker_engine._api
    with docker_engine._call(f"run {container}"):  # the wait for its end has no deadline
        params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
        sock = api.attach_socket(container, params=params)
        try:
            api.start(container)
            with raw_terminal(tty):
                _pump(sock, tty, stdin)
        finally:
            _close(sock)
        return int(api.wait(container).get("StatusCode", 1))


def exec_attached(engine: Engine, container: str, command: Sequence[str], *, tty: bool, stdin: bool) -> int:
    """Run a command in a running container attached to this process; its exit code."""
    docker_engine = _docker(engine)
    api = docker_engine._api
    with docker_engine._call(f"exec in {container}"):
        created = api.exec_create(container, list(command), stdin=stdin, tty=tty, stdout=True, stderr=True)
        sock = api.exec_start(created["Id"], socket=True, tty=tty)
        try:
            with raw_terminal(tty):
                _pump(sock, tty, stdin)
        finally:
            _close(sock)
        for _ in range(100):  # the exit code lands just after the stream ends
            done = api.exec_inspect(created["Id"])
            if done.get("ExitCode") is not None or not done.get("Running"):
                break
            time.sleep(0.02)
        code = done.get("ExitCode")
        return int(code) if code is not None else 1
