"""The fleet's runner on fake engines, proxies and clocks (one of each per host): the order
of locks and deploys, rolling that stops at the first failure, together that switches all
hosts or none, an unreachable host, a held lock, and the load balancer's hooks. No engine,
no root, no sleeping; the real engines and HAProxy are the e2e tests' job."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from greenroom import labels
from greenroom.config import Config, load_config
from greenroom.config.fleet import FleetHost
from greenroom.deploy.host import DockerHost
from greenroom.engine.model import ContainerSpec
from greenroom.errors import EngineUnreachable
from greenroom.fleet.run import Fleet
from greenroom.proxy.model import Routed, proxy_spec
from tests.unit.fake_clock import FakeClock
from tests.unit.fake_engine import FakeEngine
from tests.unit.fake_proxy import FakeProxy

HOSTS = ("a", "b", "c")


def yaml_text(rollout: str = "{strategy: rolling, max_parallel: 1}", extra: str = "") -> str:
    hosts = "\n".join(f"  - {{name: {h}, engine: 'ssh://deploy@{h}.example'}}" for h in HOSTS)
    return f"""
proxy:
  ports: ["80:80"]
hosts:
{hosts}
rollout: {rollout}
{extra}
apps:
  web:
    image: example/web:1
    port: 8000
    hosts: [web.example.com]
    retain: 1
    healthcheck: {{type: docker, interval: 200ms, deadline: 10s}}
"""


class Fleetworld:
    """Three fake hosts, each deployed once with example/web:1; `log` is every host's
    lock, container start and switch, in the order they happened."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        f = tmp_path / "greenroom.yml"
        f.write_text(text)
        self.cfg: Config = load_config(f, environ={})
        self.log: list[tuple[str, str]] = []
        self.guard = threading.Lock()
        self.engines: dict[str, FakeEngine] = {}
        self.proxies: dict[str, FakeProxy] = {}
        self.unreachable: set[str] = set()
        for h in HOSTS:
            engine = FakeEngine()
            engine.host = f"fake://{h}"
            proxy = FakeProxy(engine, proxy_spec(self.cfg))
            self.engines[h], self.proxies[h] = engine, proxy
            DockerHost(self.cfg, engine=engine, proxy=proxy, clock=FakeClock()).deploy("web")
            self._watch(h, engine, proxy)

    def _watch(self, host: str, engine: FakeEngine, proxy: FakeProxy) -> None:
        create, start, set_app = engine.create_container, engine.start, proxy.set_app

        def created(spec: ContainerSpec) -> str:
            if spec.labels.get(labels.ROLE) == labels.ROLE_LOCK:
                self.note(host, "lock")
            return create(spec)

        def started(name: str) -> None:
            self.note(host, "start")
            start(name)

        def switched(routed: Routed) -> None:
            self.note(host, f"switch {routed.deploy}")
            set_app(routed)

        engine.create_container = created  # type: ignore[method-assign]
        engine.start = started  # type: ignore[method-assign,assignment]
        proxy.set_app = switched  # type: ignore[method-assign]

    def note(self, host: str, what: str) -> None:
        with self.guard:
            self.log.append((host, what))

    def factory(self, cfg: Config, **kw: Any) -> Callable[[FleetHost], DockerHost]:
        def make(host: FleetHost) -> DockerHost:
            if host.name in self.unreachable:
                raise EngineUnreachable("cannot reach the Docker engine", where=host.name)
            clock = FakeClock()
            clock.sleep(3600)  # later than the first deploys: deploy IDs are timestamps
            return DockerHost(
                cfg,
                engine=self.engines[host.name],
                proxy=self.proxies[host.name],
                clock=clock,
                cancel=kw["cancel"],
            )

        return make

    def fleet(self) -> Fleet:
        return Fleet(self.cfg, clock=FakeClock(), make=self.factory)

    def live(self, host: str) -> str | None:
        return self.proxies[host].routing["web"].deploy

    def running_new(self, host: str, image: str) -> set[str]:
        return {
            b.name
            for b in self.engines[host].boxes.values()
            if b.image == image and b.labels.get(labels.ROLE) != labels.ROLE_LOCK
        }

    def locks(self, host: str) -> set[str]:
        return self.engines[host].names(**{labels.ROLE: labels.ROLE_LOCK})


