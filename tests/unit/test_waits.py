"""Every wait on the fake clock: the deadline poller, the drain (a failing watch and the
timeout included) and the health gate's deadlines and passes. No sleeping."""

from __future__ import annotations

import threading

import pytest

from greenroom.clock import backoff, poll_until
from greenroom.deploy.drain import Drainer
from greenroom.deploy.interrupt import CancellableClock, Interrupted
from greenroom.deploy.probe import Prober
from greenroom.deploy.steps import ProbeSpec
from greenroom.engine.model import ContainerSpec
from greenroom.errors import EngineError, HealthGateFailed
from tests.unit.fake_clock import FakeClock
from tests.unit.fake_engine import FakeEngine

# -- poll_until ---------------------------------------------------------------------------


def test_poll_until_returns_the_first_answer() -> None:
    clock = FakeClock()
    answers = iter([None, None, "yes"])
    assert poll_until(clock, lambda: next(answers), timeout=5, interval=0.5) == "yes"
    assert clock.slept == [0.5, 0.5]


def test_poll_until_tries_last_at_the_deadline() -> None:
    clock = FakeClock()
    tried: list[float] = []

    def never() -> None:
        tried.append(clock.elapsed())

    assert poll_until(clock, never, timeout=1.0, interval=0.3) is None
    assert tried == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])


def test_poll_until_backs_off_to_the_cap() -> None:
    clock = FakeClock()
    poll_until(clock, lambda: None, timeout=3.0, interval=0.1, cap=0.5)
    assert clock.slept[:5] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert backoff(20, 0.1, 0.5) == 0.5


def test_poll_until_wakes_early() -> None:
    clock = FakeClock()
    wake = threading.Event()
    wake.set()
    answers = iter([None, 1])
    assert poll_until(clock, lambda: next(answers), timeout=5, interval=1, wake=wake) == 1
    assert clock.elapsed() == 0


def test_a_cancel_ends_a_wait() -> None:
    cancel = threading.Event()
    clock = CancellableClock(FakeClock(), cancel)
    cancel.set()
    with pytest.raises(Interrupted, match="cancelled"):
        poll_until(clock, lambda: None, timeout=60, interval=1)


# -- the drain ----------------------------------------------------------------------------


def drain_world() -> tuple[FakeEngine, FakeClock, Drainer, str]:
    engine, clock = FakeEngine(), FakeClock()
    engine.create_network("front", subnet="10.9.0.0/29", internal=True)
    engine.create_network("home", subnet="10.8.0.0/29")
    engine.create_container(ContainerSpec(name="proxy", image="nginx", network="home"))
    engine.start("proxy")
    engine.create_container(ContainerSpec(name="old", image="app", network="front"))
    engine.start("old")
    target = f"{engine.container('old').attachment('front').ipv4.ip}:8000"  # type: ignore[union-attr]
    return engine, clock, Drainer(engine, clock, "busybox"), target


def test_nothing_open_drains_at_once() -> None:
    _engine, clock, drainer, _ = drain_world()
    assert drainer.drain(["old"], 8000, "front", "proxy", 30).startswith("drained in 0.00s")
    assert clock.elapsed() == 0


def test_the_drain_waits_for_the_last_connection() -> None:
    engine, clock, drainer, target = drain_world()
    engine.open_connections[target] = 2
    clock.at(1.0, engine.open_connections.clear)
    progress: list[str] = []
    assert drainer.drain(["old"], 8000, "front", "proxy", 30, progress.append) == "drained in 1.00s"
    assert progress[0] == "2 connection(s) from the proxy still open"


def test_the_drain_stops_at_its_timeout() -> None:
    engine, clock, drainer, target = drain_world()
    engine.open_connections[target] = 3
    assert (
        drainer.drain(["old"], 8000, "front", "proxy", 5)
        == "drain_timeout (5s) reached with 3 connection(s) open"
    )
    assert clock.elapsed() == pytest.approx(5.0)


