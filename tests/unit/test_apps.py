"""A whole app: the release command's place in a plan, workers' plans (overlap and
singleton), and the config rules that mark a worker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from greenroom import labels
from greenroom.config import Config, load_config
from greenroom.deploy.plan import plan_deploy, plan_maintenance, plan_rollback
from greenroom.deploy.release import plan_release
from greenroom.deploy.state import AppState, group_releases
from greenroom.deploy.steps import RemoveRelease, RunRelease, StopRelease, Switch
from greenroom.engine.model import ContainerInfo, ContainerState
from greenroom.errors import ConfigError, DeployFailed
from greenroom.proxy.model import Routed, proxy_spec
from tests.unit.test_config import problem
from tests.unit.test_executor_failures import deployed
from tests.unit.test_fleet_run import HOSTS, Fleetworld, yaml_text
from tests.unit.test_plan import CTX, container, host, kinds, live_state, network, proxy_container

YAML = """
proxy:
  ports: ["80:80"]
apps:
  web:
    image: example/web:1
    port: 8000
    hosts: [web.example.com]
    retain: 1
    healthcheck: {path: /up, interval: 200ms}
    networks: [redis]
    release: python3 manage.py migrate
  jobs:
    image: example/web:1
    command: python3 manage.py worker
    overlap: false
    healthcheck: {steady: 1s, deadline: 20s}
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    f = tmp_path / "greenroom.yml"
    f.write_text(YAML)
    return load_config(f, environ={})


def worker_state(*containers: ContainerInfo, deploy: str | None = "d1") -> AppState:
    named = [dataclasses.replace(c, labels={**c.labels, labels.APP: "jobs"}) for c in containers]
    routed = Routed("jobs", (), (), False, "blue", deploy, "web:1", (deploy,) if deploy else ())
    return AppState(
        "jobs",
        network("gr-jobs-back", "10.213.2.0/26"),
        None,
        group_releases(named),
        routed if deploy else None,
    )


def test_release_runs_after_the_image_and_before_any_container(cfg: Config) -> None:
    st = live_state(container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"))
    state = host(cfg, st, proxy=proxy_container("gr-web-front"), extra=(network("redis", "10.9.0.0/24"),))
    plan = plan_deploy(cfg, proxy_spec(cfg), state, "web", "example/web:2", CTX, config_hash="h")
    assert kinds(plan)[:3] == ["PullImage", "RunRelease", "CreateRelease"]
    fresh = plan_release(cfg, proxy_spec(cfg), host(cfg, proxy=proxy_container()), "web", None, CTX, "run")
    assert kinds(fresh) == ["EnsureNetwork", "PullImage", "RunRelease"]  # a fleet's first deploy
    assert fresh.steps[0].name == "gr-web-back"  # type: ignore[union-attr]
    step = next(s for s in plan.steps if isinstance(s, RunRelease))
    assert step.spec.command == ("python3", "manage.py", "migrate")
    assert step.spec.image == "example/web:2" and step.spec.restart == "no"
    assert step.spec.labels[labels.ROLE] == labels.ROLE_RELEASE and step.networks == ("redis",)
    assert step.spec.network == "gr-web-back" and not step.rerun
    assert "once per image" in step.describe()
    skipped = plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h", release="skip")
    assert "RunRelease" not in kinds(skipped) and any("ran before" in n for n in skipped.notes)
    rerun = plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h", release="rerun")
    assert next(s for s in rerun.steps if isinstance(s, RunRelease)).rerun


def test_a_release_left_by_a_killed_greenroom_is_removed_first(cfg: Config) -> None:
    left = dataclasses.replace(
        container("web-release-d0", "d0", "2026-01-02", running=True),
        labels={labels.APP: "web", labels.ROLE: labels.ROLE_RELEASE, labels.DEPLOY: "d0"},
    )
    st = dataclasses.replace(live_state(), stale_runs=(left,))
    state = host(cfg, st, proxy=proxy_container("gr-web-front"))
    plan = plan_release(cfg, proxy_spec(cfg), state, "web", None, CTX, "run")
    assert kinds(plan) == ["RemoveRelease", "PullImage", "RunRelease"]
    assert isinstance(plan.steps[0], RemoveRelease) and plan.steps[0].containers == ("web-release-d0",)


def test_rollback_never_runs_the_release_and_says_why(cfg: Config) -> None:
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"),
        container("web-green-d0-0", "d0", "2026-01-02", running=False, color="green"),
    )
    state = host(cfg, st, proxy=proxy_container("gr-web-front"), extra=(network("redis", "10.9.0.0/24"),))
    plan = plan_rollback(cfg, proxy_spec(cfg), state, "web", None, CTX)
    assert "RunRelease" not in kinds(plan)
    assert any("release command does not run" in n for n in plan.notes)


