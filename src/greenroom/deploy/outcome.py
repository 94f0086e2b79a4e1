"""What a run of a plan did (each step's record, the result, the new version's last logs),
and who hears about it as it goes (a Reporter)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from greenroom.deploy.steps import Plan, Step


@dataclass
class StepRecord:
    step: str
    description: str
    started: float
    duration: float
    status: str  # ok | failed | undone
    detail: str = ""


class OutcomeStatus(StrEnum):
    DONE = "done"  # every step ran
    UNCHANGED = "unchanged"  # failed before any switch: clients saw nothing change
    ROUTED_BACK = "routed back"  # switched, then routed back to the old version
    LIVE = "live"  # failed after the new version was confirmed: it stays live


@dataclass
class Outcome:
    """What the executor did, as it knows it: whether it switched (and when), whether the new
    version was confirmed and stays, and each step's record."""

    plan: Plan
    records: list[StepRecord] = field(default_factory=list)
    ok: bool = False
    error: str = ""
    logs: dict[str, str] = field(default_factory=dict)
    total: float = 0.0
    started_at: float = 0.0  # wall clock (epoch seconds) when the first step began
    switched: bool = False  # the switch was sent (its answer may have been lost)
    switched_at: tuple[float, float] | None = None  # wall clock: the switch sent, and its answer
    confirmed: bool = False  # the new version answered through the proxy and stays live

    @property
    def status(self) -> OutcomeStatus:
        if self.ok:
            return OutcomeStatus.DONE
        if self.confirmed:
            return OutcomeStatus.LIVE
        return OutcomeStatus.ROUTED_BACK if self.switched else OutcomeStatus.UNCHANGED

    @property
    def kept_new(self) -> bool:
        """The new version went live and stays (done, or failed after its confirm)."""
        return self.status in (OutcomeStatus.DONE, OutcomeStatus.LIVE)

    @property
    def failed_step(self) -> str:
        return next((r.step for r in reversed(self.records) if r.status == "failed"), "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.plan.app,
            "action": self.plan.action,
            "deploy": self.plan.deploy,
            "ok": self.ok,
            "status": str(self.status),
            "switched": self.switched,
            "switched_at": list(self.switched_at) if self.switched_at else None,
            "confirmed": self.confirmed,
            "error": self.error,
            "total": round(self.total, 3),
            "started_at": round(self.started_at, 3),
            "steps": [dataclasses.asdict(r) for r in self.records],
            "logs": self.logs,
        }


class Reporter(Protocol):
    def started(self, index: int, total: int, step: Step) -> None: ...

    def progress(self, text: str) -> None: ...

    def finished(self, record: StepRecord) -> None: ...


class Quiet:
    def started(self, index: int, total: int, step: Step) -> None:
        pass

    def progress(self, text: str) -> None:
        pass

    def finished(self, record: StepRecord) -> None:
        pass
