"""The deploy lock against a fake engine: takeovers racing, removals in progress, holders
of other boots and pid namespaces, and `unlock` (no engine, no sleeping)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from greenroom import labels
from greenroom.deploy import lock
from greenroom.engine.model import ContainerInfo, ContainerSpec
from greenroom.errors import Conflict, GreenroomError, Locked, NotFound

APP = "shop"
NAME = labels.lock_name(APP)
BOOT = "927a6cc7-7ec0-4a22-923d-4a94a336c16f"
NS = 4026531836


class FixedClock:
    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the lock never sleeps")

    def wait(self, event: threading.Event, seconds: float) -> bool:
        raise AssertionError("the lock never waits")

    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def every(self, seconds: float, tick: Callable[[], bool]) -> Callable[[], None]:
        self.ticks.append(tick)  # the tests call it when they mean a renewal to happen
        return lambda: self.ticks.remove(tick) if tick in self.ticks else None

    @property
    def ticks(self) -> list[Callable[[], bool]]:
        return TICKS


TICKS: list[Callable[[], bool]] = []


CLOCK = FixedClock()


@dataclass
class Machine:
    """The processes of one boot: pid -> start time of those alive."""

    alive: dict[int, int] = field(default_factory=dict)


@dataclass
class FakeProcs:
    machine: Machine
    pid: int
    start: int
    boot: str | None = BOOT
    pidns: int | None = NS
    reads_own_pids: bool = True

    def __post_init__(self) -> None:
        self.machine.alive[self.pid] = self.start

    def me(self) -> lock.Identity:
        return lock.Identity(self.boot, self.pidns, self.pid, self.start, self.reads_own_pids)

    def gone(self, pid: int, start: int) -> bool:
        return self.machine.alive.get(pid) != start

    def exit(self) -> None:
        del self.machine.alive[self.pid]


class FakeEngine:
    """Names reserved atomically, removal by ID or name (NotFound swallowed, like
    Engine.remove), removals that can be "already in progress", and one-shot hooks that
    let another taker act just before a given call."""

    host = "unix:///fake.sock"
    call_timeout = 15.0

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # the engine's clock
        self.stopped: GreenroomError | None = None
        self.start_fails: GreenroomError | None = None
        self.by_id: dict[str, ContainerInfo] = {}
        self.removing: set[str] = set()
        self.before: dict[str, list[Callable[[], None]]] = {"create": [], "inspect": [], "remove": []}
        self.removed: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.step: Callable[[], None] = lambda: None  # before each call (a turnstile)
        self.removal_turns = 0  # turns a removal stays "in progress"
        self._n = 0

    def _hook(self, op: str, ref: str) -> None:
        self.step()
        self.calls.append((op, ref))
        if self.before[op]:
            self.before[op].pop(0)()

    def _find(self, ref: str) -> ContainerInfo | None:
        if ref in self.by_id:
            return self.by_id[ref]
        return next((c for c in self.by_id.values() if c.name == ref), None)

    def put(self, name: str, lab: dict[str, str]) -> str:
        self._n += 1
        cid = f"{self._n:064x}"
        self.by_id[cid] = ContainerInfo(
            cid, name, False, 0, "none", (), (), lab, created=self.now.isoformat()
        )
        return cid

    def start(self, container: str) -> None:
        """A renewal: the engine stamps the start with its own clock."""
        c = self._find(container)
        if self.start_fails is not None:
            raise self.start_fails
        if c is None:
            raise NotFound(f"start {container}: not found")
        self.by_id[c.id] = replace(c, started=self.now.isoformat())

    def engine_time(self) -> datetime:
        return self.now

    def stop_talking(self, why: GreenroomError) -> None:
        self.stopped = self.stopped or why

    def create_container(self, spec: ContainerSpec) -> str:
        self._hook("create", spec.name)
        if self._find(spec.name) is not None:
            raise Conflict(f'create container {spec.name}: Conflict. The container name "/{spec.name}"')
        return self.put(spec.name, dict(spec.labels))

    def container(self, ref: str) -> ContainerInfo:
        self._hook("inspect", ref)
        c = self._find(ref)
        if c is None:
            raise NotFound(f"container {ref}: not found")
        return c

    def remove(self, container: str) -> None:
        self._hook("remove", container)
        c = self._find(container)
        if c is None:
            return
        if c.id in self.removing:
            raise Conflict(f"remove {container}: removal of container {c.id} is already in progress")
        if self.removal_turns:
            self.removing.add(c.id)
            for _ in range(self.removal_turns):
                self.step()
            self.removing.discard(c.id)
        del self.by_id[c.id]
        self.removed.append(c.id)

    def finish_removal(self, cid: str) -> None:
        self.removing.discard(cid)
        del self.by_id[cid]
        self.removed.append(cid)

    def lock(self) -> ContainerInfo | None:
        return self._find(NAME)


def holder(pid: int, start: int, **fields: object) -> lock.Holder:
    base: dict[str, object] = {
        "who": "ci@localhost",
        "host": "localhost",
        "pid": pid,
        "since": "2026-01-01T00:00:00+00:00",
        "token": "feedc0de",
        "boot": BOOT,
        "pidns": NS,
        "start": start,
    }
    base.update(fields)
    return lock.Holder(**base)  # type: ignore[arg-type]


def plant(engine: FakeEngine, h: lock.Holder, app: str = APP) -> str:
    return engine.put(labels.lock_name(app), {**labels.owned(labels.ROLE_LOCK, app), **h.labels()})


def take(engine: FakeEngine, procs: FakeProcs) -> lock.Lock:
    return lock.acquire(engine, APP, "img", CLOCK, procs)


# -- the takeover race ------------------------------------------------------------------


def test_two_takers_of_a_stale_lock_interleaved_only_one_holds_it() -> None:
    """A and B both judge the lock stale; B removes it and creates its own before A's
    removal: A removes the ID it inspected (gone), creates again and is Locked; B's lock
    stays, and B's release leaves nothing."""
    m, engine = Machine(), FakeEngine()
    a, b = FakeProcs(m, 100, 1000), FakeProcs(m, 200, 2000)
    old = plant(engine, holder(300, 3000))  # pid 300 is gone
    got: list[lock.Lock] = []
    engine.before["remove"].append(lambda: got.append(take(engine, b)))
    with pytest.raises(Locked) as exc:
        take(engine, a)
    [b_lock] = got
    assert exc.value.exit_code == 5
    assert "pid 200" in exc.value.message
    c = engine.lock()
    assert c is not None and c.id == b_lock.id and c.labels[lock.TOKEN] == b_lock.holder.token
    assert engine.removed == [old]  # A never removed B's lock
    assert ("remove", NAME) not in engine.calls  # nothing by name
    lock.give_back(engine, b_lock)
    assert engine.lock() is None


