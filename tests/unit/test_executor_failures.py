"""The executor's failure paths, on a fake engine, proxy and clock (tests/unit/fake_engine.py):
a failure injected before and after every step of a deploy, an arbitrary exception,
SIGTERM, a lost switch reply, parallel deploys that fail or are interrupted, the lock.
No engine, no root, no sleeping."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from greenroom import labels
from greenroom.config import Config, load_config
from greenroom.config.fleet import FleetHost
from greenroom.deploy.execute import Executor
from greenroom.deploy.host import DockerHost
from greenroom.deploy.interrupt import Interrupted, sigterm_interrupts
from greenroom.deploy.outcome import Outcome
from greenroom.deploy.steps import Step
from greenroom.engine.model import ContainerSpec
from greenroom.errors import DeployFailed, EngineError, GreenroomError, Locked, SubnetOverlap
from greenroom.fleet import run as fleet_run
from greenroom.fleet.hosts import as_fleet
from greenroom.fleet.run import Fleet
from greenroom.proxy.model import proxy_spec
from tests.unit.fake_clock import FakeClock
from tests.unit.fake_engine import FakeEngine
from tests.unit.fake_proxy import FakeProxy

YAML = """
proxy:
  ports: ["80:80"]
apps:
  web:
    image: example/web:1
    port: 8000
    hosts: [web.example.com]
    retain: 1
    healthcheck: {type: docker, interval: 200ms, deadline: 10s}
"""
API = """
  api:
    image: example/api:1
    port: 9000
    hosts: [api.example.com]
    healthcheck: {type: docker, interval: 200ms, deadline: 10s}
"""
STEPS = [
    "PullImage",
    "CreateRelease",
    "HealthGate",
    "AttachFront",
    "Switch",
    "Confirm",
    "Drain",
    "StopRelease",
]


class World:
    def __init__(self, tmp_path: Path, text: str = YAML) -> None:
        f = tmp_path / "greenroom.yml"
        f.write_text(text)
        self.cfg = load_config(f, environ={})
        self.engine = FakeEngine()
        self.clock = FakeClock()
        self.proxy = FakeProxy(self.engine, proxy_spec(self.cfg))
        self.g = DockerHost(self.cfg, engine=self.engine, proxy=self.proxy, clock=self.clock)

    def live(self, app: str = "web") -> str | None:
        return self.proxy.routing[app].deploy

    def release(self, deploy: str | None) -> set[str]:
        return self.engine.names(**{labels.DEPLOY: deploy or ""})

    def locked(self) -> set[str]:
        return self.engine.names(**{labels.ROLE: labels.ROLE_LOCK})


def deployed(tmp_path: Path, text: str = YAML) -> World:
    w = World(tmp_path, text)
    for app in w.cfg.apps:
        w.g.deploy(app)
    w.engine.calls.clear()
    return w


def inject(
    monkeypatch: pytest.MonkeyPatch, at: str, when: str, exc: Callable[[], BaseException]
) -> list[str]:
    """The executor's step `at` raises, before or after doing its work; returns the steps run."""
    real = Executor.perform
    seen: list[str] = []

    def perform(self: Executor, step: Step) -> str:
        seen.append(type(step).__name__)
        if type(step).__name__ != at:
            return real(self, step)
        if when == "after":
            real(self, step)
        raise exc()

    monkeypatch.setattr(Executor, "perform", perform)
    return seen


def test_the_second_deploy_runs_these_steps(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    assert [type(s).__name__ for s in w.g.plan("web", "example/web:2").steps] == STEPS


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", STEPS)
def test_a_failure_at_any_step_leaves_a_serving_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str, when: str
) -> None:
    w = deployed(tmp_path)
    old = w.live()
    old_names = w.release(old)
    inject(monkeypatch, at, when, lambda: EngineError("injected", where="fake"))
    with pytest.raises(DeployFailed) as info:
        w.g.deploy("web", "example/web:2")
    outcome = info.value.outcome
    new = outcome.plan.deploy
    confirmed = STEPS.index(at) > STEPS.index("Confirm") or (at == "Confirm" and when == "after")
    assert not w.locked(), "the lock is released on every way out"
    assert [r.step for r in outcome.records if r.status == "failed"] == [at]
    assert w.proxy.entries["web"][-1]["ok"] is False  # recorded in the history
    switched = STEPS.index(at) > STEPS.index("Switch") or (at == "Switch" and when == "after")
    expected = "live" if confirmed else "routed back" if switched else "unchanged"
    assert (outcome.status, outcome.switched, outcome.confirmed) == (expected, switched, confirmed)
    assert outcome.kept_new == confirmed
    if confirmed:  # the new version is live: nothing is undone, repair finishes the rest
        assert w.live() == new and w.release(new) <= w.engine.running()
        assert "new version is live" in info.value.hint
        assert all(r.step != "Undo" for r in outcome.records)
        return
    assert w.live() == old, "the old version is routed"
    assert old_names <= w.engine.running(), "and still runs"
    assert not w.release(new), "the new containers are removed"
    assert info.value.hint == "the old version is still serving"
    routes = [c for c in w.engine.calls if c.startswith("route")]
    assert routes == ([f"route web {new}", f"route web {old}"] if switched else [])
    if w.engine.calls and any(c.startswith("remove web-") for c in w.engine.calls):
        first_removal = next(i for i, c in enumerate(w.engine.calls) if c.startswith("remove web-"))
        assert all(i < first_removal for i, c in enumerate(w.engine.calls) if c == f"route web {old}")
    undo = [r for r in outcome.records if r.step == "Undo"]
    did_something = STEPS.index(at) > STEPS.index("CreateRelease") or (
        at == "CreateRelease" and when == "after"
    )
    assert len(undo) == (1 if did_something else 0)


