"""The test bed's load balancer host as the tests use it: HAProxy instances of their own.

The bed runs one HAProxy in gr-lb (scripts/testbed) for the demo and for hands. A test
starts its own instead, in the same namespace with the same Debian binary, from a config
it writes: its own frontend port, backend and servers (the ports its greenroom proxies
or HTTP servers publish), its own admin socket and TCP admin port. So no test reloads,
drains or reads what another test (or the lead's whole-suite run) uses, and a test's
instance dies with it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bed import load_description

SERVER = r"""
import http.server, sys, time
name = sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/hold":  # a long request, for drains that must wait
            time.sleep(30)
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", name)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
server = S((sys.argv[1], int(sys.argv[2])), H)
print("ready", flush=True)
server.serve_forever()
"""

FREE_PORTS = (
    "import socket,sys\n"
    "socks=[socket.socket() for _ in range(int(sys.argv[2]))]\n"
    "[s.bind((sys.argv[1],0)) for s in socks]\n"
    "print(' '.join(str(s.getsockname()[1]) for s in socks))"
)


def lb_description() -> dict[str, Any]:
    desc = load_description()
    if "lb" not in desc:
        raise RuntimeError("the test bed has no load balancer host: run `scripts/testbed up-lb` as root")
    lb: dict[str, Any] = desc["lb"]
    return lb


def in_netns(netns: str, *cmd: str) -> list[str]:
    return ["nsenter", f"--net={netns}", *cmd]


def free_ports(netns: str, address: str, count: int) -> list[int]:
    """Ports free in a namespace just now (bound and released together, so all distinct)."""
    out = subprocess.run(
        in_netns(netns, sys.executable, "-c", FREE_PORTS, address, str(count)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(p) for p in out.split()]


@contextlib.contextmanager
def http_server(netns: str, address: str, port: int, name: str) -> Iterator[subprocess.Popen[str]]:
    """A tiny keep-alive HTTP server in a host's namespace; answers its name (X-Server)."""
    proc = subprocess.Popen(
        in_netns(netns, sys.executable, "-c", SERVER, address, str(port), name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it listens (or dies)
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        yield proc
    finally:
        proc.kill()
        proc.wait()


@dataclass
class OwnHaproxy:
    folder: Path
    address: str  # the LB host's address
    port: int  # the frontend's
    admin_port: int
    backend: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> str:
        return str(self.folder / "admin.sock")

    @property
    def admin(self) -> str:
        return f"{self.address}:{self.admin_port}"


def haproxy_config(h: OwnHaproxy, servers: Mapping[str, str]) -> str:
    lines = [
        "global",
        f"    stats socket {h.socket} mode 600 level admin",
        f"    stats socket ipv4@{h.admin} level admin",
        "    maxconn 2000",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-keep-alive 10s",
        "frontend www",
        f"    bind {h.address}:{h.port}",
        f"    default_backend {h.backend}",
        f"backend {h.backend}",
        "    balance roundrobin",
        *(f"    server {name} {target}" for name, target in servers.items()),
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def haproxy(folder: Path, backend: str, servers: Mapping[str, str]) -> Iterator[OwnHaproxy]:
    """A HAProxy of the test's own in gr-lb: servers is name -> address:port."""
    lb = lb_description()
    port, admin_port = free_ports(lb["netns"], lb["address"], 2)
    folder.mkdir(parents=True, exist_ok=True)
    h = OwnHaproxy(folder, lb["address"], port, admin_port, backend)
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(h, servers))
    log = (folder / "haproxy.log").open("wb")
    h.process = subprocess.Popen(
        in_netns(lb["netns"], lb["haproxy"], "-db", "-f", str(config)), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(h.socket):  # bound once HAProxy has parsed its config
            assert h.process.poll() is None, (folder / "haproxy.log").read_text()
            assert time.monotonic() < deadline, "HAProxy did not create its admin socket in 10 s"
            time.sleep(0.02)
        yield h
    finally:
        h.process.terminate()
        try:
            h.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            h.process.kill()
            h.process.wait()
        log.close()


@dataclass
class Traffic:
    """Clients through the load balancer, keep-alive and closing; counts who answered."""

    address: str
    port: int
    keepalive_clients: int = 4
    closing_clients: int = 2
    host: str = ""  # the Host header, when the servers route by it
    by: str = "X-Server"  # the response header that names who answered
    pace: float = 0.002  # seconds between a client's requests
    ok: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    failed_at: list[float] = field(default_factory=list)  # time.monotonic() of each failure
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        for keepalive in [True] * self.keepalive_clients + [False] * self.closing_clients:
            t = threading.Thread(target=self._client, args=(keepalive,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _client(self, keepalive: bool) -> None:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
        while not self._stop.is_set():
            try:
                headers = {"Host": self.host} if self.host else {}
                if not keepalive:
                    headers["Connection"] = "close"
                conn.request("GET", "/", headers=headers)
                resp = conn.getresponse()
                resp.read()
                server = resp.getheader(self.by) or "?"
                with self._lock:
                    if resp.status == 200:
                        self.ok[server] = self.ok.get(server, 0) + 1
                    else:
                        self.failures.append(f"HTTP {resp.status}")
                        self.failed_at.append(time.monotonic())
                if not keepalive:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    self.failed_at.append(time.monotonic())
                conn.close()
            time.sleep(self.pace)
        conn.close()

    def answered(self) -> dict[str, int]:
        with self._lock:
            return dict(self.ok)

    def wait_for(self, server: str, more_than: int, timeout: float = 10) -> None:
        """Until `server` has answered more than `more_than` requests."""
        deadline = time.monotonic() + timeout
        while self.answered().get(server, 0) <= more_than:
            assert time.monotonic() < deadline, (
                f"{server} answered no more requests in {timeout} s: {self.ok}"
            )
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def summary(self) -> str:
        return json.dumps({"ok": self.answered(), "failures": self.failures[:5]})
