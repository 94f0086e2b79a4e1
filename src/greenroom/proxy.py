"""The proxy adapter: one nginx container per host, with no Docker socket.

greenroom talks to it only through the engine: files go in with the archive API, and
the admin API (127.0.0.1 inside the container) is called from inside the container's
network namespace, or with `curl` by exec on a remote engine (nginx/client.py). Routing
changes (switch, maintenance, new app) are admin calls, never reloads; the nginx config
itself changes only with the proxy's settings, and is applied write-aside, `nginx -t`,
swap, reload, confirm the new generation, restore on any failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from greenroom import labels
from greenroom.clock import Clock
from greenroom.engine.client import Engine
from greenroom.engine.model import ContainerInfo, ContainerSpec, PortBinding
from greenroom.errors import ConfigError, GreenroomError, NotFound, ProxyError
from greenroom.nginx import render
from greenroom.nginx.client import ProxyClient, Reply

STATE_VOLUME_SUFFIX = "-state"
RETIRE_WINDOW = 0.5  # seconds the old workers answer with "Connection: close" before a reload


@dataclass(frozen=True)
class Routed:
    """One app's routing state inside the proxy."""

    app: str
    targets: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    maintenance: bool = False
    color: str | None = None
    deploy: str | None = None
    version: str | None = None
    released: tuple[str, ...] = ()  # every deploy that went live, newest last (bounded)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Routed:
        return cls(
            app=str(doc.get("app", "")),
            targets=tuple(doc.get("targets") or ()),
            hosts=tuple(doc.get("hosts") or ()),
            maintenance=bool(doc.get("maintenance")),
            color=doc.get("color"),
            deploy=doc.get("deploy"),
            version=doc.get("version"),
            released=tuple(doc.get("released") or ()),
        )

    def to_json(self) -> str:
        doc = asdict(self)
        doc["targets"] = list(self.targets)
        doc["hosts"] = list(self.hosts)
        doc["released"] = list(self.released)
        return json.dumps(doc)


@dataclass(frozen=True)
class ProxyPlan:
    """What the proxy container is made of (pure, from the config)."""

    name: str
    image: str
    network: str
    ports: tuple[PortBinding, ...]
    listen: int
    restart: str = "unless-stopped"
    settings: render.ProxySettings = field(default_factory=render.ProxySettings)

    @property
    def volume(self) -> str:
        return self.name + STATE_VOLUME_SUFFIX

    def generation(self, pools: tuple[str, ...] = ()) -> str:
        """The config generation this plan runs with these upstream pools."""
        return render.generation(self.settings, pools)

    def spec(self) -> ContainerSpec:
        return ContainerSpec(
            name=self.name,
            image=self.image,
            network=self.network,
            command=tuple(render.command()),
            labels=labels.owned(labels.ROLE_PROXY, generation=self.generation()),
            gw_priority=10,
            ports=self.ports,
            volumes=(f"{self.volume}:{render.STATE_DIR}",),
            restart=self.restart,
            stop_timeout=10,
        )


def parse_port(text: str) -> PortBinding:
    """Compose short syntax: "[HOST_IP:]HOST_PORT:CONTAINER_PORT"."""
    parts = text.rsplit(":", 2)
    try:
        if len(parts) == 2:
            return PortBinding("0.0.0.0", int(parts[0]), int(parts[1]))
        if len(parts) == 3:
            return PortBinding(parts[0].strip("[]"), int(parts[1]), int(parts[2]))
    except ValueError:
        pass
    raise ConfigError(f"port {text!r} is not [HOST_IP:]HOST_PORT:CONTAINER_PORT", where="proxy.ports")


