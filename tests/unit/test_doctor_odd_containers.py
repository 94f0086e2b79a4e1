"""The doctor over every container of a host: one odd container never hides the others (issue 20, §3).

On a real host, a container may stop or vanish while its routes are read, or its routes may not
be readable at all (its namespace cannot be joined). Each is reported for what it is; the host's
other containers are diagnosed as usual.
"""

from __future__ import annotations

import pytest

from greenroom.cli.app import _doctor
from greenroom.engine.model import ContainerSpec
from greenroom.errors import EngineError, NotFound
from tests.unit.fake_engine import FakeEngine


def _two_networked(engine: FakeEngine, name: str) -> str:
    cid = engine.create_container(ContainerSpec(name, "app:1", "back"))
    engine.connect_network(cid, "front")
    engine.start(cid)
    return cid


def _engine() -> FakeEngine:
    engine = FakeEngine()
    engine.create_network("back", subnet="172.30.1.0/24")
    engine.create_network("front", subnet="172.30.2.0/24", internal=True)
    return engine


def test_a_container_whose_routes_cannot_be_read_is_a_finding_not_a_failed_host() -> None:
    engine = _engine()
    _two_networked(engine, "ok-1")
    odd = _two_networked(engine, "odd-1")
    engine.fail("run_helper", EngineError("cannot join its namespace", where=engine.host), odd)
    reports = {r.container: r for r in _doctor(engine, None, None, "engine", None)}
    assert set(reports) == {"ok-1", "odd-1"}
    assert reports["ok-1"].actual is not None and not any(
        f.code == "routes-unreadable" for f in reports["ok-1"].findings
    )
    finding = next(f for f in reports["odd-1"].findings if f.code == "routes-unreadable")
    assert "cannot join its namespace" in finding.message and "odd-1" in finding.fix


def test_a_container_that_stops_while_its_routes_are_read_is_shown_stopped() -> None:
    engine = _engine()
    _two_networked(engine, "ok-2")
    gone = _two_networked(engine, "stopping-2")

    class StopsWhileRead(EngineError):
        pass

    original = engine.run_helper

    def run_helper(image: str, command: list[str], *, network_mode: str, timeout: float = 30.0) -> str:
        if gone in network_mode:
            engine.stop(gone, 0)
            raise StopsWhileRead("is not running", where=engine.host)
        return original(image, command, network_mode=network_mode, timeout=timeout)

    engine.run_helper = run_helper  # type: ignore[method-assign,assignment]
    reports = {r.container: r for r in _doctor(engine, None, None, "engine", None)}
    assert set(reports) == {"ok-2", "stopping-2"}
    assert reports["stopping-2"].actual is None
    assert not any(f.code == "routes-unreadable" for f in reports["stopping-2"].findings)


def test_a_named_container_that_cannot_be_read_is_still_an_error() -> None:
    engine = _engine()
    odd = _two_networked(engine, "odd-3")
    engine.fail("run_helper", EngineError("cannot join its namespace", where=engine.host), odd)
    with pytest.raises(EngineError, match="cannot join"):  # a container the user named is not skipped
        _doctor(engine, ["odd-3"], None, "engine", None)


def test_a_missing_helper_image_is_a_finding_not_a_container_gone() -> None:
    engine = _engine()
    odd = _two_networked(engine, "odd-4")
    missing = NotFound("image busybox:stable is not on the engine and could not be pulled", where=engine.host)
    engine.fail("run_helper", missing, odd)
    reports = {r.container: r for r in _doctor(engine, None, None, "engine", None)}
    finding = next(f for f in reports["odd-4"].findings if f.code == "routes-unreadable")
    assert "busybox:stable is not on the engine" in finding.message