def test_a_singleton_worker_stops_the_old_one_first_and_has_no_route(cfg: Config) -> None:
    st = worker_state(container("jobs-blue-d1-0", "d1", "2026-01-03", running=True))
    state = host(cfg, others={"jobs": st}, proxy=proxy_container())
    plan = plan_deploy(cfg, proxy_spec(cfg), state, "jobs", "example/web:2", CTX, config_hash="h")
    assert kinds(plan) == ["PullImage", "StopRelease", "CreateRelease", "HealthGate", "Switch"]
    stop = plan.steps[1]
    assert isinstance(stop, StopRelease) and stop.restart_on_failure and stop.deploy == "d1"
    switch = plan.steps[-1]
    assert (
        isinstance(switch, Switch) and switch.routed.is_record and "a worker: no route" in switch.describe()
    )
    assert "running for 1s" in plan.steps[3].describe()
    with pytest.raises(ConfigError, match="worker"):
        plan_maintenance(cfg, state, "jobs", True)


def test_an_overlapping_worker_stops_the_old_one_after_its_gate(cfg: Config, tmp_path: Path) -> None:
    f = tmp_path / "overlap.yml"
    f.write_text(YAML.replace("overlap: false", "overlap: true"))
    ocfg = load_config(f, environ={})
    st = worker_state(container("jobs-blue-d1-0", "d1", "2026-01-03", running=True))
    state = host(ocfg, others={"jobs": st}, proxy=proxy_container())
    plan = plan_deploy(ocfg, proxy_spec(ocfg), state, "jobs", None, CTX, config_hash="h")
    assert kinds(plan) == ["PullImage", "CreateRelease", "HealthGate", "Switch", "StopRelease"]
    first = plan_deploy(
        ocfg, proxy_spec(ocfg), host(ocfg, proxy=proxy_container()), "jobs", None, CTX, config_hash="h"
    )
    # a first deploy: its back network only (no front network, no proxy join)
    assert kinds(first) == ["EnsureNetwork", "PullImage", "CreateRelease", "HealthGate", "Switch"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    hosts: [a.example.com]\n", "apps.web.hosts: a worker (an app without port) has no route"),
        (
            "    healthcheck: {type: http}\n",
            "apps.web.healthcheck.type: a worker (an app without port) cannot",
        ),
        ("    port: 80\n    overlap: false\n", "apps.web.overlap: only for workers"),
        ("    release: {timeout: 1m}\n", "apps.web.release.command: "),
        (
            "    healthcheck: {type: running, steady: 5s, deadline: 5s}\n",
            "apps.web.healthcheck.deadline: must be",
        ),
    ],
)
def test_worker_and_release_config_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert problem(tmp_path, "apps:\n  web:\n    image: web:1\n" + text).startswith(expected)


WORKER = """
proxy:
  ports: ["80:80"]
apps:
  jobs:
    image: example/jobs:1
    overlap: false
    healthcheck: {type: docker, interval: 200ms, deadline: 10s}
"""


