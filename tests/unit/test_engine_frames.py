"""The reader of attach and exec streams (engine/frames.py): the engine's framing, and a Ctrl-C seen
while it waits for output that does not come."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from greenroom.engine import frames as engine_frames
from greenroom.engine.api_client import read_exec_output


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_frames_come_out_as_the_engine_sent_them_though_split_anywhere(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, engine = pair
    wire = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"") + frame(1, b"x" * 70000)

    def send() -> None:
        for i in range(0, len(wire), 3):  # header and payload cut in small pieces
            engine.sendall(wire[i : i + 3])
        engine.shutdown(socket.SHUT_WR)

    threading.Thread(target=send, daemon=True).start()
    got = list(engine_frames.frames(ours, tty=False))
    assert got == [(1, b"out\n"), (2, b"err\n"), (1, b""), (1, b"x" * 70000)]


def test_a_stream_cut_inside_a_frame_ends_it(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, engine = pair
    engine.sendall(frame(1, b"whole") + frame(2, b"cut short")[:10])
    engine.shutdown(socket.SHUT_WR)
    assert list(engine_frames.frames(ours, tty=False)) == [(1, b"whole")]


def test_with_a_tty_the_stream_is_raw_stdout(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, engine = pair
    engine.sendall(b"\x01\x00raw bytes")
    engine.shutdown(socket.SHUT_WR)
    assert b"".join(d for s, d in engine_frames.frames(ours, tty=True) if s == 1) == b"\x01\x00raw bytes"


class Stop(Exception):
    pass


def test_a_signal_taken_by_another_thread_stops_a_wait_for_output_that_never_comes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The kernel may hand a process's SIGINT to any of its threads; the main thread, waiting
    for a command that prints nothing (`sleep 60`), must still see it at once."""
    ours, engine = pair

    def stop(signum: int, _frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGUSR1, stop)

    def elsewhere() -> None:
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # this thread takes it
        time.sleep(5)  # a reader deaf to it ends only when output comes, here
        with contextlib.suppress(OSError):  # the test is over and its sockets closed
            engine.sendall(frame(1, b"late\n"))
            engine.shutdown(socket.SHUT_WR)

    threading.Thread(target=elsewhere, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(Stop):
            list(engine_frames.frames(ours, tty=False))
        assert time.monotonic() - started < 2
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_deadline_ends_a_wait_for_output_that_never_comes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, engine = pair
    engine.sendall(frame(1, b"part") + frame(1, b"never finished")[:9])
    started = time.monotonic()
    pieces = engine_frames.frames(ours, tty=False, deadline=time.monotonic() + 0.6)
    got = [next(pieces)]
    with pytest.raises(TimeoutError):
        next(pieces)
    assert got == [(1, b"part")] and 0.5 < time.monotonic() - started < 2


def test_an_exec_answer_comes_whole_or_times_out(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, engine = pair
    engine.sendall(frame(1, b"1\n") + frame(2, b"2\n"))
    engine.shutdown(socket.SHUT_WR)
    assert read_exec_output(ours, 5) == b"1\n2\n"
    a, b = socket.socketpair()
    with a, b, pytest.raises(TimeoutError, match=r"within 0\.3 s"):
        read_exec_output(a, 0.3)
