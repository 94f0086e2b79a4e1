"""What a run of a plan did (each step's record, the result, the new version's last logs),
and who hears about it as it goes (a Reporter)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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


@dataclass
class Outcome:
    plan: Plan
    records: list[StepRecord] = field(default_factory=list)
    ok: bool = False
    error: str = ""
    logs: dict[str, str] = field(default_factory=dict)
    total: float = 0.0
    started_at: float = 0.0  # wall clock (epoch seconds) when the first step began

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.plan.app,
            "action": self.plan.action,
            "deploy": self.plan.deploy,
            "ok": self.ok,
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
