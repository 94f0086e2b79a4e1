"""The per-app lock: a container name on the engine (Docker reserves names atomically).

The lock container is created, never started, from the proxy's image; its labels say
who holds it: a random token, and the holder process as the kernel knows it (boot id,
pid-namespace inode, pid, start time), plus user, hostname and since when for people.

Whoever takes a lock remembers the ID it created and releases that ID only: a lock that
was taken over meanwhile is never deleted by its former holder. A lock is stale, and
taken over, when its lease lapsed (deploy/lease.py: the holder renews it while it works,
judged by the engine's own clock, so from any machine) or when it provably belongs to a
process of this boot and this pid namespace that is gone (or whose pid now names another
process). Anything else, a lock whose lease runs or of an older greenroom that recorded no
lease, is held: `greenroom unlock APP --force` releases it after a person made sure its
holder is gone.

A takeover removes the stale lock by the ID it inspected. When that ID is already gone,
or another taker's removal of it is in progress, it creates again once; a name conflict
then means another greenroom got there first: Locked, never a traceback. Nothing that
greenroom did not create (its managed and role labels) is ever removed.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol

from greenroom import labels
from greenroom.clock import Clock
from greenroom.deploy.lease import LEASE, Keeper, LeaseEngine, lease_left, lease_seconds
from greenroom.engine.model import ContainerInfo, ContainerSpec
from greenroom.errors import Conflict, GreenroomError, Locked, NotFound
from greenroom.identity import user_at_host

PROXY = "-proxy"  # the proxy's own lock; app names cannot start with "-"

TOKEN = f"{labels.PREFIX}holder_token"
BOOT = f"{labels.PREFIX}holder_boot"
PIDNS = f"{labels.PREFIX}holder_pidns"
START = f"{labels.PREFIX}holder_start"

ATTEMPTS = 4  # creates per acquire: a lock released meanwhile, a stale one removed, ...


class LockEngine(LeaseEngine, Protocol):
    """The part of engine.client.Engine the lock uses (a fake stands in for it in tests)."""

    def create_container(self, spec: ContainerSpec) -> str: ...

    def container(self, ref: str) -> ContainerInfo: ...

    def remove(self, container: str) -> None: ...


# -- who a process is ----------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A process as the kernel knows it; a field that could not be read is None."""

    boot: str | None  # /proc/sys/kernel/random/boot_id: the same in every container of a boot
    pidns: int | None  # inode of /proc/self/ns/pid
    pid: int
    start: int | None  # field 22 of /proc/PID/stat: clock ticks after boot
    reads_own_pids: bool = True  # /proc shows this pid namespace (else pids read there are not ours)


def start_time(stat: str) -> int | None:
    """Field 22 (starttime) of a /proc/PID/stat line; comm (field 2) may hold spaces and ')'."""
    try:
        rest = stat[stat.rindex(")") + 2 :].split()
        return int(rest[22 - 3])
    except (ValueError, IndexError):
        return None


def _state(stat: str) -> str:
    rest = stat[stat.rfind(")") + 2 :]
    return rest[:1]


