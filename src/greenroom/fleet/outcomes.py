"""What a host's outcome says: when it switched, whether the new version stays, where it failed."""

from __future__ import annotations

from greenroom.deploy.outcome import Outcome


def switch_times(outcome: Outcome) -> tuple[float, float] | None:
    """Wall clock: the switch sent, and its answer (None: no switch in it)."""
    sent = next((r for r in outcome.records if r.step == "Switch" and r.status == "ok"), None)
    if sent is None:
        return None
    return outcome.started_at + sent.started, outcome.started_at + sent.started + sent.duration


def kept_new(outcome: Outcome) -> bool:
    """The new version went live and stays: confirmed, and nothing undone after."""
    confirmed = any(r.step == "Confirm" and r.status == "ok" for r in outcome.records)
    return confirmed and not any(r.step == "Undo" for r in outcome.records)


def failed_step(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    return next((r.step for r in reversed(outcome.records) if r.status == "failed"), "")
