"""Staged colors on the fake engine: stage, weight, promote, abort, repair and status, and
canary runs judged on scripted counters (no sleeping: the fake clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenroom.config.canary import Canary
from greenroom.deploy.canary import BUCKETS, Counts
from greenroom.deploy.canary_run import CanaryRun
from greenroom.deploy.staged_host import StagedHost
from greenroom.errors import CanaryRolledBack, ConfigError, DeployFailed
from tests.unit.test_executor_failures import World, deployed


def staged(w: World) -> StagedHost:
    return StagedHost(w.g)


def test_stage_keeps_the_live_version_and_refuses_a_plain_deploy(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    live = w.live()
    out = staged(w).stage("web", "example/web:2", 10.0)
    steps = [r.step for r in out.records]
    assert "Route" in steps and not {"Switch", "Confirm", "Drain", "StopRelease"} & set(steps)
    routed = w.proxy.routing["web"]
    assert routed.deploy == live and routed.staged is not None and routed.staged.weight == 10.0
    assert routed.staged.header == "X-Greenroom-Preview" and routed.staged.version == "web:2"
    assert w.release(routed.staged.deploy)
    with pytest.raises(ConfigError, match="greenroom promote web"):
        w.g.deploy("web", "example/web:3")
    with pytest.raises(ConfigError, match="staged beside"):
        w.g.rollback("web")
    _, rows = w.g.status()
    assert rows[0].staged is not None and rows[0].staged.endswith("(web:2) at 10%")
    repaired = w.g.repair("web")
    assert not repaired.records and "kept as it is" in repaired.plan.notes[0]
    assert w.proxy.routing["web"].staged == routed.staged


def test_weight_then_promote(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    old = w.live()
    sh = staged(w)
    sh.stage("web", "example/web:2", 0.0)
    new = w.proxy.routing["web"].staged
    assert new is not None
    sh.weight("web", 50.0)
    assert w.proxy.routing["web"].staged == type(new)(**{**new.__dict__, "weight": 50.0})
    out = sh.promote("web")
    assert [r.step for r in out.records] == ["Switch", "Confirm", "Drain", "StopRelease"]
    routed = w.proxy.routing["web"]
    assert routed.deploy == new.deploy and routed.staged is None and routed.targets == new.targets
    assert routed.went_live[-1] == new.deploy
    assert not w.release(old) & w.engine.running()  # the old color stopped, kept for rollback
    assert w.release(old)


def test_abort_removes_the_staged_color(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    old = w.live()
    sh = staged(w)
    sh.stage("web", "example/web:2", 25.0)
    doomed = w.proxy.routing["web"].staged
    assert doomed is not None
    out = sh.abort("web")
    assert [r.step for r in out.records] == ["Route", "Drain", "RemoveRelease"]
    assert w.proxy.routing["web"].staged is None and w.live() == old
    assert not w.release(doomed.deploy)
    with pytest.raises(ConfigError, match="no staged version"):
        sh.abort("web")


def test_a_stage_whose_route_reply_was_lost_is_undone(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    before = w.proxy.routing["web"]
    w.proxy.lose_reply = True
    with pytest.raises(DeployFailed):
        staged(w).stage("web", "example/web:2", 5.0)
    assert w.proxy.routing["web"] == before
    assert w.release(before.deploy) and len(w.engine.names(**{"greenroom.app": "web"})) == 1


class Scripted(StagedHost):
    """Counters that grow with the fake clock: `rps` requests a second, the new color's
    share as the routing's weight says, its errors and latency as given."""

    def __init__(self, w: World, error_rate: float = 0.0, slow: bool = False, rps: float = 1000.0) -> None:
        super().__init__(w.g)
        self.w, self.error_rate, self.slow, self.rps = w, error_rate, slow, rps
        self.n = {"new": 0.0, "old": 0.0}
        self.last = w.clock.monotonic()

    def counts(self, app: str) -> dict[str, Counts]:
        routed = self.w.proxy.routing[app]
        dt, self.last = self.w.clock.monotonic() - self.last, self.w.clock.monotonic()
        share = routed.staged.weight / 100 if routed.staged else 0.0
        self.n["new"] += self.rps * dt * share
        self.n["old"] += self.rps * dt * (1 - share)
        out = {}
        for key, color in (
            ("new", routed.staged.color if routed.staged else "x"),
            ("old", routed.color or ""),
        ):
            n = int(self.n[key])
            lat = [0] * BUCKETS
            lat[8 if key == "new" and self.slow else 1] = n
            errors = int(n * self.error_rate) if key == "new" else 0
            out[color] = Counts(n, errors, 0, tuple(lat))
        return out


GATES = Canary(steps=(5.0, 50.0, 100.0), interval=1.0, min_requests=20)


