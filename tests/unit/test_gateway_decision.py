"""The attach decision for each case of ../shared/notes/gateway-rules.md, on both engine
generations: Docker 20.10 (no GwPriority: the order must protect, or the attach is
refused) and 28.x (a negative GwPriority), and the re-check the executor makes."""

from __future__ import annotations

import ipaddress

import pytest

from greenroom.engine.model import Attachment, ContainerInfo, NetworkInfo
from greenroom.gateway.decision import decide_attach, modelled_endpoints, recheck
from greenroom.gateway.rules import Endpoint, EngineRules, Gateway

E20 = EngineRules.of("20.10.24", "1.41")
E28 = EngineRules.of("28.5.2", "1.51")
E29 = EngineRules.of("29.4.1", "1.53")


def net(name: str, *, internal: bool = False, ipv6: bool = False) -> NetworkInfo:
    subnets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [ipaddress.ip_network("10.9.0.0/24")]
    if ipv6:
        subnets.append(ipaddress.ip_network("fd00:9::/64"))
    return NetworkInfo(name, name, "bridge", internal, ipv6, tuple(subnets))


def back(rules: EngineRules, name: str = "gr-web-back") -> list[Endpoint]:
    """An app container as greenroom creates it: its back network, GwPriority 10."""
    return [Endpoint(name, priority=10 if rules.gw_priority else 0)]


def test_internal_front_on_20_10_needs_no_priority_the_order_protects() -> None:
    d = decide_attach(E20, "web-1", back(E20), net("gr-web-front", internal=True))
    assert d.priority is None and not d.refusal
    assert d.before == d.after == Gateway("gr-web-back", None)
    assert "engine 20.10.24 has none" in d.why
    assert "gr-web-front is internal: sorts after the non-internal gr-web-back" in d.why
    assert d.describe().startswith("no GwPriority: ")


def test_internal_front_on_28_sends_minus_one() -> None:
    d = decide_attach(E28, "web-1", back(E28), net("gr-web-front", internal=True))
    assert d.priority == -1 and not d.refusal
    assert d.after.v4 == "gr-web-back"
    assert "gr-web-front is internal: no gateway on it" in d.why  # engine >= 25
    assert d.describe().startswith("GwPriority -1: the gateway stays on gr-web-back")


def test_name_sorting_after_protects_on_20_10() -> None:
    d = decide_attach(E20, "web-1", back(E20), net("zz-redis"))
    assert d.priority is None and not d.refusal
    assert "zz-redis sorts after gr-web-back by name" in d.why


@pytest.mark.parametrize("rules", [E28, E29], ids=lambda r: r.label)
def test_name_sorting_first_is_kept_by_gw_priority_on_28(rules: EngineRules) -> None:
    d = decide_attach(rules, "web-1", back(rules), net("aa-redis"))
    assert d.priority == -1 and not d.refusal
    assert "GwPriority -1 ranks aa-redis after 10 of gr-web-back" in d.why


def test_the_seeds_failure_is_refused_on_20_10_with_the_fixes() -> None:
    d = decide_attach(E20, "demo-app", [Endpoint("app_stage_internal")], net("app_stage"))
    assert d.refusal and d.moves
    assert d.after.v4 == "app_stage"
    assert "would move its default route from app_stage_internal to app_stage on engine 20.10.24" in d.refusal
    assert any("--internal" in f for f in d.fixes)
    assert any("zz_app_stage" in f for f in d.fixes)
    assert any("upgrade the engine" in f for f in d.fixes)


def test_the_seeds_case_on_28_is_kept_by_gw_priority() -> None:
    d = decide_attach(E28, "demo-app", [Endpoint("app_stage_internal")], net("app_stage"))
    assert d.priority == -1 and not d.refusal


def test_below_an_already_negative_gateway_priority() -> None:
    d = decide_attach(E28, "c", [Endpoint("zz-home", priority=-2)], net("aa-other"))
    assert d.priority == -3 and not d.refusal  # -1 would outrank the gateway's -2


def test_dual_stack_is_refused_on_28_5_whatever_the_priority() -> None:
    d = decide_attach(E28, "web-1", back(E28), net("zz-dual", ipv6=True))
    assert d.refusal and "moby #51999" in d.refusal
    assert "create the network without IPv6" in d.fixes


