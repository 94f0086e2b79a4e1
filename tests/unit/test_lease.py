"""The lock's lease on a fake engine and clocks: renewed by the holder, judged by the
engine's own clock (machine clocks never enter), taken over once lapsed from any machine
without --force and race-free, and the holder's own view (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from greenroom.deploy import lease, lock
from greenroom.errors import EngineError, EngineHung, Locked
from tests.unit.fake_clock import FakeClock
from tests.unit.test_lock import APP, TICKS, FakeEngine, FakeProcs, Machine, take

OTHER_BOOT = "0b5e2f4c-1111-4222-8333-944455556666"  # the holder ran on another machine


def held_elsewhere(engine: FakeEngine) -> lock.Lock:
    """A lock taken by a greenroom on another machine (its pid cannot be judged from here)."""
    return take(engine, FakeProcs(Machine(), 77, 7000, boot=OTHER_BOOT))


def test_a_lock_of_another_machine_is_held_while_its_lease_runs_and_taken_once_it_lapsed() -> None:
    engine, me = FakeEngine(), FakeProcs(Machine(), 100, 1000)
    theirs = held_elsewhere(engine)
    lapses = lease.lease_seconds(engine.call_timeout)
    assert engine.lock().labels[lease.LEASE] == f"{lapses:g}"  # type: ignore[union-attr]
    engine.now += timedelta(seconds=lapses - 1)
    with pytest.raises(Locked, match="its lease lapses in 1 s by the engine's clock") as caught:
        take(engine, me)
    assert "without" not in caught.value.hint and "once the lease lapsed" in caught.value.hint
    engine.now += timedelta(seconds=2)  # the holder is gone: no renewal came
    mine = take(engine, me)  # no --force
    assert mine.id != theirs.id and engine.removed == [theirs.id]


def test_renewals_keep_the_lease_and_the_machines_clocks_never_enter() -> None:
    """The holder's renewals move the lease by the engine's clock; the taker's own clock
    (CLOCK says 2026-01-02, the engine years later) does not matter."""
    engine, me = FakeEngine(), FakeProcs(Machine(), 100, 1000)
    engine.now += timedelta(days=3 * 365)  # a skew of years between the machines and the engine
    TICKS.clear()
    theirs = held_elsewhere(engine)
    [renew] = TICKS
    for _ in range(10):  # an hour of work, renewed every call_timeout
        engine.now += timedelta(seconds=engine.call_timeout)
        assert renew()
        with pytest.raises(Locked):
            take(engine, me)
    lock.give_back(engine, theirs)
    assert TICKS == []  # giving back stops the renewals
    take(engine, me)


def test_two_takers_of_a_lapsed_lock_interleaved_only_one_holds_it() -> None:
    engine, m = FakeEngine(), Machine()
    a, b = FakeProcs(m, 100, 1000), FakeProcs(m, 200, 2000)
    old = held_elsewhere(engine)
    engine.now += timedelta(seconds=lease.lease_seconds(engine.call_timeout) + 1)
    got: list[lock.Lock] = []
    engine.before["remove"].append(lambda: got.append(take(engine, b)))
    with pytest.raises(Locked, match="pid 200"):
        take(engine, a)
    [b_lock] = got
    c = engine.lock()
    assert c is not None and c.id == b_lock.id and engine.removed == [old.id]


def test_a_lock_without_a_lease_is_held_and_unlock_needs_no_force_once_one_lapsed() -> None:
    engine, me = FakeEngine(), FakeProcs(Machine(), 100, 1000)
    theirs = held_elsewhere(engine)
    c = engine.lock()
    assert c is not None
    engine.by_id[c.id] = type(c)(
        **{**c.__dict__, "labels": {k: v for k, v in c.labels.items() if k != lease.LEASE}}
    )
    engine.now += timedelta(days=1)
    with pytest.raises(Locked, match="it has no lease"):
        lock.release(engine, APP, procs=me)  # an older greenroom's lock: a person decides
    engine.by_id[c.id] = c  # with its lease, lapsed a day ago
    assert lock.release(engine, APP, procs=me) == theirs.holder


def _keeper(engine: FakeEngine, clock: FakeClock) -> lease.Keeper:
    cid = engine.put("greenroom-lock-shop", {})
    return lease.Keeper(engine, cid, APP, clock)


def test_the_holder_stops_before_a_taker_could_see_its_lease_lapse() -> None:
    """Renewals fail (a network cut): the holder keeps trying, and once lease - one interval
    passed on its own monotonic clock it stops talking to the engine."""
    engine, clock = FakeEngine(), FakeClock()
    keeper = _keeper(engine, clock)
    engine.start_fails = EngineError("start: connection refused")
    clock.sleep(keeper.every)
    assert keeper.tick() and engine.stopped is None  # one missed: keep going
    clock.sleep(keeper.every)
    assert not keeper.tick()  # 2 of 3 intervals silent: the holder gives up the host
    assert isinstance(engine.stopped, Locked) and "could not be renewed for 30 s" in engine.stopped.message
    assert clock.elapsed() < keeper.lease  # before the engine could call it lapsed


def test_a_renewal_that_finds_the_lock_gone_stops_the_holder_at_once() -> None:
    engine, clock = FakeEngine(), FakeClock()
    keeper = _keeper(engine, clock)
    assert keeper.tick()
    engine.by_id.clear()  # `unlock --force`, then another took it
    assert not keeper.tick()
    assert isinstance(engine.stopped, Locked) and "its lock is gone" in engine.stopped.message


def test_a_hung_host_ends_the_renewals_quietly() -> None:
    engine, clock = FakeEngine(), FakeClock()
    keeper = _keeper(engine, clock)
    engine.start_fails = EngineHung("e3 did not answer within 15 s (start greenroom-lock-shop)")
    assert not keeper.tick() and engine.stopped is None  # the bound already stopped the host


def test_the_fake_clock_runs_renewals_every_call_timeout() -> None:
    engine, clock = FakeEngine(), FakeClock()
    taken = lock.acquire(engine, APP, "img", clock, FakeProcs(Machine(), 100, 1000))
    c0 = engine.lock()
    assert c0 is not None and c0.started == ""
    engine.now += timedelta(seconds=20)
    clock.sleep(engine.call_timeout)
    c1 = engine.lock()
    assert c1 is not None and c1.started == engine.now.isoformat()
    lock.give_back(engine, taken)