class Procfs:
    """This machine's processes, read from /proc and asked with kill(pid, 0)."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root

    def _read(self, path: str) -> str | None:
        try:
            with open(f"{self.root}/{path}") as f:
                return f.read()
        except OSError:
            return None

    def me(self) -> Identity:
        pid = os.getpid()
        boot = (self._read("sys/kernel/random/boot_id") or "").strip() or None
        try:
            pidns: int | None = os.stat(f"{self.root}/self/ns/pid").st_ino
        except OSError:
            pidns = None
        stat = self._read("self/stat")
        try:
            reads_own = os.readlink(f"{self.root}/self") == str(pid)
        except OSError:
            reads_own = False
        return Identity(boot, pidns, pid, start_time(stat) if stat else None, reads_own)

    def gone(self, pid: int, start: int) -> bool:
        """True only when provably so: no process has that pid, it is a zombie, or the pid
        now names a process started at another time. Unreadable means alive."""
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # exists, another user's
        except OSError:
            return False
        stat = self._read(f"{pid}/stat")
        if stat is None:
            # exited between the two looks, or hidden from us (hidepid): ask again
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except OSError:
                pass
            return False
        if _state(stat) in ("Z", "X"):
            return True  # exited, not yet reaped: it cannot release anything
        now = start_time(stat)
        return now is not None and now != start


class Processes(Protocol):
    def me(self) -> Identity: ...

    def gone(self, pid: int, start: int) -> bool: ...


PROCS: Processes = Procfs()


# -- what a lock says ----------------------------------------------------------------


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Holder:
    who: str
    host: str
    pid: int
    since: str
    token: str = ""
    boot: str | None = None
    pidns: int | None = None
    start: int | None = None

    def describe(self) -> str:
        return f"{self.who} (pid {self.pid} on {self.host}) since {self.since}"

    def labels(self) -> dict[str, str]:
        out = {
            labels.HOLDER: self.who,
            labels.HOLDER_HOST: self.host,
            labels.HOLDER_PID: str(self.pid),
            labels.SINCE: self.since,
            TOKEN: self.token,
        }
        if self.boot is not None:
            out[BOOT] = self.boot
        if self.pidns is not None:
            out[PIDNS] = str(self.pidns)
        if self.start is not None:
            out[START] = str(self.start)
        return out

    @classmethod
    def of(cls, lab: Mapping[str, str]) -> Holder:
        return cls(
            lab.get(labels.HOLDER, "?"),
            lab.get(labels.HOLDER_HOST, "?"),
            _int(lab.get(labels.HOLDER_PID)) or 0,
            lab.get(labels.SINCE, "?"),
            lab.get(TOKEN, ""),
            lab.get(BOOT) or None,
            _int(lab.get(PIDNS)),
            _int(lab.get(START)),
        )


def me(clock: Clock, procs: Processes | None = None) -> Holder:
    ident = (procs or PROCS).me()
    return Holder(
        user_at_host(),
        socket.gethostname(),
        ident.pid,
        clock.now().isoformat(timespec="seconds"),
        secrets.token_hex(8),
        ident.boot,
        ident.pidns,
        ident.start,
    )


def is_lock(c: ContainerInfo, app: str) -> bool:
    """Whether greenroom created this container as APP's lock (else it is never removed)."""
    lab = c.labels
    return (
        lab.get(labels.MANAGED) == "true"
        and lab.get(labels.ROLE) == labels.ROLE_LOCK
        and lab.get(labels.APP) == app
    )


def stale(holder: Holder, procs: Processes | None = None) -> bool:
    """Provably abandoned: the holder is a process of this boot and this pid namespace,
    and that pid is gone or names another process now. Unknown fields mean held."""
    procs = procs or PROCS
    if not holder.boot or holder.pidns is None or holder.start is None or holder.pid <= 0:
        return False
    mine = procs.me()
    if not mine.reads_own_pids or mine.boot is None or mine.pidns is None:
        return False
    if holder.boot != mine.boot or holder.pidns != mine.pidns:
        return False
    return procs.gone(holder.pid, holder.start)


def _inspect(engine: LockEngine, app: str) -> ContainerInfo | None:
    try:
        return engine.container(labels.lock_name(app))
    except NotFound:
        return None


def _not_greenroom(engine: LockEngine, app: str, c: ContainerInfo) -> Locked:
    return Locked(
        f"{app} cannot be locked: the container {c.name} ({c.short_id}) holds the lock's name "
        "and greenroom did not create it",
        where=engine.host,
        hint=f"rename or remove that container yourself (`docker rm {c.short_id}`) if it is not needed",
    )


def _lease_text(left: float | None) -> str:
    if left is None:
        return "it has no lease (an older greenroom's lock)"
    return f"its lease lapses in {max(left, 0.0):.0f} s by the engine's clock unless its holder renews it"


def _held(engine: LockEngine, app: str, held: Holder, left: float | None) -> Locked:
    return Locked(
        f"{app} is locked by {held.describe()}: another greenroom command is working on it "
        f"({_lease_text(left)})",
        where=engine.host,
        hint="wait for it to finish; if that command is gone, the next command takes the lock over "
        f"once the lease lapsed (or `greenroom unlock {app} --force` now, once you made sure)",
    )


