"""Pure: what greenroom owns on one engine (apps, releases, the proxy), as observed (deploy/observe.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from greenroom import labels
from greenroom.engine.model import ContainerInfo, NetworkInfo
from greenroom.gateway.routes import IPNetwork
from greenroom.gateway.rules import EngineRules
from greenroom.proxy.model import Instance, Routed


@dataclass(frozen=True)
class AppContainer:
    info: ContainerInfo

    def label(self, key: str) -> str:
        return self.info.labels.get(key, "")

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def deploy(self) -> str:
        return self.label(labels.DEPLOY)

    @property
    def color(self) -> str:
        return self.label(labels.COLOR)

    @property
    def version(self) -> str:
        return self.label(labels.VERSION)

    @property
    def replica(self) -> int:
        try:
            return int(self.label(labels.REPLICA) or 0)
        except ValueError:
            return 0

    @property
    def deployed_at(self) -> str:
        return self.label(labels.DEPLOYED_AT)

    def address_on(self, network: str) -> str | None:
        att = self.info.attachment(network)
        return str(att.ipv4.ip) if att is not None and att.ipv4 is not None else None


@dataclass(frozen=True)
class Release:
    """The containers of one deploy of an app (one per replica)."""

    deploy: str
    containers: tuple[AppContainer, ...]

    @property
    def color(self) -> str:
        return self.containers[0].color

    @property
    def version(self) -> str:
        return self.containers[0].version

    @property
    def deployed_at(self) -> str:
        return self.containers[0].deployed_at

    @property
    def running(self) -> bool:
        return any(c.info.running for c in self.containers)

    @property
    def image(self) -> str:
        return self.containers[0].label(labels.IMAGE)


@dataclass(frozen=True)
class AppState:
    name: str
    back: NetworkInfo | None
    front: NetworkInfo | None
    releases: tuple[Release, ...]  # oldest first
    routed: Routed | None
    # release-command containers that did not exit 0: left by a greenroom killed mid-way
    stale_runs: tuple[ContainerInfo, ...] = ()

    @property
    def live(self) -> Release | None:
        if self.routed is None or not self.routed.deploy:
            return None
        return next((r for r in self.releases if r.deploy == self.routed.deploy), None)

    def release(self, deploy: str) -> Release | None:
        return next((r for r in self.releases if r.deploy == deploy), None)


@dataclass(frozen=True)
class HostState:
    engine_host: str
    proxy: ContainerInfo | None
    proxy_generation: str | None
    home: NetworkInfo | None
    apps: dict[str, AppState]
    networks: tuple[NetworkInfo, ...] = field(default=())
    routed_ok: bool = True
    routed_error: str = ""  # why the proxy's routing could not be read (routed_ok False)
    proxy_pools: frozenset[str] = frozenset()
    proxy_instances: tuple[Instance, ...] = ()
    rules: EngineRules = field(kw_only=True)  # the engine's gateway rules: attach steps are decided on them

    def taken_subnets(self) -> list[IPNetwork]:
        return [s for n in self.networks for s in n.subnets]

    def app(self, name: str) -> AppState:
        return self.apps.get(name) or AppState(name, None, None, (), None)


def group_releases(containers: list[ContainerInfo]) -> tuple[Release, ...]:
    by_deploy: dict[str, list[AppContainer]] = {}
    for c in containers:
        ac = AppContainer(c)
        by_deploy.setdefault(ac.deploy, []).append(ac)
    releases = [Release(d, tuple(sorted(cs, key=lambda c: c.replica))) for d, cs in by_deploy.items()]
    return tuple(sorted(releases, key=lambda r: (r.deployed_at, r.deploy)))
