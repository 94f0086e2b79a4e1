"""The bound on a host's engine calls, and what follows once a call overran it.

A call that is not long by nature (inspect, list, create, start, connect, a short exec)
must answer within `seconds`. One that does not leaves the host *hung* for the rest of
the command: every later call on it fails at once with the same error (an undo does not
wait a full bound per call again; the next command repairs what this one left). Calls
that are long by nature have their own deadlines (a stop: its stop timeout plus the
bound; a pull or a log stream: the bound between two pieces of progress; a helper's
wait: its own timeout) and are judged hung only if the engine then fails a ping too.

Pure: no engine SDK here; engine/calls.py applies it to the Docker API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from greenroom.errors import EngineHung, GreenroomError

DEFAULT_CALL_TIMEOUT = 15.0  # seconds: a hung host is named within about that, undo included


@dataclass(frozen=True)
class HostLabel:
    """How messages name an engine: a fleet host by its name and `engine:` line, else the address."""

    address: str
    name: str | None = None  # the fleet host's name (hosts[].name)
    origin: str = ""  # where the address came from: "hosts.e3.engine", "engine.host", "--engine"

    @property
    def who(self) -> str:
        return f"host {self.name}" if self.name else self.address

    def unreachable_hint(self) -> str:
        if self.name:
            return (
                f"is host {self.name} up and its engine running? its `engine:` line ({self.origin}) says "
                f"{self.address}; try `docker -H {self.address} version` from here"
            )
        return "is dockerd running? set DOCKER_HOST or pass --engine (unix://, ssh://, tcp://)"

    def hung_hint(self, seconds: float) -> str:
        setting = f"hosts.{self.name}.call_timeout" if self.name else "engine.call_timeout"
        check = (
            f"host {self.name}'s engine ({self.origin}: {self.address})"
            if self.name
            else f"the engine at {self.address}"
        )
        return (
            f"{check} took the call and did not answer: is its dockerd stopped or overloaded? "
            f"(`docker -H {self.address} version`). This command did not talk to it again; once it "
            "answers, the next greenroom command repairs what was left and takes over the lock when "
            f"its lease has lapsed (no --force). A slow but working engine: raise {setting} "
            f"(now {seconds:g}s)"
        )


class CallBound:
    """One host's bound, shared by every thread of a command that talks to that host."""

    def __init__(self, seconds: float, label: HostLabel) -> None:
        self.seconds = seconds
        self.label = label
        self._lock = threading.Lock()
        self._stopped: GreenroomError | None = None  # why this command talks to the host no more

    @property
    def stopped(self) -> GreenroomError | None:
        return self._stopped

    def check(self, what: str) -> None:
        """Before a call: fail at once when the host is known hung (or was given up)."""
        err = self._stopped
        if err is not None:
            raise type(err)(
                f"{what}: not attempted, {self.label.who} is not answering ({err.message})",
                where=err.where,
                hint=err.hint,
            ) from err

    def overran(self, what: str, seconds: float | None = None) -> EngineHung:
        """A call that got no answer in time: the host is hung from now on."""
        n = self.seconds if seconds is None else seconds
        err = EngineHung(
            f"{self.label.who} did not answer within {n:g} s ({what})",
            where=self.label.address,
            hint=self.label.hung_hint(self.seconds),
        )
        self.stop(err)
        return err

    def stop(self, err: GreenroomError) -> None:
        """Talk to this host no more in this command (the first reason is kept)."""
        with self._lock:
            if self._stopped is None:
                self._stopped = err
