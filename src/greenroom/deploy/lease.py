"""A lock's lease: the holder renews it while it works, and a lock whose lease lapsed is
taken over by the next command, from any machine, without --force.

Renewing: the holder starts its lock container (created from the proxy's image, its
command `true` exits at once) every `call_timeout` seconds; the engine stamps the
container's State.StartedAt with its own clock. The last renewal is the later of the
lock's Created and StartedAt; the lease lapses RENEWALS renewals later. A taker asks the
engine for its clock now (GET /info SystemTime) and compares: both readings come from the
engine, so neither the taker's nor the holder's machine clock enters, and a skew between
machines (minutes, hours, a wrong time zone) changes nothing.

The holder judges its own lease by its monotonic clock, from the moment it *sent* the last
renewal that succeeded: once `lease - call_timeout` passed without another (the engine hung,
a network cut), it talks to that engine no more, before any taker can see the lease lapse.
Only the rate of the two clocks matters there (a monotonic clock and the engine's), not
their offset, and the margin of one renewal interval covers any rate a real clock has.
A renewal that finds the lock gone (taken over, `unlock --force`) stops the holder at once.
Taking over stays race-free: it removes the lapsed lock by the ID it inspected and creates
again; the engine lets one create win (lock.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from greenroom import labels
from greenroom.clock import Clock
from greenroom.engine.model import ContainerInfo, rfc3339
from greenroom.errors import EngineHung, GreenroomError, Locked, NotFound

RENEWALS = 3  # a lease lapses after this many renewals missed in a row
LEASE = f"{labels.PREFIX}holder_lease"  # the lease in seconds, a label of the lock


class LeaseEngine(Protocol):
    host: str

    @property
    def call_timeout(self) -> float: ...

    def start(self, container: str) -> None: ...

    def engine_time(self) -> datetime: ...

    def stop_talking(self, why: GreenroomError) -> None: ...


def lease_seconds(call_timeout: float) -> float:
    return RENEWALS * call_timeout


def last_renewal(c: ContainerInfo) -> datetime | None:
    """When the engine last saw the lock renewed (created or started), by its own clock."""
    times = [t for t in (rfc3339(c.created), rfc3339(c.started)) if t is not None]
    return max(times) if times else None


def lease_left(c: ContainerInfo, engine_now: datetime) -> float | None:
    """Seconds until the lock's lease lapses (0 or less: lapsed); None: it has no lease
    (an older greenroom's lock, or an unreadable time): held until proven gone."""
    try:
        lease = float(c.labels.get(LEASE, ""))
    except ValueError:
        return None
    last = last_renewal(c)
    if last is None or lease <= 0:
        return None
    return lease - (engine_now - last).total_seconds()


class Keeper:
    """Renews one taken lock's lease (`tick`, called every call_timeout by the clock)."""

    def __init__(self, engine: LeaseEngine, lock_id: str, app: str, clock: Clock) -> None:
        self.engine = engine
        self.lock_id = lock_id
        self.app = app
        self.clock = clock
        self.every = engine.call_timeout
        self.lease = lease_seconds(self.every)
        self.renewed = clock.monotonic()  # before the lock was created: its first "renewal"
        self.lost: GreenroomError | None = None

    def tick(self) -> bool:
        """One renewal; False once there is nothing more to renew (lost, or the host hung)."""
        sent = self.clock.monotonic()
        try:
            self.engine.start(self.lock_id)
        except NotFound:
            return self._lose("its lock is gone: another command took it over, or it was unlocked")
        except EngineHung:
            return False  # the command talks to this host no more; its lease will lapse
        except Exception as exc:
            silent = sent - self.renewed
            if silent >= self.lease - self.every:
                why = exc.message if isinstance(exc, GreenroomError) else f"{type(exc).__name__}: {exc}"
                return self._lose(f"its lock's lease could not be renewed for {silent:.0f} s ({why})")
            return True
        self.renewed = sent
        return True

    def _lose(self, why: str) -> bool:
        self.lost = Locked(
            f"{self.app}: this command stopped working on {self.engine.host}: {why}",
            where=self.engine.host,
            hint="another greenroom may be working on it now; run `greenroom status` and deploy again "
            "when it is done",
        )
        self.engine.stop_talking(self.lost)
        return False