class Proxy:
    def __init__(self, engine: Engine, plan: ProxyPlan, clock: Clock, *, direct: bool = True) -> None:
        self.engine = engine
        self.plan = plan
        self.clock = clock
        self.client = ProxyClient(engine, plan.name, direct=direct)

    # -- observe -------------------------------------------------------------------

    def container(self) -> ContainerInfo | None:
        try:
            info = self.engine.container(self.plan.name)
        except NotFound:
            return None
        self.client.seen(info)
        return info

    def _admin_error(self, method: str, path: str, reply: Reply) -> ProxyError:
        return ProxyError(
            f"proxy admin {method} /greenroom/{path} failed ({reply.status or 'no answer'}): "
            f"{reply.body.strip()}",
            where=f"{self.engine.host} {self.plan.name}",
            hint="`greenroom proxy status` shows the proxy; `greenroom proxy reboot` rebuilds it",
        )

    def admin(self, method: str, path: str, body: str | None = None) -> str:
        reply = self.client.fetch(method, self.plan.settings.admin_port, [f"/greenroom/{path}"], body=body)[0]
        if reply.status != 200:
            raise self._admin_error(method, path, reply)
        return reply.body

    def observe(self) -> tuple[dict[str, Routed], str, frozenset[str]]:
        """The routing state, the live config generation ("" when unknown) and its
        upstream pools, in one batch. A routing state that cannot be read raises ProxyError."""
        state, generation, pools = self.client.fetch(
            "GET",
            self.plan.settings.admin_port,
            ["/greenroom/state", "/greenroom/generation", "/greenroom/pools"],
        )
        if state.status != 200:
            raise self._admin_error("GET", "state", state)
        doc = json.loads(state.body or "{}")
        live = generation.body.strip() if generation.status == 200 else ""
        pooled = frozenset(pools.body.split()) if pools.status == 200 else frozenset()
        return {name: Routed.from_json(v) for name, v in doc.items()}, live, pooled

    def pools_live(self) -> frozenset[str]:
        reply = self.client.fetch("GET", self.plan.settings.admin_port, ["/greenroom/pools"], timeout=5)[0]
        return frozenset(reply.body.split()) if reply.status == 200 else frozenset()

    def generation_live(self) -> str:
        try:
            reply = self.client.fetch(
                "GET", self.plan.settings.admin_port, ["/greenroom/generation"], timeout=5
            )[0]
        except GreenroomError:
            return ""
        return reply.body.strip() if reply.status == 200 else ""

    # -- act -------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = self.clock.monotonic() + timeout
        while True:
            c = self.container()
            if c is not None and c.running and self.generation_live():
                return
            if self.clock.monotonic() > deadline:
                logs = self.engine.logs(self.plan.name, tail=20) if c else ""
                raise ProxyError(
                    f"the proxy did not become ready within {timeout:.0f}s",
                    where=f"{self.engine.host} {self.plan.name}",
                    hint=f"its last logs:\n{logs}"
                    if logs
                    else "check the proxy image has nginx with njs and curl",
                )
            self.clock.sleep(0.1)

    def create(self, pools: tuple[str, ...] = ()) -> None:
        """Create and start the proxy container with greenroom's files in it."""
        self.engine.ensure_volume(self.plan.volume, labels.owned(labels.ROLE_PROXY))
        self.engine.create_container(self.plan.spec())
        self.engine.put_files(self.plan.name, render.CONF_DIR, render.files(self.plan.settings, pools))
        self.engine.start(self.plan.name)
        self.client.reset()
        self.wait_ready()

    def apply_config(self, pools: tuple[str, ...] = ()) -> str:
        """Write aside, nginx -t, swap, retire the old workers' keep-alive connections,
        reload, confirm the generation; restore on failure. Returns the new generation.

        A reload makes the old workers close every idle keep-alive connection at once: a
        client that sent its next request on one just then gets no answer. So first the
        old generation *retires*: each of its responses closes its connection, and for
        RETIRE_WINDOW every client that sends a request reconnects; those connections
        are new, not idle, and are served to the end. Only then the reload."""
        conf = f"{render.CONF_DIR}/nginx.conf"
        backup = f"{render.CONF_DIR}/last-good"
        want = self.plan.generation(pools)
        old = self.generation_live()
        self._sh(f"mkdir -p {backup} && cp -a {render.CONF_DIR}/*.* {backup}/")
        self.engine.put_files(self.plan.name, render.CONF_DIR, render.files(self.plan.settings, pools))
        code, out = self.engine.exec(self.plan.name, ["nginx", "-t", "-q", "-c", conf])
        if code != 0:
            self._sh(f"cp -a {backup}/*.* {render.CONF_DIR}/")
            raise ProxyError(
                f"nginx -t rejected the new config; the last good one is kept:\n{out.strip()}",
                where=f"{self.engine.host} {self.plan.name}",
            )
        if old:
            self.admin("POST", "retire", old)
            self.clock.sleep(RETIRE_WINDOW)
        try:
            self._sh(f"nginx -c {conf} -s reload")
            deadline = self.clock.monotonic() + 10
            while self.generation_live() != want:
                if self.clock.monotonic() > deadline:
                    self._sh(f"cp -a {backup}/*.* {render.CONF_DIR}/ && nginx -c {conf} -s reload")
                    raise ProxyError(
                        "nginx did not pick up the new config within 10s; restored the last good one",
                        where=f"{self.engine.host} {self.plan.name}",
                    )
                self.clock.sleep(0.05)
        finally:
            if old:
                self.admin("DELETE", "retire")
        return want

    def _sh(self, script: str) -> str:
        code, out = self.engine.exec(self.plan.name, ["sh", "-c", script])
        if code != 0:
            raise ProxyError(
                f"`{script}` failed in the proxy: {out.strip()}", where=f"{self.engine.host} {self.plan.name}"
            )
        return out

    def set_app(self, routed: Routed) -> None:
        self.admin("POST", f"app/{routed.app}", routed.to_json())

    def delete_app(self, app: str) -> None:
        self.admin("DELETE", f"app/{app}")

    def record(self, app: str, entry: dict[str, Any]) -> None:
        self.admin("POST", f"history/{app}", json.dumps(entry))

    def history(self, app: str) -> list[dict[str, Any]]:
        text = self.admin("GET", f"history/{app}")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def probe(self, host: str, path: str, tries: int) -> list[tuple[int, str]]:
        """`tries` requests through the proxy's own listener: (status, upstream address)
        each; status 0 when one got no answer."""
        replies = self.client.fetch(
            "GET",
            self.plan.listen,
            [path] * tries,
            headers={"Host": host, render.PROBE_HEADER: "1"},
            timeout=5,
        )
        return [(r.status, r.upstream) for r in replies]


def confirm_targets(
    results: Sequence[tuple[int, str]], targets: Sequence[str], expected: int | None
) -> str | None:
    """Pure: None when every response came from one of `targets` (with the expected
    status, if any); otherwise what was wrong."""
    for status, upstream in results:
        if upstream not in targets:
            return f"a response came from {upstream or 'nowhere'} (status {status}), not the new version"
        if expected is not None and status != expected:
            return f"the new version answered {status} through the proxy, expected {expected}"
    return None
