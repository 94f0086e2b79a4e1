"""The deploy strategies the benchmark compares, all on one engine, app and load.

Each strategy sets up its own proxy (published on the engine host), deploys a version of
the demo app, and reports when the new container was started, became healthy (as that
strategy knows it) and took traffic.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import yaml

from greenroom.engine.client import DockerEngine

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = "/etc/bench/nginx.conf"
TIME = "/usr/bin/time"  # GNU time (Debian package time)


@dataclass
class Bed:
    name: str
    host: str
    address: str
    version: str
    images: dict[str, str]
    ext_address: str

    @classmethod
    def load(cls, name: str) -> Bed:
        desc = json.loads(Path("/run/greenroom-testbed.json").read_text())
        e = next(x for x in desc["engines"] if x["name"] == name)
        tag = desc["images"]["app"].rsplit(":", 1)[1]
        images = {**desc["images"], **{v: f"greenroom-test/app:{v}-{tag}" for v in ("v1", "v2", "v3")}}
        return cls(name, e["host"], e["address"], e["version"], images, desc["ext"]["address"])


@dataclass
class Timing:
    started: float
    healthy: float | None
    switched: float | None
    finished: float
    drain: float = 0.0
    peak_rss_kb: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)
    first_step: float | None = None  # greenroom: when its first step began (wall clock)
    last_step_end: float | None = None  # and when its last step ended


class Strategy:
    name = ""
    port = 0
    host = "bench.test"

    def __init__(self, bed: Bed, upstream: str) -> None:
        self.bed = bed
        self.upstream = upstream
        self.client = docker.DockerClient(base_url=bed.host, version="auto", timeout=120)
        self.engine = DockerEngine(bed.host)
        self.live: str | None = None
        self.tag = "bench"

    def env(self, version: str) -> dict[str, str]:
        return {"UPSTREAM": self.upstream, "STOP_GRACE": "5"}

    def setup(self) -> None: ...

    def prepare(self) -> None:
        """Remove what an earlier (interrupted) run of this strategy left, then set up."""
        self.teardown()
        self.setup()

    def deploy(self, version: str) -> Timing:
        raise NotImplementedError

    def proxy_name(self) -> str:
        return f"{self.tag}-{self.name}-proxy"

    def proxy_log(self, tail: int = 40) -> str:
        """The proxy's last log lines (nginx errors go there), for a run with failures."""
        try:
            return str(self.client.containers.get(self.proxy_name()).logs(tail=tail).decode(errors="replace"))
        except docker.errors.DockerException as exc:
            return f"(no log: {exc})"

    def teardown(self) -> None:
        for c in self.client.containers.list(all=True, filters={"label": f"bench={self.tag}"}):
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        for n in self.client.networks.list(filters={"label": f"bench={self.tag}"}):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                n.reload()
                for c in n.containers:
                    n.disconnect(c, force=True)
                n.remove()

    # -- helpers for the nginx-based peers -------------------------------------------------

    def network(self, name: str, internal: bool = False) -> str:
        self.client.networks.create(name, driver="bridge", internal=internal, labels={"bench": self.tag})
        return name

    def run(self, name: str, network: str, version: str, **extra: Any) -> str:
        c = self.client.containers.run(
            self.bed.images[version],
            name=name,
            detach=True,
            network=network,
            environment=self.env(version),
            labels={"bench": self.tag},
            **extra,
        )
        return str(c.id)

    def start_nginx(self, network: str, upstreams: list[str] | None = None) -> None:
        self.client.containers.create(
            self.bed.images["base"],
            ["sh", "-c", f"sleep 0.2; exec nginx -c {NGINX_CONF} -g 'daemon off;'"],
            name=f"{self.tag}-{self.name}-proxy",
            network=network,
            ports={"80/tcp": self.port},
            labels={"bench": self.tag},
        )
        self.set_upstreams(upstreams or ["127.0.0.1:9"])
        self.client.containers.get(f"{self.tag}-{self.name}-proxy").start()
        time.sleep(1)

    def set_upstreams(self, targets: list[str], reload: bool = False) -> None:
        servers = "".join(f"        server {t};\n" for t in targets)
        conf = (
            "events { worker_connections 4096; }\nhttp {\n    access_log off;\n"
            f"    upstream app {{\n{servers}    }}\n"
            "    server {\n        listen 80;\n        location / {\n            proxy_pass http://app;\n"
            "            proxy_http_version 1.1;\n            proxy_set_header Host $host;\n"
            "        }\n    }\n}\n"
        )
        proxy = f"{self.tag}-{self.name}-proxy"
        self.engine.put_files(proxy, "/etc/bench", {"nginx.conf": conf.encode()})
        if reload:
            code, out = self.engine.exec(proxy, ["nginx", "-c", NGINX_CONF, "-s", "reload"])
            assert code == 0, out

    def fresh_name(self, key: str, version: str, started: float) -> str:
        return f"{self.tag}-{key}-{version}-{int(started * 1000) % 10**8}"

    def replace_live(self, name: str) -> None:
        """Stop and remove the live container (gracefully, no drain); `name` is live now."""
        if self.live:
            self.client.containers.get(self.live).stop(timeout=5)
            self.client.containers.get(self.live).remove()
        self.live = name

    def ip(self, container: str, network: str) -> str:
        c = self.client.containers.get(container)
        return str(c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])

    def wait_healthy(self, container: str, deadline: float = 60) -> float:
        end = time.time() + deadline
        while time.time() < end:
            code, _ = self.engine.exec(
                container, ["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8000/health"]
            )
            if code == 0:
                return time.time()
            time.sleep(0.1)
        raise RuntimeError(f"{container} never became healthy")