def test_a_good_canary_is_promoted_through_every_step(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    said: list[str] = []
    result = CanaryRun([Scripted(w)], GATES, w.clock, said.append).run("web", "example/web:2", GATES.steps)
    assert result.promoted and [s.weight for s in result.steps] == [5.0, 50.0, 100.0]
    assert w.proxy.routing["web"].version == "web:2" and w.proxy.routing["web"].staged is None
    actions = [e["action"] for e in w.proxy.entries["web"]]
    assert [a for a in actions if a.startswith("canary")] == ["canary 5%", "canary 50%", "canary 100%"]
    assert actions[-1] == "promote" and len(said) == 3
    assert not w.locked()


@pytest.mark.parametrize(("error_rate", "slow", "why"), [(0.05, False, "errors"), (0.0, True, "p99")])
def test_a_bad_canary_is_rolled_back_at_once(tmp_path: Path, error_rate: float, slow: bool, why: str) -> None:
    w = deployed(tmp_path)
    old = w.proxy.routing["web"]
    host = Scripted(w, error_rate=error_rate, slow=slow)
    with pytest.raises(CanaryRolledBack, match=why) as caught:
        CanaryRun([host], GATES, w.clock, lambda _: None).run("web", "example/web:2", GATES.steps)
    assert caught.value.exit_code == 1 and "rolled back at 5%" in caught.value.message
    routed = w.proxy.routing["web"]
    assert routed.staged is None and routed.deploy == old.deploy
    assert len(w.engine.names(**{"greenroom.app": "web"})) == 1  # the new color is gone
    actions = [e["action"] for e in w.proxy.entries["web"]]
    assert actions[-3:] == ["canary 5%", "abort", "canary rollback"]
    assert not w.locked()


def test_analysis_only_neither_rolls_back_nor_promotes(tmp_path: Path) -> None:
    w = deployed(tmp_path)
    said: list[str] = []
    run = CanaryRun([Scripted(w, error_rate=0.05)], GATES, w.clock, said.append, analysis_only=True)
    result = run.run("web", "example/web:2", GATES.steps)
    assert not result.promoted and all("BREACH" in s for s in said[:3]) and "analysis only" in said[-1]
    staged_now = w.proxy.routing["web"].staged
    assert staged_now is not None and staged_now.weight == 100.0


def two(tmp_path: Path) -> tuple[World, World]:
    """Two hosts with one clock for the run."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = deployed(tmp_path / "a"), deployed(tmp_path / "b")
    b.clock = b.g.clock = a.clock
    return a, b


def test_over_hosts_the_counters_are_summed_and_a_breach_rolls_back_every_host(tmp_path: Path) -> None:
    a, b = two(tmp_path)
    hosts = [Scripted(a, error_rate=0.01, rps=500), Scripted(b, error_rate=0.05, rps=500)]
    hosts[1].name = "b"
    with pytest.raises(CanaryRolledBack) as caught:
        CanaryRun(hosts, GATES, a.clock, lambda _: None).run("web", "example/web:2", GATES.steps)
    assert "at 5%" in caught.value.message
    for w in (a, b):
        assert w.proxy.routing["web"].staged is None
        assert len(w.engine.names(**{"greenroom.app": "web"})) == 1
        assert [e["action"] for e in w.proxy.entries["web"]][-2:] == ["abort", "canary rollback"]


def test_over_hosts_a_good_canary_has_the_same_weights_everywhere(tmp_path: Path) -> None:
    a, b = two(tmp_path)
    hosts = [Scripted(a, rps=500), Scripted(b, rps=500)]
    hosts[1].name = "b"
    weights: list[tuple[float, float]] = []

    def say(_: str) -> None:
        sa, sb = a.proxy.routing["web"].staged, b.proxy.routing["web"].staged
        assert sa is not None and sb is not None
        weights.append((sa.weight, sb.weight))

    assert CanaryRun(hosts, GATES, a.clock, say).run("web", "example/web:2", GATES.steps).promoted
    assert weights == [(5.0, 5.0), (50.0, 50.0), (100.0, 100.0)]
    assert a.proxy.routing["web"].version == b.proxy.routing["web"].version == "web:2"


@pytest.mark.parametrize(
    ("command", "promoted"), [("true", True), ("sh -c 'echo slo burnt >&2; exit 3'", False)]
)
def test_the_check_command_gates_each_step(tmp_path: Path, command: str, promoted: bool) -> None:
    w = deployed(tmp_path)
    gates = Canary(steps=(5.0, 100.0), interval=1.0, min_requests=20, check=command)  # type: ignore[arg-type]
    run = CanaryRun([Scripted(w)], gates, w.clock, lambda _: None)
    if promoted:
        assert run.run("web", "example/web:2", gates.steps).promoted
        return
    with pytest.raises(CanaryRolledBack, match=r"canary\.check exited 3: slo burnt"):
        run.run("web", "example/web:2", gates.steps)
    assert w.proxy.routing["web"].staged is None


def test_a_dry_run_shows_the_stage_and_what_follows_it(tmp_path: Path) -> None:
    from greenroom.cli.canary_cmds import plan_for
    from greenroom.deploy.canary import schedule

    w = deployed(tmp_path)
    before, boxes = w.proxy.routing["web"], set(w.engine.boxes)
    plan = StagedHost(w.g).plan("web", "example/web:2", 0.0, schedule(GATES, GATES.steps))
    kinds = [type(s).__name__ for s in plan.steps]
    assert "Route" in kinds and not {"Switch", "Confirm", "StopRelease"} & set(kinds)
    said = plan.notes[-1]
    assert said.startswith("canary: then weight 5% -> 50% -> 100% of the clients, each step judged for 1s")
    assert "at least 20 requests" in said and "rolls back at once" in said
    canary = plan_for(w.g, "web", "example/web:2", (False, "10%", False))
    assert "at 10%" in next(s.describe() for s in canary.steps if type(s).__name__ == "Route")
    assert "10% of the clients" in canary.notes[-1]
    assert "preview only" in plan_for(w.g, "web", None, (True, None, False)).notes[-1]
    assert "Switch" in [type(s).__name__ for s in plan_for(w.g, "web", None, (False, None, False)).steps]
    with pytest.raises(ConfigError, match="--analysis-only needs canary steps"):
        plan_for(w.g, "web", None, (False, None, True))
    assert w.proxy.routing["web"] == before and set(w.engine.boxes) == boxes  # nothing changed
