from __future__ import annotations

import dataclasses

import pytest

from greenroom.engine.model import NetworkInfo
from greenroom.errors import ConfigError
from greenroom.gateway.connect import plan_connect
from greenroom.gateway.doctor import diagnose
from tests.fixtures import ENGINES, observation, rules, stem


def codes(engine: str, stage: str) -> set[str]:
    return {f.code for f in diagnose(observation(engine, stage), rules(engine)).findings}


@pytest.mark.parametrize("engine", ENGINES)
def test_single_network_agrees(engine: str) -> None:
    report = diagnose(observation(engine, "1-back-only"), rules(engine))
    assert report.agrees is True
    assert report.actual is not None
    assert stem(report.actual.v4 or "") == "app_stage_internal"
    assert report.findings == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_the_seeds_moved_gateway_is_shown(engine: str) -> None:
    report = diagnose(observation(engine, "2-front-attached"), rules(engine))
    assert report.agrees is True  # Docker did what its rules say...
    assert report.actual is not None
    assert stem(report.actual.v4 or "") == "app_stage"
    [row] = [r for r in report.networks if r.default4]
    assert stem(row.name) == "app_stage"


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_repaired_routes_are_flagged_with_the_ports(engine: str) -> None:
    report = diagnose(observation(engine, "3-hand-repaired"), rules(engine))
    assert report.agrees is False
    assert report.actual is not None
    assert stem(report.actual.v4 or "") == "app_stage_internal"
    found = {f.code: f for f in report.findings}
    assert {"routes-changed", "ports-split"} <= set(found)
    assert "half-default" in found["routes-changed"].message
    assert "restart" in found["routes-changed"].message
    assert all(f.fix for f in report.findings)


def test_gateway_held_by_name_only_is_a_warning() -> None:
    obs = observation("e20", "2-front-attached")
    # the dual-stack front network wins by rank, not only by name: no warning
    assert "held-by-name" not in codes("e20", "2-front-attached")
    # make it IPv4-only: now nothing but its name keeps the gateway there
    c = obs.container
    atts = tuple(dataclasses.replace(a, gateway6="") for a in c.attachments)
    nets = {k: dataclasses.replace(n, ipv6=False) for k, n in obs.networks.items()}
    obs = dataclasses.replace(obs, container=dataclasses.replace(c, attachments=atts), networks=nets)
    [finding] = [f for f in diagnose(obs, rules("e20")).findings if f.code == "held-by-name"]
    assert "app_stage_internal" in finding.message
    assert "published ports" in finding.message
    assert "--internal" in finding.fix


def _network(obs_engine: str, name_stem: str, **changes: object) -> NetworkInfo:
    obs = observation(obs_engine, "2-front-attached")
    [net] = [n for n in obs.networks.values() if stem(n.name) == name_stem]
    return dataclasses.replace(net, **changes)  # type: ignore[arg-type]


def test_if_connect_preview() -> None:
    obs = observation("e20", "1-back-only")
    front = _network("e20", "app_stage")
    report = diagnose(obs, rules("e20"), if_connect=front)
    assert report.preview is not None
    assert report.preview.moved
    assert report.preview.ports_move
    internal = dataclasses.replace(front, internal=True)
    report = diagnose(obs, rules("e20"), if_connect=internal)
    assert report.preview is not None
    assert not report.preview.moved


def test_connect_plan_refuses_on_20_10_with_the_fixes() -> None:
    plan = plan_connect(observation("e20", "1-back-only"), rules("e20"), _network("e20", "app_stage"))
    assert plan.refusal
    assert "would move its default route" in plan.refusal
    assert any("--internal" in f for f in plan.fixes)
    assert any("upgrade" in f for f in plan.fixes)
    assert plan.priority is None


def test_connect_plan_allows_internal_on_20_10() -> None:
    net = _network("e20", "app_stage", internal=True)
    plan = plan_connect(observation("e20", "1-back-only"), rules("e20"), net)
    assert not plan.refusal
    assert not plan.moves


def test_connect_plan_uses_gw_priority_on_28() -> None:
    net = _network("e28", "app_stage", ipv6=False, subnets=())
    plan = plan_connect(observation("e28", "1-back-only"), rules("e28"), net)
    assert not plan.refusal
    assert plan.priority == -1
    assert not plan.moves


def test_connect_plan_knows_the_dual_stack_bug_on_28_5() -> None:
    net = _network("e28", "app_stage")  # dual-stack
    plan = plan_connect(observation("e28", "1-back-only"), rules("e28"), net)
    assert plan.refusal
    assert "51999" in plan.refusal
    assert any("without IPv6" in f for f in plan.fixes)


def test_connect_plan_allow_move() -> None:
    plan = plan_connect(
        observation("e20", "1-back-only"), rules("e20"), _network("e20", "app_stage"), allow_move=True
    )
    assert not plan.refusal
    assert plan.moves


def test_connect_twice_is_a_clear_error() -> None:
    obs = observation("e20", "2-front-attached")
    with pytest.raises(ConfigError, match="already connected"):
        plan_connect(obs, rules("e20"), _network("e20", "app_stage"))
