"""Long-lived TCP peers for the end-to-end tests: an echo server on a test host and
clients that report, line by line, whether each ping came back."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ECHO_SERVER = """
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2]))); srv.listen(64)
print("listening", flush=True)
def serve(c):
    with c:
        while (d := c.recv(4096)):
            c.sendall(d)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

# runs inside the container (python3 of the base image): one ping every 0.2 s
ECHO_CLIENT = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(1.0)
n = 0
while True:
    n += 1
    try:
        s.sendall(b"%d\\n" % n)
        data = s.recv(64)
        print("%.3f %s %d" % (time.time(), "echo" if data else "closed", n), flush=True)
        if not data:
            break
    except socket.timeout:
        print("%.3f silent %d" % (time.time(), n), flush=True)
    except OSError as e:
        print("%.3f closed %d %s" % (time.time(), n, e), flush=True)
        break
    time.sleep(0.2)
"""


@contextlib.contextmanager
def echo_server(netns: str, address: str, port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        ["nsenter", f"--net={netns}", sys.executable, "-c", ECHO_SERVER, address, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "listening"
        yield
    finally:
        proc.kill()
        proc.wait()


@dataclass
class Tally:
    echo: list[float] = field(default_factory=list)
    silent: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)

    def after(self, t: float) -> Tally:
        return Tally(
            [x for x in self.echo if x > t],
            [x for x in self.silent if x > t],
            [x for x in self.closed if x > t],
        )


def tally(log: str) -> Tally:
    out = Tally()
    for line in log.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("echo", "silent", "closed"):
            getattr(out, parts[1]).append(float(parts[0]))
    return out


def wait_for_echoes(read_log: Callable[[], str], count: int = 5, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(tally(read_log()).echo) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no echoes through the test bed: {read_log()[-500:]}")


class HostClient:
    """A long-lived connection from the test process (a user of a published port)."""

    def __init__(self, address: str, port: int) -> None:
        self.result = Tally()
        self._stop = threading.Event()
        self._sock = socket.create_connection((address, port), timeout=5)
        self._sock.settimeout(1.0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self._sock.sendall(b"%d\n" % n)
                data = self._sock.recv(64)
                (self.result.echo if data else self.result.closed).append(time.time())
                if not data:
                    return
            except TimeoutError:
                self.result.silent.append(time.time())
            except OSError:
                self.result.closed.append(time.time())
                return
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