def test_an_arbitrary_exception_is_undone_and_reported_as_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = deployed(tmp_path)
    old = w.live()
    inject(monkeypatch, "Confirm", "before", lambda: RuntimeError("surprise"))
    with pytest.raises(DeployFailed) as info:
        w.g.deploy("web", "example/web:2")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "unexpected RuntimeError: surprise" in info.value.message
    assert "bug in greenroom" in info.value.hint
    assert w.live() == old and not w.release(info.value.outcome.plan.deploy) and not w.locked()


def test_sigterm_mid_deploy_undoes_it_and_restores_the_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = deployed(tmp_path)
    old = w.live()
    before = signal.getsignal(signal.SIGTERM)
    real = Executor.perform

    def terminated(self: Executor, step: Step) -> str:
        if type(step).__name__ == "Confirm":
            signal.raise_signal(signal.SIGTERM)  # the handler raises here, in this thread
        return real(self, step)

    monkeypatch.setattr(Executor, "perform", terminated)
    with pytest.raises(Interrupted, match="SIGTERM"):
        w.g.deploy("web", "example/web:2")
    assert signal.getsignal(signal.SIGTERM) is before
    assert w.live() == old and not w.locked()
    assert w.engine.names(**{labels.COLOR: "green"}) == set(), "the new color is removed"
    assert [c for c in w.engine.calls if c.startswith("route")][-1] == f"route web {old}"


def test_sigterm_handler_only_in_the_main_thread() -> None:
    seen: list[object] = []

    def worker() -> None:
        with sigterm_interrupts():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before]


