"""The per-app lock: a container name on the engine (Docker reserves names atomically).

The lock container is created, never started, from the proxy's image; its labels say
who holds it and since when. A lock whose holder process is gone from this machine is
stale and taken over; any other lock is released with `greenroom unlock APP`.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from greenroom import labels
from greenroom.clock import Clock
from greenroom.engine.client import Engine
from greenroom.engine.model import ContainerSpec
from greenroom.errors import Conflict, Locked, NotFound

PROXY = "-proxy"  # the proxy's own lock; app names cannot start with "-"


@dataclass(frozen=True)
class Holder:
    who: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.who} (pid {self.pid} on {self.host}) since {self.since}"


def me(clock: Clock) -> Holder:
    return Holder(
        f"{getpass.getuser()}@{socket.gethostname()}",
        socket.gethostname(),
        os.getpid(),
        clock.now().isoformat(timespec="seconds"),
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_of(engine: Engine, app: str) -> Holder | None:
    try:
        c = engine.container(labels.lock_name(app))
    except NotFound:
        return None
    lab = c.labels
    return Holder(
        lab.get(labels.HOLDER, "?"),
        lab.get(labels.HOLDER_HOST, "?"),
        int(lab.get(labels.HOLDER_PID, "0") or 0),
        lab.get(labels.SINCE, "?"),
    )


def stale(holder: Holder) -> bool:
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid)


def acquire(engine: Engine, app: str, image: str, clock: Clock) -> Holder:
    mine = me(clock)
    spec = ContainerSpec(
        name=labels.lock_name(app),
        image=image,
        network="none",
        command=("true",),
        restart="no",
        labels={
            **labels.owned(labels.ROLE_LOCK, app),
            labels.HOLDER: mine.who,
            labels.HOLDER_HOST: mine.host,
            labels.HOLDER_PID: str(mine.pid),
            labels.SINCE: mine.since,
        },
    )
    for _ in range(3):
        try:
            engine.create_container(spec)
            return mine
        except Conflict:
            held = holder_of(engine, app)
            if held is None:
                continue  # released meanwhile
            if stale(held):
                engine.remove(labels.lock_name(app))
                continue
            raise Locked(
                f"{app} is locked by {held.describe()}: another greenroom command is working on it",
                where=engine.host,
                hint=f"wait for it to finish; if that process is gone, `greenroom unlock {app}`",
            ) from None
    raise Locked(f"could not take the lock of {app}", where=engine.host, hint="try again")


def release(engine: Engine, app: str) -> None:
    engine.remove(labels.lock_name(app))


@contextmanager
def locked(engine: Engine, app: str, image: str, clock: Clock) -> Iterator[Holder]:
    holder = acquire(engine, app, image, clock)
    try:
        yield holder
    finally:
        release(engine, app)
