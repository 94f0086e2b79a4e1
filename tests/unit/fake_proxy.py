"""The proxy for unit tests, kept in a FakeEngine: it satisfies deploy/ports.py's ProxyApi."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenroom.engine.model import ContainerInfo
from greenroom.errors import NotFound, ProxyError
from greenroom.proxy.model import Instance, ProxySpec, Routed
from greenroom.tls.model import Material

if TYPE_CHECKING:
    from tests.unit.fake_engine import FakeEngine


class FakeProxy:
    """The proxy pod, kept in the fake engine (its holder is a container there); its
    routing is a dict. `lose_reply` makes the next routing write land but raise, as a
    lost admin reply would; `unreadable` makes its routing state unreadable."""

    def __init__(self, engine: FakeEngine, spec: ProxySpec) -> None:
        self.engine = engine
        self.spec = spec
        self.routing: dict[str, Routed] = {}
        self.pools: tuple[str, ...] = ()
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self._instances: list[Instance] = []
        self.lose_reply = False
        self.unreadable = ""
        self.answers_from: list[str] | None = None  # upstreams the confirm sees (None: the routed ones)
        self.certificates: dict[str, Material] = {}
        self.counters: dict[str, dict[str, int]] = {}  # per app, as /greenroom/stats/APP answers

    def container(self) -> ContainerInfo | None:
        try:
            return self.engine.container(self.spec.name)
        except NotFound:
            return None

    def instances(self, *, refresh: bool = False) -> list[Instance]:
        return list(self._instances)

    def note_instances(self, listed: list[ContainerInfo]) -> list[Instance]:
        return list(self._instances)

    def observe(self) -> tuple[dict[str, Routed], str, frozenset[str]]:
        if self.unreadable:
            raise ProxyError(self.unreadable, where=self.spec.name)
        return dict(self.routing), self.generation_live(), frozenset(self.pools)

    def pools_live(self) -> frozenset[str]:
        return frozenset(self.pools)

    def generation_live(self, port: int | None = None) -> str:
        return self.spec.generation(tuple(sorted(self.pools)))

    def install_tls(self, material: Material) -> str:
        if self.certificates.get(material.app) == material:
            return "already installed"
        self.certificates[material.app] = material
        self.engine.calls.append(f"tls {material.app} {material.cert.fingerprint[:12]}")
        return "installed"

    def set_app(self, routed: Routed) -> None:
        self.engine._check("set_app", routed.app, routed.deploy)
        self.routing[routed.app] = routed
        self.engine.calls.append(f"route {routed.app} {routed.deploy}")
        if self.lose_reply:
            self.lose_reply = False
            raise ProxyError("proxy admin POST failed (no answer)", where=self.spec.name)

    def probe(self, host: str, path: str, tries: int) -> list[tuple[int, str]]:
        routed = next((r for r in self.routing.values() if host in r.hosts), None)
        ups = self.answers_from if self.answers_from is not None else list(routed.targets if routed else ())
        return [(200, ups[i % len(ups)]) if ups else (0, "") for i in range(tries)]

    def record(self, app: str, entry: dict[str, Any]) -> None:
        self.entries.setdefault(app, []).append(entry)

    def history(self, app: str) -> list[dict[str, Any]]:
        return list(self.entries.get(app, []))

    def stats(self, app: str) -> dict[str, Any]:
        return dict(self.counters.get(app, {}))

    def create(self, pools: tuple[str, ...] = ()) -> None:
        self.engine.create_container(self.spec.holder_spec())
        self.engine.start(self.spec.name)
        self.pools = tuple(sorted(pools))
        self._instances = [Instance(self.spec.instance_name(1), 1, True, 1, self.spec.image)]

    def reboot(self, pools: tuple[str, ...] = ()) -> str:
        self.pools = tuple(sorted(pools))
        return "rebooted"

    def recreate(self, pools: tuple[str, ...] = ()) -> str:
        self.engine.remove(self.spec.name)
        self.create(pools)
        return "recreated"

    def apply_config(self, pools: tuple[str, ...] = ()) -> str:
        self.pools = tuple(sorted(pools))
        return "applied"