def test_dual_stack_takes_the_gateway_on_20_10() -> None:
    d = decide_attach(E20, "web-1", back(E20), net("zz-dual", ipv6=True))
    assert d.refusal and d.after.v4 == "zz-dual"  # more gateways beat the name


def test_engine_28_spoken_to_below_api_1_48_gets_no_priority() -> None:
    rules = EngineRules.of("28.5.2", "1.47")
    d = decide_attach(rules, "web-1", back(rules), net("aa-redis"))
    assert d.priority is None and d.refusal


def test_allowed_move_says_so() -> None:
    d = decide_attach(E20, "c", [Endpoint("b")], net("a"), allow_move=True)
    assert not d.refusal and d.moves and "(allowed)" in d.why


def test_real_routes_win_over_the_model() -> None:
    d = decide_attach(E28, "c", back(E28), net("x", internal=True), actual=Gateway("gr-web-back", None))
    assert not d.refusal
    d = decide_attach(E28, "c", back(E28), net("x", internal=True), actual=Gateway("elsewhere", None))
    assert d.refusal  # a gateway changed by hand: the model's "after" differs from it


def container(*atts: tuple[str, int], running: bool = True) -> ContainerInfo:
    return ContainerInfo(
        "c" * 64,
        "web-1",
        running,
        1,
        atts[0][0],
        tuple(
            Attachment(
                n, n, ipaddress.IPv4Interface("10.9.0.2/24"), None, "10.9.0.1" if running else "", "", p
            )
            for n, p in atts
        ),
        (),
    )


def test_a_stopped_containers_endpoints_come_from_its_networks() -> None:
    stopped = container(("gr-web-back", 0), running=False)  # the engine shows no gateway
    assert modelled_endpoints(stopped, {"gr-web-back": net("gr-web-back")}) == [Endpoint("gr-web-back")]
    assert modelled_endpoints(stopped, {})[0].gw4 is False  # unknown network: as reported


@pytest.mark.parametrize("rules", [E20, E28], ids=lambda r: r.label)
def test_recheck_passes_when_nothing_that_matters_changed(rules: EngineRules) -> None:
    front = net("gr-web-front", internal=True)
    prio = 10 if rules.gw_priority else 0
    d = decide_attach(rules, "web-1", back(rules), front)
    nets = {"gr-web-back": net("gr-web-back"), "gr-api-front": net("gr-api-front", internal=True)}
    same = container(("gr-web-back", prio))
    assert recheck(d, rules, same, nets, front, Gateway("gr-web-back", None)) is None
    # another greenroom attached an unrelated internal network meanwhile (parallel deploys)
    more = container(("gr-web-back", prio), ("gr-api-front", -1 if rules.gw_priority else 0))
    assert recheck(d, rules, more, nets, front, None) is None


@pytest.mark.parametrize("rules", [E20, E28], ids=lambda r: r.label)
def test_recheck_refuses_a_stale_decision(rules: EngineRules) -> None:
    front = net("gr-web-front", internal=True)
    prio = 10 if rules.gw_priority else 0
    d = decide_attach(rules, "web-1", back(rules), front)
    nets = {"gr-web-back": net("gr-web-back"), "aa-net": net("aa-net")}
    c = container(("gr-web-back", prio))
    moved = recheck(d, rules, c, nets, front, Gateway("aa-net", None))
    assert moved is not None and "leaves by aa-net, not by gr-web-back as planned" in moved
    already = container(("gr-web-back", prio), ("gr-web-front", 0))
    assert recheck(d, rules, already, {**nets, "gr-web-front": front}, front, None) == (
        "web-1 is already on gr-web-front"
    )
    # the network is no longer internal: on 20.10 it now takes the gateway (its name sorts
    # first); on 28 the same GwPriority -1 still keeps it, so the decision holds
    zz = container(("zz-back", prio))
    d = decide_attach(rules, "web-1", [Endpoint("zz-back", priority=prio)], net("app-front", internal=True))
    changed = recheck(d, rules, zz, {"zz-back": net("zz-back")}, net("app-front"), None)
    if rules.gw_priority:
        assert changed is None
    else:
        assert changed is not None and "would move its default route from zz-back to app-front" in changed
