"""Steady load through a proxy: keep-alive clients and clients that close each connection.

Every request is a sample (start time, latency, ok, version, error); nothing is judged here.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Sample:
    at: float
    latency: float
    ok: bool
    version: str
    mode: str  # "keepalive" | "close"
    error: str = ""


@dataclass
class Load:
    address: str
    port: int
    host: str
    keepalive_clients: int = 4
    close_clients: int = 4
    pause: float = 0.02  # between a client's requests: steady load (~40 req/s per client), not saturation
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for mode, n in (("keepalive", self.keepalive_clients), ("close", self.close_clients)):
            for _ in range(n):
                t = threading.Thread(target=self._client, args=(mode,), daemon=True)
                t.start()
                self._threads.append(t)
        return self

    def _client(self, mode: str) -> None:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
        headers = {"Host": self.host}
        if mode == "close":
            headers["Connection"] = "close"
        while not self._stop.is_set():
            at = time.time()
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/", headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
                sample = Sample(
                    at,
                    time.perf_counter() - t0,
                    ok,
                    resp.getheader("X-App-Version") or "",
                    mode,
                    "" if ok else f"HTTP {resp.status}",
                )
                if mode == "close" or resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                sample = Sample(at, time.perf_counter() - t0, False, "", mode, type(exc).__name__)
                conn.close()
            with self._lock:
                self.samples.append(sample)
            time.sleep(self.pause)
        conn.close()

    def stop(self) -> list[Sample]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)
        with self._lock:
            return list(self.samples)
