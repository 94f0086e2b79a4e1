"""promote, abort and weight over three fake hosts through the fleet's runner: promote
host by host inside the load balancer's hand-off (rolling) or all at once (together), and
refused before anything is done when a host has nothing staged; abort and weight at once
on the hosts that have a staged color; a held lock changes nothing anywhere; a fleet of
one keeps its own error (exit code and all); fleet status names each host's staged color."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from greenroom.config.fleet import FleetHost
from greenroom.deploy.host import DockerHost
from greenroom.deploy.staged_host import StagedHost
from greenroom.deploy.status import AppStatus
from greenroom.errors import ConfigError, DeployError, EngineUnreachable, Locked
from greenroom.fleet import staged
from greenroom.fleet.hosts import as_fleet
from greenroom.fleet.run import Fleet
from greenroom.fleet.views import FleetView, HostView
from tests.unit.fake_clock import FakeClock
from tests.unit.test_fleet_run import HOSTS, Fleetworld, yaml_text

HOOKS = (
    "load_balancer:\n  hooks:\n"
    '    before_host: "echo before $$GREENROOM_HOST $$GREENROOM_ACTION >> {out}"\n'
    '    after_host: "echo after $$GREENROOM_HOST >> {out}"\n'
)


def greenroom(w: Fleetworld, host: str) -> DockerHost:
    clock = FakeClock()
    clock.sleep(1800)  # a deploy ID after the first deploy's, before the fleet's
    return DockerHost(w.cfg, engine=w.engines[host], proxy=w.proxies[host], clock=clock)


def stage(w: Fleetworld, *hosts: str, image: str = "example/web:2", weight: float = 10.0) -> dict[str, str]:
    """The new color staged on HOSTS: host -> its staged deploy."""
    out = {}
    for h in hosts:
        out[h] = StagedHost(greenroom(w, h)).stage("web", image, weight).plan.deploy or ""
    w.log.clear()
    return out


def test_promote_follows_a_rolling_rollout_each_host_out_of_the_load_balancer(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    w = Fleetworld(tmp_path, yaml_text(extra=HOOKS.format(out=out)))
    deploys = stage(w, *HOSTS)
    report = staged.promote(w.fleet(), "web")
    assert report.ok, report.reason()
    assert report.action == "promote" and report.plan.batches == (("a",), ("b",), ("c",))
    assert [report.hosts[h].status for h in HOSTS] == ["deployed"] * 3
    assert out.read_text().split("\n")[:-1] == [
        "before a promote",
        "after a",
        "before b promote",
        "after b",
        "before c promote",
        "after c",
    ]
    assert [h for h, what in w.log if what.startswith("switch")] == ["a", "b", "c"]
    assert all(w.live(h) == deploys[h] and w.proxies[h].routing["web"].staged is None for h in HOSTS)
    assert all(not w.locks(h) for h in HOSTS)
    doc = report.as_dict()
    assert doc["action"] == "promote" and [x["status"] for x in doc["hosts"]] == ["deployed"] * 3


def test_promote_together_switches_every_host_at_once_without_hand_off(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    w = Fleetworld(tmp_path, yaml_text("{strategy: together}", HOOKS.format(out=out)))
    deploys = stage(w, *HOSTS)
    report = staged.promote(w.fleet(), "web")
    assert report.ok and report.plan.batches == (HOSTS,)
    assert not out.exists()
    assert all(w.live(h) == deploys[h] for h in HOSTS)


def test_promote_refuses_before_acting_when_a_host_has_nothing_staged(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    before = {h: w.live(h) for h in HOSTS}
    stage(w, "a", "c")
    with pytest.raises(ConfigError, match=r"no staged version on host b \(staged on a, c\)") as caught:
        staged.promote(w.fleet(), "web")
    assert "--host" in caught.value.hint
    assert not w.log and all(w.live(h) == before[h] for h in HOSTS)
    assert staged.promote(w.fleet(), "web", only="a").ok  # where it is staged, it can
    assert w.live("a") != before["a"] and w.live("c") == before["c"]


def test_promote_refuses_different_versions(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    stage(w, "a", "b")
    stage(w, "c", image="example/web:3")
    with pytest.raises(ConfigError, match="different versions staged"):
        staged.promote(w.fleet(), "web")


def test_a_held_lock_on_one_host_promotes_nothing(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    before = {h: w.live(h) for h in HOSTS}
    stage(w, *HOSTS)
    other = greenroom(w, "c")
    held = other.take_lock("web")
    report = staged.promote(w.fleet(), "web")
    assert report.failed == "c" and report.hosts["c"].step == "lock"
    assert isinstance(report.hosts["c"].exception, Locked)
    assert all(w.live(h) == before[h] for h in HOSTS)
    other.give_back_lock(held)


def test_abort_and_weight_act_at_once_where_a_color_is_staged(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    w = Fleetworld(tmp_path, yaml_text(extra=HOOKS.format(out=out)))
    before = {h: w.live(h) for h in HOSTS}
    stage(w, "a", "b")
    report = staged.weight(w.fleet(), "web", 50.0)
    assert report.ok and report.plan.batches == (("a", "b"),)
    assert [r.status for r in report.hosts.values()] == ["done", "done"]
    assert report.plan.notes == ("c: nothing staged there, left as it is",)
    weights = {h: w.proxies[h].routing["web"].staged for h in ("a", "b")}
    assert {s.weight for s in weights.values() if s is not None} == {50.0}
    report = staged.abort(w.fleet(), "web")
    assert report.ok and set(report.hosts) == {"a", "b"}
    assert all(w.proxies[h].routing["web"].staged is None and w.live(h) == before[h] for h in HOSTS)
    assert all(not w.running_new(h, "example/web:2") for h in HOSTS)
    assert not out.exists()  # no host left the load balancer
    with pytest.raises(ConfigError, match="no staged version on host a, b, c"):
        staged.abort(w.fleet(), "web")


def test_a_fleet_of_one_keeps_its_own_error(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    cfg = as_fleet(w.cfg.model_copy(update={"hosts": ()}))

    def make(cfg: object, **kw: object) -> Callable[[FleetHost], DockerHost]:
        return lambda host: greenroom(w, "a")

    fleet = Fleet(cfg, clock=FakeClock(), make=make)
    with pytest.raises(ConfigError, match="no staged version on fake://a\n"):
        staged.abort(fleet, "web")
    stage(w, "a")
    held = greenroom(w, "a").take_lock("web")
    report = staged.promote(fleet, "web")
    assert list(report.hosts) == ["default"] and isinstance(report.hosts["default"].exception, Locked)
    assert report.hosts["default"].exception.exit_code == 5
    greenroom(w, "a").give_back_lock(held)
    assert staged.promote(fleet, "web").ok


def test_fleet_status_names_each_hosts_staged_color() -> None:
    def row(staged: str | None) -> AppStatus:
        return AppStatus("web", "d1", "blue", "v1", None, "1/1", False, True, (), staged=staged)

    view = FleetView(
        [
            HostView("a", "x", [row("green d2 (v2) at 10%")]),
            HostView("b", "y", [row(None)]),
            HostView("c", "z", error="no answer"),
        ]
    )
    assert view.staged() == {"web": {"a": "green d2 (v2) at 10%", "b": ""}}
    assert FleetView([HostView("a", "x", [row(None)])]).staged() == {}


def test_stage_over_the_fleet_then_one_weight_everywhere(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    w = Fleetworld(tmp_path, yaml_text(extra=HOOKS.format(out=out)))
    before = {h: w.live(h) for h in HOSTS}
    reports = staged.stage(w.fleet(), "web", "example/web:2", 50.0)
    assert [r.action for r in reports] == ["stage", "weight"] and all(r.ok for r in reports)
    assert reports[0].plan.batches == (("a",), ("b",), ("c",))  # the rollout's batches
    assert [r.status for r in reports[0].hosts.values()] == ["done"] * 3
    assert [h for h, what in w.log if what == "start"] == ["a", "b", "c"]
    for h in HOSTS:
        s = w.proxies[h].routing["web"].staged
        assert s is not None and s.weight == 50.0 and s.version == "web:2" and w.live(h) == before[h]
    assert not out.exists()  # no host left the load balancer: nothing public moved
    one = staged.stage(w.fleet(), "web", "example/web:3", 10.0, only="b")
    assert one[0].failed == "b" and "promote" in one[0].hosts["b"].error  # already staged there
    assert one[0].hosts["b"].step == "" and isinstance(one[0].hosts["b"].exception, ConfigError)


def test_a_failed_stage_stops_and_says_what_stays_staged(tmp_path: Path) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    w.engines["b"].health["example/web:2"] = "unhealthy"
    reports = staged.stage(w.fleet(), "web", "example/web:2", 50.0)
    assert len(reports) == 1 and reports[0].failed == "b"
    r = reports[0].hosts
    assert [r[h].status for h in HOSTS] == ["done", "failed", "untouched"]
    assert "greenroom abort web" in r["a"].notes[0]
    s = w.proxies["a"].routing["web"].staged
    assert s is not None and s.weight == 0.0  # preview only: the share never came


@pytest.mark.parametrize("action", ["promote", "abort"])
def test_a_host_that_does_not_answer_stops_it_before_anything_is_done(tmp_path: Path, action: str) -> None:
    w = Fleetworld(tmp_path, yaml_text())
    stage(w, *HOSTS)
    w.unreachable.add("b")
    report = staged.promote(w.fleet(), "web") if action == "promote" else staged.abort(w.fleet(), "web")
    assert report.failed == "b" and report.hosts["b"].status == "unreachable"
    assert isinstance(report.hosts["b"].exception, EngineUnreachable)
    assert not w.log  # no lock taken, nothing done anywhere
    assert all(w.proxies[h].routing["web"].staged is not None for h in HOSTS)


def test_a_canarys_last_step_promotes_as_the_rollout_says_under_the_locks_it_holds(tmp_path: Path) -> None:
    out = tmp_path / "hooks.log"
    w = Fleetworld(tmp_path, yaml_text(extra=HOOKS.format(out=out)))
    deploys = stage(w, *HOSTS)
    fleet = w.fleet()
    hosts = [StagedHost(greenroom(w, h), h) for h in HOSTS]
    held = [sh.host.take_lock("web") for sh in hosts]
    staged.promote_held(fleet, "web", hosts)
    assert out.read_text().split()[:3] == ["before", "a", "promote"]
    assert all(w.live(h) == deploys[h] for h in HOSTS)
    for sh, lk in zip(hosts, held, strict=True):
        sh.host.give_back_lock(lk)
    deploys = stage(w, *HOSTS, image="example/web:3")
    # b's staged color vanished: its promotion fails, c is not reached
    w.proxies["b"].routing["web"] = replace(w.proxies["b"].routing["web"], staged=None)
    with pytest.raises(DeployError, match="promotion stopped: host b") as caught:
        staged.promote_held(fleet, "web", hosts)
    assert "promoted on a" in caught.value.hint
    assert w.live("a") == deploys["a"] and w.live("c") != deploys["c"]
