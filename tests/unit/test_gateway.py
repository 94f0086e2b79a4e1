"""The engine facts of ../shared/notes/gateway-rules.md, as the model states them.
(tests/integration/test_gateway_rules.py proves the same facts on the real engines.)"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenroom.gateway.rules import (
    Endpoint,
    EngineRules,
    Sandbox,
    _go_sort_search,
    parse_version,
    predict_connect,
    predict_disconnect,
)

V20 = EngineRules.of("20.10.24+dfsg1", "1.41")
V28 = EngineRules.of("28.5.2+dfsg4", "1.51")
V29 = EngineRules.of("29.4.1", "1.53")
ALL = [V20, V28, V29]


def test_version_parsing() -> None:
    assert parse_version("28.5.2+dfsg4") == (28, 5, 2)
    assert parse_version("20.10.24+dfsg1") == (20, 10, 24)
    assert parse_version("1.51") == (1, 51)
    assert parse_version("29.0.0-rc.1") == (29, 0, 0)
    assert V28.gw_priority
    assert not V20.gw_priority
    assert not EngineRules.of("28.5.2", "1.47").gw_priority  # old client API: zeroed


@pytest.mark.parametrize("rules", ALL, ids=lambda r: r.label)
def test_the_seeds_failure(rules: EngineRules) -> None:
    box = Sandbox.joined(rules, [Endpoint("app_stage_internal")])
    change = predict_connect(box, Endpoint("app_stage"))
    assert change.moved
    assert change.after.v4 == "app_stage"
    # the seed's fix: names that sort the other way
    box = Sandbox.joined(rules, [Endpoint("BACK_app_stage")])
    assert not predict_connect(box, Endpoint("FRONT_app_stage")).moved


@pytest.mark.parametrize("rules", ALL, ids=lambda r: r.label)
def test_internal_never_takes_the_gateway_from_a_non_internal(rules: EngineRules) -> None:
    box = Sandbox.joined(rules, [Endpoint("zzz")])
    assert not predict_connect(box, Endpoint("aaa", internal=True)).moved


def test_internal_gateways_only_before_engine_25() -> None:
    assert Sandbox.joined(V20, [Endpoint("i", internal=True)]).gateway().v4 == "i"
    assert Sandbox.joined(V28, [Endpoint("i", internal=True)]).gateway().v4 is None


def test_gw_priority_only_on_28() -> None:
    eps = [Endpoint("b", priority=10), Endpoint("a")]
    assert Sandbox.joined(V28, eps).gateway().v4 == "b"
    assert Sandbox.joined(V20, eps).gateway().v4 == "a"  # the daemon never sets it
    box = Sandbox.joined(V28, [Endpoint("z")])
    assert not predict_connect(box, Endpoint("a", priority=-1)).moved


def test_gwbridge_sorts_last() -> None:
    for rules in ALL:
        box = Sandbox.joined(rules, [Endpoint("docker_gwbridge"), Endpoint("zzz")])
        assert box.gateway().v4 == "zzz"


def test_gateway_count_ranks() -> None:
    dual, v4 = Endpoint("b", gw6=True), Endpoint("a")
    v6 = Endpoint("0", gw4=False, gw6=True)
    assert Sandbox.joined(V20, [v4, dual]).gateway().v4 == "b"
    # 20.10: IPv6-only ranks above IPv4-only; 28: equal, the name decides
    assert Sandbox.joined(V20, [Endpoint("z", gw4=False, gw6=True), v4]).networks[0] == "z"
    assert Sandbox.joined(V28, [Endpoint("z", gw4=False, gw6=True), v4]).networks[0] == "a"
    assert Sandbox.joined(V28, [v4, v6]).gateway().v6 == "0"


def test_dual_stack_quirk_until_29_4_1() -> None:
    eps = [Endpoint("v4only", priority=100), Endpoint("dual", gw6=True)]
    assert Sandbox.joined(V28, eps).gateway().v4 == "dual"  # moby #51999
    fixed = Sandbox.joined(V29, eps).gateway()
    assert (fixed.v4, fixed.v6) == ("v4only", "dual")


def test_legacy_gateway_endpoint_gives_both_families() -> None:
    box = Sandbox.joined(V20, [Endpoint("a"), Endpoint("b", internal=True, gw6=True)])
    assert box.gateway().v4 == "a"
    assert box.gateway().v6 is None


@pytest.mark.parametrize("rules", ALL, ids=lambda r: r.label)
def test_disconnect_hands_over_to_the_next(rules: EngineRules) -> None:
    box = Sandbox.joined(rules, [Endpoint("a"), Endpoint("b"), Endpoint("c", internal=True)])
    change = predict_disconnect(box, "a")
    assert change.moved
    assert change.after.v4 == "b"


def test_connecting_twice_is_refused() -> None:
    box = Sandbox.joined(V20, [Endpoint("a")])
    with pytest.raises(ValueError, match="already connected"):
        box.join(Endpoint("a"))


names = st.text("abAB01_-.", min_size=1, max_size=5)
endpoint = st.builds(
    Endpoint,
    network=names,
    internal=st.booleans(),
    gw4=st.booleans(),
    gw6=st.booleans(),
    priority=st.integers(-2, 2),
)


@given(st.lists(endpoint, min_size=1, max_size=6, unique_by=lambda e: e.network), st.randoms())
def test_join_order_does_not_matter(eps: list[Endpoint], rnd: object) -> None:
    shuffled = list(eps)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    for rules in ALL:
        assert Sandbox.joined(rules, eps).networks == Sandbox.joined(rules, shuffled).networks


@given(st.lists(st.integers(0, 5), max_size=12).map(sorted), st.integers(-1, 6))
def test_go_sort_search_matches_bisect(values: list[int], x: int) -> None:
    import bisect

    assert _go_sort_search(len(values), lambda j: x < values[j]) == bisect.bisect_right(values, x)