def _left(engine: LockEngine, c: ContainerInfo) -> float | None:
    """The lock's lease left by the engine's clock (None: no lease)."""
    if LEASE not in c.labels:
        return None
    return lease_left(c, engine.engine_time())


# -- taking and giving back ----------------------------------------------------------


@dataclass(frozen=True)
class Lock:
    """A lock this process took: the container ID it created is the only one it removes."""

    app: str
    id: str
    holder: Holder
    keeper: Keeper | None = None
    stop_renewing: Callable[[], None] = field(default=lambda: None, compare=False)


def acquire(engine: LockEngine, app: str, image: str, clock: Clock, procs: Processes | None = None) -> Lock:
    mine = me(clock, procs)
    spec = ContainerSpec(
        name=labels.lock_name(app),
        image=image,
        network="none",
        command=("true",),
        restart="no",
        labels={
            **labels.owned(labels.ROLE_LOCK, app),
            **mine.labels(),
            LEASE: f"{lease_seconds(engine.call_timeout):g}",
        },
    )
    tried: set[str] = set()  # stale locks this call removed or tried to
    for _ in range(ATTEMPTS):
        keeper_since = clock.monotonic()
        try:
            cid = engine.create_container(spec)
        except Conflict:
            pass
        else:
            keeper = Keeper(engine, cid, app, clock)
            keeper.renewed = keeper_since
            return Lock(app, cid, mine, keeper, clock.every(keeper.every, keeper.tick))
        c = _inspect(engine, app)
        if c is None:
            continue  # released meanwhile
        if not is_lock(c, app):
            raise _not_greenroom(engine, app, c)
        held = Holder.of(c.labels)
        if c.id in tried:
            # our removal of it failed (another taker's is in progress): theirs it is
            raise Locked(
                f"{app}: another greenroom is taking over the stale lock of {held.describe()}",
                where=engine.host,
                hint="try again in a moment",
            )
        if not stale(held, procs):
            left = _left(engine, c)
            if left is None or left > 0:
                raise _held(engine, app, held, left)
        tried.add(c.id)
        # that lock, by its ID: never one created after our look. Gone already, or another
        # taker's removal of it in progress: create again all the same
        with suppress(NotFound, Conflict):
            engine.remove(c.id)
    raise Locked(f"could not take the lock of {app}", where=engine.host, hint="try again")


def give_back(engine: LockEngine, taken: Lock) -> None:
    """Remove the lock this process created, by its ID; one taken over meanwhile (or
    force-unlocked and taken by another) is not ours and stays."""
    taken.stop_renewing()
    with suppress(Conflict):  # someone is removing it already (`unlock --force`)
        engine.remove(taken.id)


def release(
    engine: LockEngine, app: str, *, force: bool = False, procs: Processes | None = None
) -> Holder | None:
    """Release APP's lock from outside (`greenroom unlock`): only a lock greenroom created,
    and, unless forced, only one whose holder is provably gone. Returns the holder released
    (None: not locked); raises Locked when refused."""
    c = _inspect(engine, app)
    if c is None:
        return None
    if not is_lock(c, app):
        raise _not_greenroom(engine, app, c)
    held = Holder.of(c.labels)
    left = None if force or stale(held, procs) else _left(engine, c)
    if not force and not stale(held, procs) and (left is None or left > 0):
        raise Locked(
            f"{app} is locked by {held.describe()}, which may still be running "
            f"(it is not provably gone from this machine, and {_lease_text(left)})",
            where=engine.host,
            hint=f"make sure {held.who}'s greenroom (pid {held.pid} on {held.host}) is gone, "
            f"then `greenroom unlock {app} --force`",
        )
    with suppress(Conflict):  # being removed already
        engine.remove(c.id)
    return held


@contextmanager
def locked(
    engine: LockEngine, app: str, image: str, clock: Clock, procs: Processes | None = None
) -> Iterator[Holder]:
    taken = acquire(engine, app, image, clock, procs)
    try:
        yield taken.holder
    except BaseException:
        with suppress(GreenroomError):  # the failure says more; a lock left lapses with its lease
            give_back(engine, taken)
        raise
    give_back(engine, taken)