def test_a_taker_that_looked_before_another_took_and_released_it_takes_it_after() -> None:
    """A judges the lock stale; B takes it over, works and releases before A's removal by
    the old ID (nothing): A creates again and holds the lock, one after the other."""
    m, engine = Machine(), FakeEngine()
    a, b = FakeProcs(m, 100, 1000), FakeProcs(m, 200, 2000)
    old = plant(engine, holder(300, 3000))

    def b_runs() -> None:
        with lock.locked(engine, APP, "img", CLOCK, b):
            pass

    engine.before["remove"].append(b_runs)
    taken = take(engine, a)
    c = engine.lock()
    assert c is not None and c.id == taken.id and c.labels[labels.HOLDER_PID] == "100"
    assert engine.removed[0] == old and len(engine.removed) == 2  # the stale one, B's own


def test_a_former_holders_release_never_deletes_the_next_lock() -> None:
    """B's lock is force-unlocked and A takes the app; when B finishes, its release removes
    its own ID only: A's lock stays."""
    m, engine = Machine(), FakeEngine()
    a, b = FakeProcs(m, 100, 1000), FakeProcs(m, 200, 2000)
    b_lock = take(engine, b)
    assert lock.release(engine, APP, force=True, procs=a) is not None
    a_lock = take(engine, a)
    lock.give_back(engine, b_lock)
    c = engine.lock()
    assert c is not None and c.id == a_lock.id
    lock.give_back(engine, a_lock)
    assert engine.lock() is None