def test_a_failing_watch_waits_out_the_timeout() -> None:
    engine, clock, drainer, target = drain_world()
    engine.open_connections[target] = 1
    engine.socket_table_error = EngineError("helper failed", where="fake")
    said = drainer.drain(["old"], 8000, "front", "proxy", 5)
    assert said == "could not watch the proxy's connections (helper failed); waited out drain_timeout (5s)"
    assert clock.elapsed() == pytest.approx(5.0)


def test_a_watch_failing_midway_waits_out_the_rest() -> None:
    engine, clock, drainer, target = drain_world()
    engine.open_connections[target] = 1
    clock.at(1.0, lambda: setattr(engine, "socket_table_error", EngineError("gone", where="fake")))
    assert "waited out drain_timeout (5s)" in drainer.drain(["old"], 8000, "front", "proxy", 5)
    assert clock.elapsed() == pytest.approx(5.0)


def test_an_unreadable_proxy_waits_out_the_timeout() -> None:
    engine, clock, drainer, _ = drain_world()
    engine.fail("container", EngineError("inspect failed", where="fake"), name="proxy")
    assert "(inspect failed); waited out" in drainer.drain(["old"], 8000, "front", "proxy", 3)
    assert clock.elapsed() == pytest.approx(3.0)


# -- the health gate ----------------------------------------------------------------------


def gate_world(image: str = "app") -> tuple[FakeEngine, FakeClock, Prober, str]:
    engine, clock = FakeEngine(), FakeClock()
    engine.create_network("back", subnet="10.7.0.0/26")
    engine.create_container(ContainerSpec(name="new", image=image, network="back"))
    engine.start("new")
    ip = engine.container("new").attachment("back").ipv4.ip  # type: ignore[union-attr]
    return engine, clock, Prober(engine, clock, "busybox", direct=False), f"{ip}:8000"


def spec(kind: str = "docker", passes: int = 1, deadline: float = 10) -> ProbeSpec:
    return ProbeSpec(kind, 8000, "/up", 200, 1.0, 0.2, passes, deadline)


def test_docker_health_passes_when_healthy() -> None:
    engine, clock, prober, _ = gate_world()
    engine.health["app"] = "starting"
    clock.at(2.0, lambda: engine.health.update(app="healthy"))
    state = prober.gate("web", ["new"], "back", spec())
    assert state.summary() == "new: healthy" and clock.elapsed() == pytest.approx(2.0)


def test_docker_health_fails_at_its_deadline_with_the_health_log() -> None:
    engine, clock, prober, _ = gate_world()
    engine.health["app"] = "unhealthy"
    with pytest.raises(HealthGateFailed, match="not healthy within 10s") as info:
        prober.gate("web", ["new"], "back", spec())
    assert clock.elapsed() == pytest.approx(10.0)
    assert info.value.hint == "Docker's health log: probe said unhealthy"


def test_a_container_that_stops_fails_the_gate_at_once() -> None:
    engine, clock, prober, _ = gate_world()
    engine.health["app"] = "starting"
    clock.at(1.0, lambda: engine.stop("new", 0))
    with pytest.raises(HealthGateFailed, match="new stopped during the health gate"):
        prober.gate("web", ["new"], "back", spec())
    assert clock.elapsed() == pytest.approx(1.0)


def test_helper_gate_needs_passes_in_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _clock, prober, target = gate_world()
    engine.helper_lines = [f"{target} 200", f"{target} 500", f"{target} 200", f"{target} 200"]
    state = prober.gate("web", ["new"], "back", spec("http", passes=2))
    prober.finish()
    assert state.passes[target] == 2 and state.probes == 4
    assert not engine.names(**{"greenroom.role": "probe"}), "the helper is removed"


def test_helper_gate_fails_without_enough_passes() -> None:
    engine, _clock, prober, target = gate_world()
    engine.helper_lines = [f"{target} 200", f"{target} 503", f"{target} 200"]
    with pytest.raises(HealthGateFailed, match=r"2 passes in a row needed\): .*HTTP 200"):
        prober.gate("web", ["new"], "back", spec("http", passes=2))
    prober.finish()
