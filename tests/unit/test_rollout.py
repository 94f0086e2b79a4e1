"""The rollout plan: batches, the together phases, and what the first failure means."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenroom.fleet.rollout import Phase, Progress, Recovery, batch_size, plan_rollout, recover

HOSTS = ("app-1", "app-2", "app-3", "app-4", "app-5")
U, R, G, S, D = Progress.UNTOUCHED, Progress.RUNNING, Progress.GATED, Progress.SWITCHED, Progress.DONE


def test_rolling_one_at_a_time_in_the_hosts_order() -> None:
    plan = plan_rollout(HOSTS)
    assert plan.batches == tuple((h,) for h in HOSTS)
    assert plan.hosts == HOSTS  # the order locks are taken in
    assert all(p.kind == "deploy" and not p.handoff for p in plan.phases)


def test_batches_of_max_parallel_with_pauses_between() -> None:
    plan = plan_rollout(HOSTS, max_parallel=2, pause=5)
    assert plan.batches == (("app-1", "app-2"), ("app-3", "app-4"), ("app-5",))
    assert [p.pause_after for p in plan.phases] == [5, 5, 0]


@pytest.mark.parametrize(
    ("share", "hosts", "size"),
    [("25%", 5, 2), ("20%", 5, 1), ("100%", 5, 5), ("1%", 5, 1), ("50%", 4, 2), ("33%", 3, 1), ("34%", 3, 2)],
)
def test_a_percentage_of_the_hosts_rounds_up(share: str, hosts: int, size: int) -> None:
    assert batch_size(share, hosts) == size


def test_a_canary_goes_first_and_alone() -> None:
    plan = plan_rollout(HOSTS, max_parallel=2, canary=True, pause=10)
    assert plan.batches == (("app-1",), ("app-2", "app-3"), ("app-4", "app-5"))
    assert [p.canary for p in plan.phases] == [True, False, False]
    assert plan.phases[0].pause_after == 10


def test_with_a_load_balancer_at_least_one_server_keeps_serving() -> None:
    plan = plan_rollout(HOSTS[:3], max_parallel="100%", load_balancer=True)
    assert plan.batches == (("app-1", "app-2"), ("app-3",))
    assert all(p.handoff for p in plan.phases)
    assert "would leave the load balancer no server" in plan.notes[0]


def test_a_lone_host_is_not_drained() -> None:
    plan = plan_rollout(HOSTS[:1], load_balancer=True)
    assert plan.phases == (Phase("deploy", ("app-1",), handoff=False),)
    assert "one host" in plan.notes[0]


def test_together_gates_everywhere_then_switches_everywhere() -> None:
    plan = plan_rollout(HOSTS, strategy="together", load_balancer=True)
    assert [(p.kind, p.hosts) for p in plan.phases] == [("gate", HOSTS), ("switch", HOSTS), ("finish", HOSTS)]
    assert not any(p.handoff for p in plan.phases)


def test_no_hosts_and_repeated_hosts() -> None:
    assert plan_rollout(()).phases == ()
    with pytest.raises(ValueError, match="twice"):
        plan_rollout(("a", "a"))


@given(
    st.integers(1, 12),
    st.integers(1, 12) | st.sampled_from(["10%", "25%", "50%", "100%"]),
    st.booleans(),
    st.booleans(),
)
def test_every_host_is_in_exactly_one_batch_in_order(
    n: int, parallel: int | str, canary: bool, lb: bool
) -> None:
    hosts = tuple(f"h{i}" for i in range(n))
    plan = plan_rollout(hosts, max_parallel=parallel, canary=canary, load_balancer=lb)
    assert tuple(h for batch in plan.batches for h in batch) == hosts
    limit = batch_size(parallel, n)
    assert all(len(b) <= limit for b in plan.batches)
    if lb and n > 1:
        assert all(len(b) < n for b in plan.batches)


def test_rolling_failure_stops_and_leaves_the_rest_untouched() -> None:
    plan = plan_rollout(HOSTS, max_parallel=2)
    progress = {"app-1": D, "app-2": D, "app-3": Progress.FAILED, "app-4": R}
    got = recover(plan, progress, "app-3", "deploy")
    assert got == Recovery(
        failed="app-3",
        let_finish=("app-4",),
        keep_new=("app-1", "app-2"),
        untouched=("app-5",),
        notes=got.notes,
    )
    back = recover(plan, progress, "app-3", "deploy", rollback_on_failure=True)
    assert back.rollback == ("app-1", "app-2") and back.keep_new == () and back.untouched == ("app-5",)


def test_together_gate_failure_switches_none_and_removes_every_new_color() -> None:
    plan = plan_rollout(HOSTS, strategy="together")
    progress = {"app-1": G, "app-2": G, "app-3": Progress.FAILED, "app-4": R, "app-5": G}
    got = recover(plan, progress, "app-3", "gate")
    assert got.rollback == () and got.keep_new == ()
    assert got.remove_new == ("app-1", "app-2", "app-4", "app-5") and got.let_finish == ("app-4",)


def test_together_switch_failure_returns_the_switched_hosts() -> None:
    plan = plan_rollout(HOSTS, strategy="together")
    progress = {"app-1": S, "app-2": S, "app-3": Progress.FAILED, "app-4": R, "app-5": G}
    got = recover(plan, progress, "app-3", "switch")
    assert got.rollback == ("app-1", "app-2", "app-4")
    assert set(got.remove_new) == set(HOSTS) and got.keep_new == ()


def test_together_failure_after_every_switch_keeps_the_new_version() -> None:
    plan = plan_rollout(HOSTS[:3], strategy="together")
    got = recover(plan, {"app-1": D, "app-2": Progress.FAILED, "app-3": S}, "app-2", "finish")
    assert got.keep_new == ("app-1", "app-3") and got.rollback == () and got.remove_new == ()


def test_recover_checks_its_arguments() -> None:
    plan = plan_rollout(HOSTS[:2])
    with pytest.raises(ValueError, match="not a host"):
        recover(plan, {}, "app-9", "deploy")
    with pytest.raises(ValueError, match="no phase gate"):
        recover(plan, {}, "app-1", "gate")