def test_removal_already_in_progress_is_locked_not_a_traceback() -> None:
    m, engine = Machine(), FakeEngine()
    a = FakeProcs(m, 100, 1000)
    old = plant(engine, holder(300, 3000))
    engine.removing.add(old)  # another taker's removal of it is under way
    with pytest.raises(Locked) as exc:
        take(engine, a)
    assert "taking over" in exc.value.message
    c = engine.lock()
    assert c is not None and c.id == old


def test_removal_in_progress_then_the_other_taker_creates_its_lock() -> None:
    m, engine = Machine(), FakeEngine()
    a, b = FakeProcs(m, 100, 1000), FakeProcs(m, 200, 2000)
    old = plant(engine, holder(300, 3000))
    engine.removing.add(old)
    b_lock: list[lock.Lock] = []

    def b_finishes() -> None:  # before A creates again: B's removal ends, B creates
        engine.finish_removal(old)
        b_lock.append(take(engine, b))

    engine.before["create"] += [lambda: None, b_finishes]
    with pytest.raises(Locked) as exc:
        take(engine, a)
    assert "pid 200" in exc.value.message
    c = engine.lock()
    assert c is not None and c.id == b_lock[0].id


def test_removal_in_progress_that_ends_before_the_retry_lets_us_take_it() -> None:
    m, engine = Machine(), FakeEngine()
    a = FakeProcs(m, 100, 1000)
    old = plant(engine, holder(300, 3000))
    engine.removing.add(old)
    engine.before["create"] += [lambda: None, lambda: engine.finish_removal(old)]
    taken = take(engine, a)
    c = engine.lock()
    assert c is not None and c.id == taken.id


def test_a_lock_released_meanwhile_is_created_again() -> None:
    m, engine = Machine(), FakeEngine()
    b = FakeProcs(m, 200, 2000)
    b_lock = take(engine, b)
    a = FakeProcs(m, 100, 1000)
    engine.before["inspect"].append(lambda: lock.give_back(engine, b_lock))
    a_lock = take(engine, a)
    c = engine.lock()
    assert c is not None and c.id == a_lock.id


