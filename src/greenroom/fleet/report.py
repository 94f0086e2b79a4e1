"""What a rollout did on each host, and what it means (pure: the CLI renders it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from greenroom.deploy.outcome import Outcome
from greenroom.errors import DeployFailed, GreenroomError
from greenroom.fleet.rollout import Recovery, RolloutPlan

HostStatus = Literal[
    "deployed",  # the new version serves there
    "done",  # abort, weight: the command's work is done there
    "failed",  # its deploy failed; its own undo left the old version serving
    "returned",  # it had switched; returned to the old version after another host failed
    "withdrawn",  # together: it passed its gate, then another host failed: nothing switched there
    "untouched",  # nothing was done there
    "unreachable",  # its engine did not answer
]


@dataclass
class HostResult:
    host: str
    status: HostStatus = "untouched"
    outcome: Outcome | None = None
    error: str = ""  # why it failed (masked)
    step: str = ""  # the step that failed, or "" (a hand-off, the lock, reaching the engine)
    switch: tuple[float, float] | None = None  # wall clock: its switch sent, and answered
    notes: list[str] = field(default_factory=list)
    exception: GreenroomError | None = field(default=None, repr=False)  # what `error` says

    def failed(self, exc: GreenroomError, step: str = "", status: HostStatus = "failed") -> None:
        """It failed outside a deploy's steps (reaching it, its lock, its hand-off)."""
        self.status, self.error, self.step, self.exception = status, str(exc), step, exc

    def failed_with(self, exc: DeployFailed) -> None:
        """Its deploy failed: where and why; still "deployed" when it failed after its
        confirm (nothing undone: the new version is live there)."""
        self.outcome, self.error, self.step = exc.outcome, str(exc), exc.outcome.failed_step
        self.exception = exc
        if exc.outcome.kept_new:
            self.status, self.switch = "deployed", exc.outcome.switched_at
            self.notes.append("the new version is live there; `greenroom repair` finishes the rest")
        else:
            self.status = "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "error": self.error,
            "step": self.step,
            "switch": list(self.switch) if self.switch else None,
            "notes": list(self.notes),
            "outcome": self.outcome.as_dict() if self.outcome is not None else None,
        }


@dataclass
class FleetReport:
    action: str  # deploy | rollback | proxy-reboot
    app: str
    plan: RolloutPlan
    hosts: dict[str, HostResult]
    failed: str = ""  # the first host that failed
    recovery: Recovery | None = None
    handoff: list[str] = field(default_factory=list)  # what the load balancer was told
    wall: float = 0.0  # seconds, the whole rollout
    sole: bool = False  # a fleet of one: the config lists no hosts

    @property
    def ok(self) -> bool:
        return not self.failed and all(r.status in ("deployed", "done") for r in self.hosts.values())

    @property
    def overlap(self) -> float | None:
        """Seconds from the first host's switch sent to the last host's switch answered: how
        long old and new versions both answered through the load balancer."""
        switches = [r.switch for r in self.hosts.values() if r.switch is not None]
        if len(switches) < 2:
            return None
        return max(end for _, end in switches) - min(start for start, _ in switches)

    def reason(self) -> str:
        """One line for the failure: the host, the step and why."""
        if not self.failed:
            return ""
        r = self.hosts[self.failed]
        at = f" at {r.step}" if r.step else ""
        return f"host {r.host}{at}: {r.error}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "app": self.app,
            "sole": self.sole,
            "ok": self.ok,
            "strategy": self.plan.strategy,
            "batches": [list(b) for b in self.plan.batches],
            "failed": self.failed,
            "reason": self.reason(),
            "recovery": None
            if self.recovery is None
            else {
                "returned": list(self.recovery.rollback),
                "untouched": list(self.recovery.untouched),
                "kept_new": list(self.recovery.keep_new),
                "notes": list(self.recovery.notes),
            },
            "overlap_seconds": None if self.overlap is None else round(self.overlap, 4),
            "wall_seconds": round(self.wall, 3),
            "handoff": list(self.handoff),
            "hosts": [r.as_dict() for r in self.hosts.values()],
            "notes": list(self.plan.notes),
        }
