"""HTTPS to the proxy's published port with any SNI (no DNS: the address is given), and a
load of keep-alive clients beside clients that make a new handshake for every request."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors

from tests.bed import BedEngine

DEMO_APP = Path(__file__).resolve().parents[1] / "demo" / "app.py"
PROXY = "gr-tls-proxy"
HTTP_PORT = int(os.environ.get("GREENROOM_TEST_TLS_HTTP_PORT", "28080"))
HTTPS_PORT = int(os.environ.get("GREENROOM_TEST_TLS_HTTPS_PORT", "28443"))


def remove_proxy(bed: BedEngine, name: str) -> None:
    client = bed.docker()
    try:
        for c in client.containers.list(all=True, filters={"label": f"greenroom.proxy={name}"}):
            c.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(f"{name}-state").remove(force=True)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.networks.get(name).remove()
    finally:
        client.close()


def context(root: Path, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(root))
    ctx.set_alpn_protocols(list(alpn))
    return ctx


class Connection(http.client.HTTPSConnection):
    """An HTTPSConnection to `address` that says `sni` in its handshake (and verifies it)."""

    def __init__(self, address: str, port: int, sni: str, ctx: ssl.SSLContext, timeout: float = 10) -> None:
        super().__init__(address, port, context=ctx, timeout=timeout)
        self.sni = sni
        self.ctx = ctx

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.ctx.wrap_socket(raw, server_hostname=self.sni)


@dataclass(frozen=True)
class Handshake:
    fingerprint: str  # sha256 of the certificate the server sent
    version: str
    alpn: str | None


def handshake(address: str, port: int, sni: str, ctx: ssl.SSLContext) -> Handshake:
    with (
        socket.create_connection((address, port), 10) as raw,
        ctx.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True) or b""
        return Handshake(hashlib.sha256(der).hexdigest(), tls.version() or "", tls.selected_alpn_protocol())


def get(
    address: str, port: int, sni: str, ctx: ssl.SSLContext, path: str = "/", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn = Connection(address, port, sni, ctx)
    try:
        conn.request("GET", path, headers={"Host": sni, **headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@dataclass
class HttpsLoad:
    """`keepalive` clients reusing their connection, `fresh` clients handshaking anew for
    every request; every failure kept."""

    address: str
    port: int
    sni: str
    ctx: ssl.SSLContext
    keepalive: int = 4
    fresh: int = 2
    ok: int = 0
    handshakes: int = 0
    failures: list[str] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> HttpsLoad:
        for i in range(self.keepalive + self.fresh):
            t = threading.Thread(target=self._client, args=(i >= self.keepalive,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _client(self, fresh: bool) -> None:
        conn: Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = Connection(self.address, self.port, self.sni, self.ctx)
                    conn.connect()
                    assert conn.sock is not None
                    der = conn.sock.getpeercert(binary_form=True) or b""
                    with self._lock:
                        self.handshakes += 1
                        self.fingerprints.add(hashlib.sha256(der).hexdigest())
                conn.request("GET", "/", headers={"Host": self.sni})
                resp = conn.getresponse()
                resp.read()
                closing = resp.getheader("Connection", "").lower() == "close"
                with self._lock:
                    if resp.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"HTTP {resp.status}")
                if fresh or closing:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.005)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)
