"""The output of an attached container or an exec, read off its hijacked connection (unix,
ssh or TLS alike) in the engine's framing: without a TTY an 8-byte header (stream, three
zero bytes, big-endian length) before each piece; with one, a single raw stream.

Every wait for bytes is in short slices: a blocking poll() with no timeout sleeps through a
Ctrl-C that the kernel handed to another thread of this process (the main thread sees the
pending signal only when it runs Python again), and through any deadline of its own."""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from typing import Any

SLICE = 0.25  # seconds: the longest a wait for output holds off a Ctrl-C
STDOUT, STDERR = 1, 2


def raw_socket(sock: Any) -> socket.socket:
    """The socket under the SDK's SocketIO wrapper (or the socket itself)."""
    raw: socket.socket = sock._sock if hasattr(sock, "_sock") else sock
    return raw


def _readable(raw: socket.socket, deadline: float | None) -> None:
    while not (isinstance(raw, ssl.SSLSocket) and raw.pending()):
        left = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
        if left <= 0:
            raise TimeoutError("no complete answer in time")
        if select.select([raw], [], [], left)[0]:
            return


def _read(sock: Any, raw: socket.socket, n: int, deadline: float | None) -> bytes:
    """At most n bytes; b"" at the end of the stream."""
    while True:
        _readable(raw, deadline)
        try:
            data = sock.recv(n) if hasattr(sock, "recv") else sock.read(n)
        except (BlockingIOError, InterruptedError):
            continue
        return bytes(data or b"")


def _exactly(sock: Any, raw: socket.socket, n: int, deadline: float | None) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        more = _read(sock, raw, n - len(data), deadline)
        if not more:
            return None
        data += more
    return bytes(data)


def frames(sock: Any, tty: bool, deadline: float | None = None) -> Iterator[tuple[int, bytes]]:
    """(stream, data) as the engine sends them until the stream ends (a piece cut short
    ends it too). `deadline` (time.monotonic()): TimeoutError once it passes."""
    raw = raw_socket(sock)
    while True:
        if tty:
            data = _read(sock, raw, 4096, deadline)
            if not data:
                return
            yield STDOUT, data
            continue
        header = _exactly(sock, raw, 8, deadline)
        if header is None:
            return
        stream, size = struct.unpack(">BxxxL", header)
        payload = _exactly(sock, raw, size, deadline) if size else b""
        if payload is None:
            return
        yield stream, payload
