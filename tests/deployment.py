"""Support for deploy tests: a greenroom.yml per test, steady keep-alive load through the
proxy, and cleanup of everything an app left on the engine."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from greenroom.labels import lock_name
from tests.bed import BedEngine, load_description, uid

# another checkout's tests can run beside these on the same engines with their own proxy
PROXY_PORT = int(os.environ.get("GREENROOM_TEST_PROXY_PORT", "18000"))
PROXY_NAME = os.environ.get("GREENROOM_TEST_PROXY", "gr-test-proxy")


def cli_env() -> dict[str, str]:
    """The environment of a greenroom process under test: a clean one, but for PYTHONPATH
    when set (so a checkout's tests run its own sources, e.g. PYTHONPATH=src)."""
    env = {"COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(
            str(Path(p).resolve()) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p
        )
    return env


def app_images(bed: BedEngine) -> dict[str, str]:
    """The demo app's versions built from this checkout's demo/app.py (the tag hashes it, as
    `scripts/testbed images` does); the bed's description's when those are not built."""
    desc = load_description()["images"]
    text = (Path(__file__).parents[1] / "demo" / "app.py").read_bytes()
    tag = hashlib.sha256(desc["base"].encode() + b"\n" + text).hexdigest()[:12]
    client = bed.docker()
    try:
        client.images.get(f"greenroom-test/app:v1-{tag}")
    except docker.errors.ImageNotFound:
        tag = desc["app"].rsplit(":", 1)[1]
    finally:
        client.close()
    return {v: f"greenroom-test/app:{v}-{tag}" for v in ("v1", "v2", "v3")}


def config_doc(
    bed: BedEngine,
    apps: dict[str, dict[str, Any]],
    engine: dict[str, Any] | None = None,
    proxy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "engine": {"host": bed.host, "helper_image": bed.busybox_image, **(engine or {})},
        "proxy": {
            "name": PROXY_NAME,
            "image": bed.base_image,
            "network": PROXY_NAME,
            "ports": [f"{PROXY_PORT}:80"],
            "listen": 80,
            **(proxy or {}),
        },
        "apps": apps,
    }


def app_doc(bed: BedEngine, name: str, version: str = "v1", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "image": app_images(bed)[version],
        "port": 8000,
        "hosts": [f"{name}.test"],
        "healthcheck": {
            "type": "http",
            "path": "/health",
            "interval": "100ms",
            "passes": 2,
            "timeout": "1s",
            "deadline": "30s",
        },
        "drain_timeout": "15s",
        "stop_timeout": "5s",
        "retain": 2,
    }
    doc.update(extra)
    return doc


@dataclass
class Project:
    """One app (or a few) under test on one engine, with its greenroom.yml."""

    bed: BedEngine
    folder: Path
    apps: dict[str, dict[str, Any]]
    engine: dict[str, Any] = field(default_factory=dict)
    proxy: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.folder / "greenroom.yml"

    @property
    def name(self) -> str:
        return next(iter(self.apps))

    def write(self) -> None:
        doc = config_doc(self.bed, self.apps, self.engine, self.proxy)
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def set(self, app: str | None = None, **changes: Any) -> None:
        self.apps[app or self.name].update(changes)
        self.write()

    def set_engine(self, **changes: Any) -> None:
        self.engine.update(changes)
        self.write()

    def run(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, "-m", "greenroom", *args, "--file", str(self.file)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(),
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"greenroom {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            )
        return res

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "greenroom", *args, "--file", str(self.file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(),
        )

    def cleanup(self) -> None:
        """Remove the apps' containers, networks and routing, in a few bulk requests."""
        client = self.bed.docker()
        apps = set(self.apps)
        try:
            for c in client.containers.list(all=True, filters={"label": "greenroom.app"}):
                if c.labels.get("greenroom.app") in apps:
                    with contextlib.suppress(docker.errors.NotFound):
                        c.remove(force=True)
            nets = {f"gr-{name}-{kind}" for name in apps for kind in ("front", "back")}
            proxy_nets: set[str] = set()
            with contextlib.suppress(docker.errors.NotFound):
                proxy_nets = set(client.api.inspect_container(PROXY_NAME)["NetworkSettings"]["Networks"])
            for net in sorted(nets & proxy_nets):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    client.api.disconnect_container_from_network(PROXY_NAME, net, force=True)
            for network in client.networks.list():
                if network.name in nets:
                    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                        network.remove()
            with contextlib.suppress(docker.errors.APIError):
                urls = " ".join(
                    f"http://127.0.0.1:{port}/greenroom/app/{name}"
                    for name in sorted(apps)
                    for port in (8099, 8098)
                )
                ex = client.api.exec_create(
                    PROXY_NAME, ["sh", "-c", f"for u in {urls}; do curl -s -X DELETE $u >/dev/null; done"]
                )
                client.api.exec_start(ex["Id"])
        finally:
            client.close()


def outcome_of(stdout: str) -> dict[str, Any]:
    """The outcome of a fleet of one's `deploy/rollback/proxy reboot --json` (the one host
    of the last rollout): its steps, deploy id, error."""
    (host,) = json.loads(stdout)["rollouts"][-1]["hosts"]
    return dict(host["outcome"])


def remove_proxy(bed: BedEngine) -> None:
    """This checkout's proxy gone: holder, nginx instances, state volume, home network."""
    client = bed.docker()
    try:
        doomed = client.containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY_NAME}"})
        doomed += [
            c for c in client.containers.list(all=True, filters={"name": PROXY_NAME}) if c.name == PROXY_NAME
        ]
        for c in doomed:
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(f"{PROXY_NAME}-state").remove(force=True)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.networks.get(PROXY_NAME).remove()
    finally:
        client.close()


def use_official_proxy(bed: BedEngine, project: Project) -> None:
    """This checkout's proxy, holder and all, created anew from the image with the official
    nginx image's layout (skips on a bed without it); `remove_proxy` afterwards, so the
    next test's deploy creates it from the bed's base image again."""
    if not bed.proxy_official_image:
        pytest.skip("the bed has no official-layout nginx image: run `scripts/testbed images`")
    remove_proxy(bed)
    project.proxy["image"] = bed.proxy_official_image
    project.write()


def proxy_nginx(bed: BedEngine) -> str:
    """The name of the proxy's serving nginx container (the newest running instance)."""
    client = bed.docker()
    try:
        found = client.containers.list(filters={"label": f"greenroom.proxy={PROXY_NAME}"})
        return str(max(found, key=lambda c: int(c.labels.get("greenroom.started", "0"))).name)
    finally:
        client.close()


def new_project(bed: BedEngine, folder: Path, count: int = 1, **extra: Any) -> Project:
    apps = {}
    for _ in range(count):
        name = f"t{uid()}"
        apps[name] = app_doc(bed, name, **extra)
    p = Project(bed, folder, apps)
    p.write()
    return p


@dataclass
class Sample:
    at: float
    ok: bool
    version: str
    error: str = ""


@dataclass
class Load:
    """Keep-alive clients hitting an app through the proxy's published port."""

    address: str
    host: str
    clients: int = 8
    path: str = "/"
    keepalive: bool = True
    # every request a distinct client of a canary: a random bucket in the proxy's cookie
    canary_clients: bool = False
    port: int = PROXY_PORT  # another: a load balancer's
    samples: list[Sample] = field(default_factory=list)
    reconnects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for _ in range(self.clients):
            t = threading.Thread(target=self._client, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _client(self) -> None:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
        connected: bool | None = None  # None: never connected yet
        while not self._stop.is_set():
            at = time.time()
            try:
                if not connected:
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if connected is False:
                        with self._lock:
                            self.reconnects += 1
                    connected = True
                headers = (
                    {"Host": self.host} if self.keepalive else {"Host": self.host, "Connection": "close"}
                )
                if self.canary_clients:
                    headers["Cookie"] = f"greenroom_canary={random.randrange(10000)}"

                conn.request("GET", self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                version = resp.getheader("X-App-Version") or ""
                ok = resp.status == 200
                sample = Sample(at, ok, version, "" if ok else f"HTTP {resp.status} {body[:80]!r}")
                if not self.keepalive or resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    connected = None
            except (OSError, http.client.HTTPException) as exc:
                sample = Sample(at, False, "", f"{type(exc).__name__}: {exc}")
                conn.close()
                connected = False
            with self._lock:
                self.samples.append(sample)
            time.sleep(0.005)
        conn.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def failures(self) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if not s.ok]

    def versions_after(self, t: float) -> set[str]:
        with self._lock:
            return {s.version for s in self.samples if s.at > t and s.ok}

    def count(self) -> int:
        with self._lock:
            return len(self.samples)

    def failures_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for s in self.samples if t0 <= s.at <= t1 and not s.ok)

    def count_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for s in self.samples if t0 <= s.at <= t1)

    def count_after(self, t: float) -> int:
        """Requests sent after `t` (time.time()) that have been answered, or failed."""
        with self._lock:
            return sum(1 for s in self.samples if s.at > t)


def app_containers(bed: BedEngine, app: str, *, running_only: bool = False) -> list[tuple[str, str]]:
    """(name, status) of an app's containers on the engine, sorted by name."""
    client = bed.docker()
    try:
        found = client.containers.list(all=not running_only, filters={"label": f"greenroom.app={app}"})
        return sorted((str(c.name), str(c.status)) for c in found)
    finally:
        client.close()


def lock_held(bed: BedEngine, app: str) -> bool:
    """Whether a deploy holds the app's lock (its lock container exists)."""
    client = bed.docker()
    try:
        return bool(client.containers.list(all=True, filters={"name": f"^/{lock_name(app)}$"}))
    finally:
        client.close()


def get(bed: BedEngine, host: str, path: str = "/", **headers: str) -> tuple[int, dict[str, Any]]:
    """One request through the proxy's published port (extra headers as keywords)."""
    conn = http.client.HTTPConnection(bed.address, PROXY_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, **headers})
        resp = conn.getresponse()
        body = resp.read()
        try:
            return resp.status, json.loads(body)
        except ValueError:
            return resp.status, {"raw": body.decode(errors="replace")}
    finally:
        conn.close()