def test_rolling_takes_every_lock_first_then_deploys_one_host_at_a_time(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    before = {h: w.live(h) for h in HOSTS}
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    assert report.plan.batches == (("a",), ("b",), ("c",))
    firsts = [i for i, (_, what) in enumerate(w.log) if what != "lock"]
    assert [h for h, what in w.log[: min(firsts)]] == ["a", "b", "c"]  # locks, in order, first
    switches = [h for h, what in w.log if what.startswith("switch")]
    assert switches == ["a", "b", "c"]
    starts = [h for h, what in w.log if what == "start"]
    assert starts == ["a", "b", "c"]  # b starts only after a finished
    assert all(w.live(h) != before[h] for h in HOSTS)
    assert all(not w.locks(h) for h in HOSTS)


def test_rolling_stops_at_the_first_failing_host(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    before = {h: w.live(h) for h in HOSTS}
    w.engines["b"].health["example/web:2"] = "unhealthy"
    report = w.fleet().deploy("web", "example/web:2")
    assert not report.ok
    assert report.failed == "b"
    assert [report.hosts[h].status for h in HOSTS] == ["deployed", "failed", "untouched"]
    assert report.hosts["b"].step == "HealthGate"
    assert "host b at HealthGate" in report.reason()
    assert w.live("b") == before["b"] and w.live("c") == before["c"] and w.live("a") != before["a"]
    assert not w.running_new("b", "example/web:2") and not w.running_new("c", "example/web:2")
    assert report.recovery is not None and report.recovery.keep_new == ("a",)
    assert all(not w.locks(h) for h in HOSTS)


def test_rolling_with_rollback_on_failure_returns_the_switched_hosts(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    before = {h: w.live(h) for h in HOSTS}
    w.engines["c"].health["example/web:2"] = "unhealthy"
    report = w.fleet().deploy("web", "example/web:2", rollback_on_failure=True)
    assert [report.hosts[h].status for h in HOSTS] == ["returned", "returned", "failed"]
    assert all(w.live(h) == before[h] for h in HOSTS)
    assert all(not w.locks(h) for h in HOSTS)


def test_batches_of_two(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text("{strategy: rolling, max_parallel: 2}"))
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok and report.plan.batches == (("a", "b"), ("c",))
    switches = [h for h, what in w.log if what.startswith("switch")]
    assert sorted(switches[:2]) == ["a", "b"] and switches[2] == "c"


def test_together_switches_only_after_every_gate_passed(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}"))
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    kinds = [what.split()[0] for _, what in w.log if what != "lock"]
    assert kinds == ["start"] * 3 + ["switch"] * 3  # every new version up before any switch
    assert report.overlap is not None and report.overlap >= 0
    assert all(w.running_new(h, "example/web:2") for h in HOSTS)


def test_together_with_one_failing_gate_switches_no_host(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}"))
    before = {h: w.live(h) for h in HOSTS}
    w.engines["b"].health["example/web:2"] = "unhealthy"
    report = w.fleet().deploy("web", "example/web:2")
    assert report.failed == "b"
    assert report.hosts["b"].status == "failed"
    assert {report.hosts[h].status for h in ("a", "c")} == {"withdrawn"}
    assert not [what for _, what in w.log if what.startswith("switch")]
    assert all(w.live(h) == before[h] for h in HOSTS)
    assert all(not w.running_new(h, "example/web:2") for h in HOSTS)  # every new color removed
    assert all(not w.locks(h) for h in HOSTS)


def test_together_with_a_failing_confirm_returns_the_hosts_that_switched(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}"))
    before = {h: w.live(h) for h in HOSTS}
    real = w.proxies["c"].probe
    w.proxies["c"].probe = lambda host, path, tries: [(502, "")] * tries  # type: ignore[method-assign]
    report = w.fleet().deploy("web", "example/web:2")
    w.proxies["c"].probe = real  # type: ignore[method-assign]
    assert report.failed == "c" and report.hosts["c"].step == "Confirm"
    # each of a and b switched and routed back, or (still leaving the gate) never switched
    assert {report.hosts[h].status for h in ("a", "b")} <= {"returned", "withdrawn"}
    assert all(w.live(h) == before[h] for h in HOSTS)
    assert all(not w.running_new(h, "example/web:2") for h in HOSTS)


def test_an_unreachable_host_stops_the_rollout_before_anything_is_done(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    w.unreachable.add("b")
    report = w.fleet().deploy("web", "example/web:2")
    assert report.failed == "b" and report.hosts["b"].status == "unreachable"
    assert "cannot reach" in report.hosts["b"].error
    assert not w.log  # no lock taken, nothing started anywhere


def test_a_held_lock_on_one_host_changes_nothing_anywhere(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    other = DockerHost(w.cfg, engine=w.engines["c"], proxy=w.proxies["c"], clock=FakeClock())
    held = other.take_lock("web")
    w.log.clear()
    report = w.fleet().deploy("web", "example/web:2")
    assert report.failed == "c" and report.hosts["c"].step == "lock"
    assert w.log == [("a", "lock"), ("b", "lock"), ("c", "lock")]  # c's refused; nothing started
    assert not w.locks("a") and not w.locks("b")
    other.give_back_lock(held)


def test_rolling_hands_each_host_off_through_the_hooks(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    hooks = (
        "load_balancer:\n  hooks:\n"
        f'    before_host: "echo before $$GREENROOM_HOST $$GREENROOM_APP >> {out}"\n'
        f'    after_host: "echo after $$GREENROOM_HOST >> {out}"\n'
    )
    w = Fleetworld(tmp_path, yaml_text(extra=hooks))
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    assert out.read_text().split("\n")[:-1] == [
        "before a web",
        "after a",
        "before b web",
        "after b",
        "before c web",
        "after c",
    ]


@pytest.mark.parametrize("strategy", ["rolling", "together"])
def test_only_one_host(tmp_path: Path, strategy: str) -> None:
    w = Fleetworld(tmp_path, yaml_text(f"{{strategy: {strategy}}}"))
    before = {h: w.live(h) for h in HOSTS}
    report = w.fleet().deploy("web", "example/web:2", only="b")
    assert report.ok and list(report.hosts) == ["b"]
    assert w.live("a") == before["a"] and w.live("b") != before["b"] and w.live("c") == before["c"]


def test_together_upgrades_each_proxy_host_by_host_out_of_the_load_balancer(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    hooks = (
        "load_balancer:\n  hooks:\n"
        f'    before_host: "echo before $$GREENROOM_HOST $$GREENROOM_ACTION >> {out}"\n'
        f'    after_host: "echo after $$GREENROOM_HOST >> {out}"\n'
    )
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}"))
    upgraded = yaml_text("{strategy: together}", extra=hooks).replace(
        'ports: ["80:80"]', 'ports: ["80:80"]\n  image: "nginx:9.9"'
    )
    (tmp_path / "greenroom.yml").write_text(upgraded)
    w.cfg = load_config(tmp_path / "greenroom.yml", environ={})
    for proxy in w.proxies.values():
        proxy.spec = proxy_spec(w.cfg)  # the running nginx is the old image's
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    assert out.read_text().split("\n")[:-1] == [
        "before a prepare",
        "after a",
        "before b prepare",
        "after b",
        "before c prepare",
        "after c",
    ]
    assert all("made ready first" in " ".join(report.hosts[h].notes) for h in HOSTS)


def test_together_hands_off_no_host_when_no_proxy_changes(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    hooks = f'load_balancer:\n  hooks:\n    before_host: "echo before >> {out}"\n'
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}", extra=hooks))
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    assert not out.exists()