def test_a_switch_whose_reply_was_lost_is_routed_back(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    old = w.live()
    w.proxy.lose_reply = True  # the proxy applied the switch; its answer never came
    with pytest.raises(DeployFailed, match="no answer"):
        w.g.deploy("web", "example/web:2")
    assert w.live() == old
    routes = [c for c in w.engine.calls if c.startswith("route")]
    assert routes[-1] == f"route web {old}" and len(routes) == 2


def test_when_routing_back_fails_the_new_containers_stay(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    old = w.live()
    w.proxy.answers_from = ["10.0.0.9:8000"]  # the confirm fails
    w.engine.fail("set_app", GreenroomError("proxy gone"), name=str(old))
    with pytest.raises(DeployFailed) as info:
        w.g.deploy("web", "example/web:2")
    new = info.value.outcome.plan.deploy
    assert w.release(new), "the proxy may route to them: they are not removed"
    assert "undo incomplete: proxy gone" in info.value.outcome.records[-1].description
    assert not w.locked()


def test_a_failed_first_deploy_keeps_no_container(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.engine.health["example/web:1"] = "unhealthy"
    with pytest.raises(DeployFailed, match="not healthy within 10s") as info:
        w.g.deploy("web")
    assert info.value.hint.startswith("Docker's health log: probe said unhealthy")
    assert w.clock.elapsed() == pytest.approx(10.0)
    assert not w.engine.names(**{labels.ROLE: labels.ROLE_APP}) and not w.locked()
    assert info.value.outcome.logs  # the new version's last words are shown


def test_the_lock_is_taken_and_given_back(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    w.g.deploy("web", "example/web:2")
    assert (
        w.engine.calls[0] == "create greenroom-lock-web" and w.engine.calls[-1] == "remove greenroom-lock-web"
    )
    assert not w.locked()


def test_a_held_lock_refuses_and_changes_nothing(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    w.engine.create_container(
        ContainerSpec(
            name=labels.lock_name("web"),
            image="x",
            network="none",
            labels={**labels.owned(labels.ROLE_LOCK, "web"), labels.HOLDER: "ci@elsewhere"},
        )
    )
    w.engine.calls.clear()
    with pytest.raises(Locked, match="ci@elsewhere"):
        w.g.deploy("web", "example/web:2")
    assert w.engine.calls == []


def test_a_subnet_taken_meanwhile_is_planned_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.engine.fail("create_network", SubnetOverlap("Pool overlaps", where="fake"), name="gr-web-back")
    outcome = w.g.deploy("web")
    assert outcome.ok and w.engine.calls.count("create_network gr-web-back") == 1


def test_another_network_error_is_not_retried(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.engine.fail("create_network", EngineError("overlap of opinions", where="fake"), name="gr-web-back")
    with pytest.raises(DeployFailed, match="overlap of opinions"):
        w.g.deploy("web")


def test_a_disconnect_that_fails_is_reported_not_hidden(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    w.engine.fail("disconnect", EngineError("busy", where="fake"))
    outcome = w.g.deploy("web", "example/web:2")
    stop = next(r for r in outcome.records if r.step == "StopRelease")
    assert stop.status == "ok" and "not disconnected" in stop.detail and "busy" in stop.detail


def test_status_says_when_routing_is_unreadable(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    w.proxy.unreadable = "admin did not answer"
    _, rows = w.g.status()
    assert rows[0].problems[0].startswith("routing unreadable: admin did not answer")
    assert not any("repair" in p and "interrupted" in p for p in rows[0].problems)


def _fleet(w: World) -> Fleet:
    """A fleet of one on the world's engine: every app's rollout shares its fakes."""

    def factory(cfg: Config, **kw: Any) -> Callable[[FleetHost], DockerHost]:
        return lambda host: DockerHost(
            cfg, engine=w.engine, proxy=w.proxy, clock=w.clock, cancel=kw["cancel"]
        )

    return Fleet(as_fleet(w.cfg), clock=w.clock, make=factory)


def test_a_bug_in_one_parallel_deploy_fails_that_app_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = deployed(tmp_path, YAML + API)
    real = DockerHost.deploy

    def deploy(self: DockerHost, app: str, image: str | None = None, *, locked: bool = False) -> Outcome:
        if app == "api":
            raise RuntimeError("worker bug")
        return real(self, app, image, locked=locked)

    monkeypatch.setattr(DockerHost, "deploy", deploy)
    reports = {r.app: r for r in _fleet(w).deploy_apps(["web", "api"], parallel=2)}
    assert reports["web"].ok
    (api,) = reports["api"].hosts.values()
    assert not reports["api"].ok and "worker bug" in api.error and "a bug in greenroom" in api.error
    assert not w.locked()


def test_an_interrupt_reaches_the_parallel_deploys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = deployed(tmp_path, YAML + API + API.replace("api", "job"))
    old = w.live("api")
    entered = threading.Event()
    fleet = _fleet(w)
    w.engine.hold = ("api-", entered, fleet.cancel)  # api's health gate hangs until the cancel

    def interrupted(fs: Iterable[Future[bool]]) -> None:
        entered.wait(10)
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM) in the main thread

    monkeypatch.setattr(fleet_run, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fleet.deploy_apps(["web", "api", "job"], parallel=2)
    assert w.live("api") == old
    assert {c.split()[1] for c in w.engine.calls if c.startswith("remove api-")}, "api's new color is removed"
    assert w.engine.names(**{labels.APP: "api", labels.ROLE: labels.ROLE_APP}) == w.release(old)
    assert not w.locked()


def test_one_host_is_a_fleet_of_one(tmp_path: Path) -> None:
    """Without hosts:, the runner deploys on the one engine with the same steps, lock and
    report as on many hosts; a failure keeps its host's own error (its exit code too)."""
    w = deployed(tmp_path)
    fleet = _fleet(w)
    assert [h.name for h in fleet.cfg.hosts] == ["default"]
    report = fleet.deploy("web", "example/web:2")
    assert report.ok and report.sole and report.as_dict()["sole"] is True
    (r,) = report.hosts.values()
    assert r.status == "deployed" and r.outcome is not None
    assert [x.step for x in r.outcome.records] == STEPS
    assert w.live() == r.outcome.plan.deploy and not w.locked()
    w.g.take_lock("web")  # another greenroom holds it
    held = fleet.deploy("web", "example/web:3")
    (r,) = held.hosts.values()
    assert not held.ok and r.step == "lock" and isinstance(r.exception, Locked)
    assert r.exception.exit_code == 5