class DockerHost(Strategy):
    """greenroom deploy, as a user runs it (a separate process, timed and measured)."""

    name = "greenroom"
    port = 19001
    key = "gr"  # names this strategy's proxy, network and app

    @property
    def app(self) -> str:
        return f"bench{self.tag}{self.key[2:]}"

    @property
    def folder(self) -> Path:
        return Path(f"/tmp/bench-{self.tag}-{self.key}")

    def setup(self) -> None:
        self.folder.mkdir(exist_ok=True)
        self.host = f"{self.app}.test"
        doc = {
            "engine": {"host": self.bed.host, "helper_image": self.bed.images["busybox"]},
            "proxy": {
                "name": self.proxy_name(),
                "image": self.bed.images["base"],
                "network": f"{self.tag}-{self.key}",
                "ports": [f"{self.port}:80"],
            },
            "apps": {
                self.app: {
                    "image": self.bed.images["v1"],
                    "port": 8000,
                    "hosts": [self.host],
                    "environment": self.env("v1"),
                    "labels": {"bench": self.tag},
                    "healthcheck": {
                        "path": "/health",
                        "interval": "100ms",
                        "passes": 2,
                        "timeout": "1s",
                        "deadline": "60s",
                    },
                    "drain_timeout": "30s",
                    "stop_timeout": "5s",
                    "retain": 1,
                }
            },
        }
        (self.folder / "greenroom.yml").write_text(yaml.safe_dump(doc))

    def proxy_name(self) -> str:
        return f"{self.tag}-{self.key}-proxy"

    def deploy(self, version: str) -> Timing:
        started = time.time()
        with tempfile.NamedTemporaryFile("r") as rss:
            # GNU time forks greenroom from its own small process: a child's peak RSS counts
            # its parent's at exec, so measured from here it would include this benchmark's
            proc = subprocess.run(
                [
                    TIME,
                    "-f",
                    "%M",
                    "-o",
                    rss.name,
                    sys.executable,
                    "-m",
                    "greenroom",
                    "deploy",
                    "--json",
                    "--image",
                    self.bed.images[version],
                    "-f",
                    str(self.folder / "greenroom.yml"),
                ],
                capture_output=True,
                text=True,
            )
            finished = time.time()
            peak = rss.read().strip().splitlines()
        if proc.returncode != 0:
            raise RuntimeError(f"greenroom deploy failed: {proc.stderr[-2000:]}")
        (host,) = json.loads(proc.stdout)["rollouts"][-1]["hosts"]  # a fleet of one
        timing = self._timing(started, finished, host["outcome"])
        timing.peak_rss_kb = int(peak[-1]) if peak and peak[-1].isdigit() else 0
        return timing

    @staticmethod
    def _timing(started: float, finished: float, doc: dict[str, Any]) -> Timing:
        base = doc["started_at"]  # the executor's first step, after the process started
        steps = {s["step"]: s for s in doc["steps"]}
        gate, switch = steps["HealthGate"], steps["Switch"]
        drain = steps.get("Drain", {"duration": 0.0})["duration"]
        last = doc["steps"][-1]
        return Timing(
            started,
            base + gate["started"] + gate["duration"],
            base + switch["started"] + switch["duration"],
            finished,
            drain,
            0,
            [(s["step"], s["duration"]) for s in doc["steps"]],
            base + doc["steps"][0]["started"],
            base + last["started"] + last["duration"],
        )

    def teardown(self) -> None:
        super().teardown()
        app = self.app
        for c in self.client.containers.list(all=True, filters={"label": f"greenroom.app={app}"}):
            c.remove(force=True)
        # the proxy is a pod: its nginx instances first, then the holder
        pod: dict[str, Any] = {"label": f"greenroom.proxy={self.proxy_name()}"}
        for c in self.client.containers.list(all=True, filters=pod):
            c.remove(force=True)
        for name in (self.proxy_name(), f"greenroom-lock-{app}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(name).remove(force=True)
        for n in (f"gr-{app}-front", f"gr-{app}-back", f"{self.tag}-{self.key}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.networks.get(n).remove()
        with contextlib.suppress(docker.errors.NotFound):
            self.client.volumes.get(f"{self.proxy_name()}-state").remove(force=True)


class GreenroomLibrary(DockerHost):
    """greenroom's library in the benchmark's own process, as the peers here run: the same
    deploy without the CLI's interpreter start-up and imports."""

    name = "greenroom-lib"
    port = 19006
    key = "grlib"

    def deploy(self, version: str) -> Timing:
        from greenroom.config import load_config
        from greenroom.deploy.host import DockerHost as Library

        if not hasattr(self, "library"):
            self.library = Library(load_config(self.folder / "greenroom.yml"))
        started = time.time()
        outcome = self.library.deploy(self.app, self.bed.images[version])
        finished = time.time()
        steps = [{"step": r.step, "started": r.started, "duration": r.duration} for r in outcome.records]
        return self._timing(started, finished, {"started_at": outcome.started_at, "steps": steps})

    def teardown(self) -> None:
        if hasattr(self, "library"):
            self.library.engine.close()
            del self.library
        super().teardown()


class NginxProxyWay(Strategy):
    """nginx-proxy + docker-gen: the new container joins the proxy's network and nginx is
    regenerated and reloaded as soon as it starts (no health gate); the old is stopped."""

    name = "nginx-proxy"
    port = 19002

    def setup(self) -> None:
        self.net = self.network(f"{self.tag}-np")
        self.start_nginx(self.net)

    def deploy(self, version: str) -> Timing:
        started = time.time()
        name = self.fresh_name("np", version, started)
        self.run(name, self.net, version)
        self.set_upstreams([f"{self.ip(name, self.net)}:8000"], reload=True)
        switched = time.time()
        self.replace_live(name)
        return Timing(started, None, switched, time.time())


class SeedsOriginal(Strategy):
    """The seed's first attempt: start on app_stage_internal, health-check, plain
    `docker network connect app_stage` (it sorts first: the gateway moves), reload nginx."""

    name = "seed-original"
    port = 19003

    def setup(self) -> None:
        self.back = self.network(f"{self.tag}_app_stage_internal")
        self.front = self.network(f"{self.tag}_app_stage")
        self.start_nginx(self.front)

    def deploy(self, version: str) -> Timing:
        started = time.time()
        name = self.fresh_name("seed", version, started)
        self.run(name, self.back, version)
        healthy = self.wait_healthy(name)
        self.client.networks.get(self.front).connect(name)
        self.set_upstreams([f"{self.ip(name, self.front)}:8000"], reload=True)
        switched = time.time()
        self.replace_live(name)
        return Timing(started, healthy, switched, time.time())


class RolloutWay(Strategy):
    """docker-rollout / Traefik: the new container joins the proxy's network, is added to
    the upstream beside the old one once Docker says healthy (both versions serve for a
    while), then the old one is removed without a drain."""

    name = "docker-rollout"
    port = 19004

    def setup(self) -> None:
        self.net = self.network(f"{self.tag}-ro")
        self.start_nginx(self.net)

    def deploy(self, version: str) -> Timing:
        started = time.time()
        name = self.fresh_name("ro", version, started)
        self.run(
            name,
            self.net,
            version,
            healthcheck={
                "test": ["CMD", "curl", "-sf", "http://127.0.0.1:8000/health"],
                "interval": 1_000_000_000,
                "timeout": 1_000_000_000,
                "retries": 3,
                "start_period": 0,
            },
        )
        while self.client.api.inspect_container(name)["State"]["Health"]["Status"] != "healthy":
            time.sleep(0.1)
        healthy = time.time()
        new = f"{self.ip(name, self.net)}:8000"
        old = [f"{self.ip(self.live, self.net)}:8000"] if self.live else []
        self.set_upstreams([*old, new], reload=True)
        switched = time.time()
        time.sleep(1.0)  # both versions serve for a while
        self.set_upstreams([new], reload=True)
        if self.live:
            self.client.containers.get(self.live).remove(force=True)  # no drain
        self.live = name
        return Timing(started, healthy, switched, time.time())


class Floor(Strategy):
    """No deploy at all: what the machine does under the same load."""

    name = "floor"
    port = 19005

    def setup(self) -> None:
        self.net = self.network(f"{self.tag}-fl")
        name = f"{self.tag}-fl-v1"
        self.run(name, self.net, "v1")
        self.start_nginx(self.net, [f"{self.ip(name, self.net)}:8000"])  # no reload: none in the floor

    def deploy(self, version: str) -> Timing:
        now = time.time()
        time.sleep(2.0)
        return Timing(now, None, None, time.time())


STRATEGIES: list[type[Strategy]] = [
    DockerHost,
    GreenroomLibrary,
    NginxProxyWay,
    SeedsOriginal,
    RolloutWay,
    Floor,
]