def test_a_singleton_that_fails_its_gate_gets_its_old_version_back(tmp_path: Path) -> None:
    w = deployed(tmp_path, WORKER)
    old = w.live("jobs")
    assert old is not None and w.release(old) <= w.engine.running()
    w.engine.health["example/jobs:2"] = "unhealthy"
    with pytest.raises(DeployFailed, match="not healthy"):
        w.g.deploy("jobs", "example/jobs:2")
    assert w.live("jobs") == old and w.release(old) <= w.engine.running()
    calls = w.engine.calls
    stopped = next(i for i, c in enumerate(calls) if c.startswith("stop jobs-blue"))
    created = next(i for i, c in enumerate(calls) if c.startswith("create jobs-green"))
    again = max(i for i, c in enumerate(calls) if c.startswith("start jobs-blue"))
    assert stopped < created < again  # never two at once; the old one back after the new is gone
    assert not any(n.startswith("jobs-green") for n in w.engine.names())
    # a good version replaces it: still stopped before the new one starts; no route, no front network
    w.g.deploy("jobs", "example/jobs:3")
    assert w.live("jobs") != old and not w.proxy.routing["jobs"].hosts
    assert "gr-jobs-front" not in {n.name for n in w.engine.networks()}


def _fleet_with_release(tmp_path: Path, rollout: str) -> Fleetworld:
    w = Fleetworld(tmp_path, yaml_text(rollout))  # each host deployed once, without a release command
    f = tmp_path / "release.yml"
    f.write_text(
        yaml_text(rollout).replace(
            "    retain: 1\n", "    retain: 1\n    release: {command: migrate, timeout: 5s}\n"
        )
    )
    w.cfg = load_config(f, environ={})
    return w


def _releases(w: Fleetworld, host: str) -> list[str]:
    return [
        b.name for b in w.engines[host].boxes.values() if b.labels.get(labels.ROLE) == labels.ROLE_RELEASE
    ]


@pytest.mark.parametrize("rollout", ["{strategy: rolling, max_parallel: 1}", "{strategy: together}"])
def test_a_fleet_runs_the_release_once_on_its_first_host_before_any_switch(
    tmp_path: Path, rollout: str
) -> None:
    w = _fleet_with_release(tmp_path, rollout)
    engine = w.engines["a"]
    real_state = engine.state

    def exits_ok(ref: str) -> ContainerState:  # the fake's release command exits 0
        box = engine._box(ref)
        if box.labels.get(labels.ROLE) == labels.ROLE_RELEASE:
            box.running = False
            return ContainerState(False, 0, status="exited")
        return real_state(ref)

    engine.state = exits_ok  # type: ignore[method-assign]
    report = w.fleet().deploy("web", "example/web:2")
    assert report.ok, report.reason()
    assert len(_releases(w, "a")) == 1 and not _releases(w, "b") and not _releases(w, "c")
    events = [e for e in w.log if e[1] != "lock"]
    assert events[0] == ("a", "start")  # the release command's container, before anything else
    assert [h for h, what in w.log if what.startswith("switch")] != []
    assert any("once for every host" in n for n in report.hosts["a"].notes)


def test_a_fleet_whose_release_fails_touches_no_host(tmp_path: Path) -> None:
    w = _fleet_with_release(tmp_path, "{strategy: together}")
    before = {h: w.live(h) for h in HOSTS}
    report = w.fleet().deploy("web", "example/web:2")  # the fake's command never ends: its timeout
    assert not report.ok and report.failed == "a" and report.hosts["a"].step == "RunRelease"
    assert "ran past its timeout" in report.hosts["a"].error
    assert [report.hosts[h].status for h in HOSTS] == ["failed", "untouched", "untouched"]
    assert {h: w.live(h) for h in HOSTS} == before
    assert not any(what.startswith("switch") for _, what in w.log)
    assert not _releases(w, "a")  # removed
    assert all(not w.locks(h) for h in HOSTS)