class Turnstile:
    """Takers (threads standing in for processes) that make one engine call at a time, in
    turn: each waits for its turn before a call and passes it on before the next."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.turn = 0
        self.done: set[int] = set()
        self.cond = threading.Condition()
        self.local = threading.local()

    def _pass(self, i: int) -> None:
        live = [j for j in range(self.n) if j not in self.done]
        if live:
            self.turn = next((j for j in live if j > i), live[0])
        self.cond.notify_all()

    def step(self) -> None:
        i: int = self.local.i
        with self.cond:
            if self.local.started:
                self._pass(i)
            self.local.started = True
            if not self.cond.wait_for(lambda: self.turn == i, timeout=10):
                raise AssertionError("the turnstile stuck")

    def run(self, i: int, fn: Callable[[], None]) -> None:
        self.local.i, self.local.started = i, False
        try:
            fn()
        finally:
            with self.cond:
                self.done.add(i)
                if self.turn == i:
                    self._pass(i)


@pytest.mark.parametrize("removal_turns", [0, 1, 4], ids=["instant removal", "slow", "slower"])
def test_six_takers_in_turn_exactly_one_wins(removal_turns: int) -> None:
    """Six takers of a stale lock, one engine call each in turn: all see it stale, one
    removes it (over several turns: the others' removals are "already in progress"), and
    exactly one holds the lock; five are Locked; only the stale lock was removed."""
    m, engine = Machine(), FakeEngine()
    old = plant(engine, holder(300, 3000))
    takers = [FakeProcs(m, 100 + i, 1000 + i) for i in range(6)]
    gate = Turnstile(len(takers))
    engine.step = gate.step
    engine.removal_turns = removal_turns
    results: dict[int, lock.Lock | Locked] = {}

    def taker(i: int) -> None:
        try:
            results[i] = take(engine, takers[i])
        except Locked as exc:
            results[i] = exc

    threads = [threading.Thread(target=gate.run, args=(i, lambda i=i: taker(i))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    winners = [r for r in results.values() if isinstance(r, lock.Lock)]
    losers = [r for r in results.values() if isinstance(r, Locked)]
    assert len(winners) == 1 and len(losers) == 5, results
    c = engine.lock()
    assert c is not None and c.id == winners[0].id
    assert engine.removed == [old]
    engine.step = lambda: None
    lock.give_back(engine, winners[0])
    assert engine.lock() is None


# -- what is stale ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"boot": "0c4a-another-boot"}, "another machine or boot"),
        ({"pidns": NS + 7}, "another pid namespace (greenroom in a container)"),
        ({"boot": None}, "an older lock: no boot id"),
        ({"pidns": None}, "an older lock: no pid namespace"),
        ({"start": None}, "an older lock: no start time"),
        ({"pid": 0}, "no pid"),
        ({"start": 4242, "pid": 400}, "the holder is alive"),
    ],
)
def test_a_lock_not_provably_abandoned_is_held(fields: dict[str, Any], why: str) -> None:
    m, engine = Machine(), FakeEngine()
    m.alive[400] = 4242
    a = FakeProcs(m, 100, 1000)
    old = plant(engine, replace(holder(300, 3000), **fields))  # pid 300 is not alive here
    with pytest.raises(Locked) as exc:
        take(engine, a)
    assert "--force" in exc.value.hint, why
    assert engine.removed == [], why
    c = engine.lock()
    assert c is not None and c.id == old


def test_an_older_lock_of_this_host_with_a_dead_pid_is_held() -> None:
    """The old rule (same hostname, pid gone) took over live locks of containers and CI
    agents called `localhost`; a lock without the new fields is never judged stale."""
    m, engine = Machine(), FakeEngine()
    engine.put(
        NAME,
        {
            **labels.owned(labels.ROLE_LOCK, APP),
            labels.HOLDER: "ci@localhost",
            labels.HOLDER_HOST: "localhost",
            labels.HOLDER_PID: "300",
            labels.SINCE: "2026-01-01T00:00:00+00:00",
        },
    )
    with pytest.raises(Locked):
        take(engine, FakeProcs(m, 100, 1000))
    assert engine.removed == []


@pytest.mark.parametrize("alive", [None, 9999], ids=["pid gone", "pid reused by another process"])
def test_a_lock_of_a_gone_holder_here_is_taken_over_by_its_id(alive: int | None) -> None:
    m, engine = Machine(), FakeEngine()
    if alive is not None:
        m.alive[300] = alive
    old = plant(engine, holder(300, 3000))
    taken = take(engine, FakeProcs(m, 100, 1000))
    assert engine.removed == [old]
    assert ("remove", old) in engine.calls and ("remove", NAME) not in engine.calls
    c = engine.lock()
    assert c is not None and c.id == taken.id and c.labels[labels.HOLDER_PID] == "100"


def test_nothing_is_stale_when_our_proc_shows_another_pid_namespace() -> None:
    m, engine = Machine(), FakeEngine()
    old = plant(engine, holder(300, 3000))
    with pytest.raises(Locked):
        take(engine, FakeProcs(m, 100, 1000, reads_own_pids=False))
    assert engine.lock() is not None and engine.removed == [] and old in engine.by_id


@pytest.mark.parametrize(
    "lab",
    [
        {},
        {labels.MANAGED: "true", labels.ROLE: labels.ROLE_APP, labels.APP: APP},
        {labels.MANAGED: "true", labels.ROLE: labels.ROLE_LOCK, labels.APP: "other"},
    ],
    ids=["not greenroom's", "an app container", "another app's lock"],
)
def test_a_container_greenroom_did_not_create_as_this_lock_is_never_removed(lab: dict[str, str]) -> None:
    m, engine = Machine(), FakeEngine()
    cid = engine.put(NAME, lab)
    with pytest.raises(Locked) as exc:
        take(engine, FakeProcs(m, 100, 1000))
    assert "did not create" in exc.value.message
    with pytest.raises(Locked):
        lock.release(engine, APP, force=True)
    assert engine.removed == [] and cid in engine.by_id


def test_the_lock_records_who_holds_it() -> None:
    m, engine = Machine(), FakeEngine()
    taken = take(engine, FakeProcs(m, 100, 1000))
    c = engine.lock()
    assert c is not None
    got = lock.Holder.of(c.labels)
    assert got == taken.holder
    assert (got.boot, got.pidns, got.pid, got.start) == (BOOT, NS, 100, 1000)
    assert len(got.token) == 16 and c.labels[labels.MANAGED] == "true"
    assert c.labels[labels.ROLE] == labels.ROLE_LOCK and c.labels[labels.APP] == APP


def test_locked_gives_back_its_own_lock_by_id() -> None:
    m, engine = Machine(), FakeEngine()
    with lock.locked(engine, APP, "img", CLOCK, FakeProcs(m, 100, 1000)) as h:
        c = engine.lock()
        assert c is not None and c.labels[lock.TOKEN] == h.token
    assert engine.lock() is None and engine.calls[-1] == ("remove", c.id)


# -- unlock -----------------------------------------------------------------------------


def test_unlock_refuses_a_holder_that_may_be_alive_unless_forced() -> None:
    m, engine = Machine(), FakeEngine()
    me = FakeProcs(m, 100, 1000)
    other_ns = holder(1, 55, pidns=NS + 1, who="ci@runner", host="runner")
    cid = plant(engine, other_ns)
    with pytest.raises(Locked) as exc:
        lock.release(engine, APP, procs=me)
    assert exc.value.exit_code == 5
    assert "ci@runner" in exc.value.message and "pid 1 on runner" in exc.value.hint
    assert "--force" in exc.value.hint
    assert cid in engine.by_id
    assert lock.release(engine, APP, force=True, procs=me) == other_ns
    assert engine.removed == [cid]
    assert lock.release(engine, APP, procs=me) is None


def test_unlock_releases_a_provably_abandoned_lock_without_force() -> None:
    m, engine = Machine(), FakeEngine()
    cid = plant(engine, holder(300, 3000))
    assert lock.release(engine, APP, procs=FakeProcs(m, 100, 1000)) is not None
    assert engine.removed == [cid]


# -- this machine's processes -----------------------------------------------------------


def test_start_time_is_field_22_even_with_odd_command_names() -> None:
    tail = " ".join(str(n) for n in range(3, 53)).replace("3", "S", 1)
    assert lock.start_time(f"42 (a) b) c) {tail}") == 22
    assert lock.start_time(f"42 (plain) {tail}") == 22
    assert lock.start_time("42 (cut) S 1 2") is None


def test_procfs_knows_this_process_and_a_finished_one() -> None:
    procs = lock.Procfs()
    me = procs.me()
    assert me.pid == os.getpid() and me.reads_own_pids
    assert me.boot and me.pidns and me.start
    assert not procs.gone(me.pid, me.start)
    assert procs.gone(me.pid, me.start + 1)  # the pid names a process started at another time
    child = subprocess.Popen(["true"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert procs.gone(child.pid, 0)
    child.wait()
    assert procs.gone(child.pid, 0)
