"""One host's commands on a staged color: stage (deploy --no-switch, --canary), weight,
promote, abort, and the canary's counters. Each runs a pure plan (staged_plan.py) through
the one executor of its DockerHost, under the app's lock (or none when the caller holds it:
a canary run holds it from its stage to its verdict)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace

from greenroom.config import config_hash
from greenroom.deploy.canary import Counts, parse_stats
from greenroom.deploy.context import Context
from greenroom.deploy.execute import Outcome
from greenroom.deploy.host import DockerHost
from greenroom.deploy.interrupt import sigterm_interrupts
from greenroom.deploy.plan import tentative
from greenroom.deploy.staged_plan import plan_abort, plan_promote, plan_stage, plan_weight
from greenroom.deploy.state import HostState
from greenroom.deploy.steps import Plan
from greenroom.errors import GreenroomError
from greenroom.identity import user_at_host
from greenroom.proxy.model import Staged


class StagedHost:
    def __init__(self, host: DockerHost, name: str = "") -> None:
        self.host = host
        self.name = name or host.engine.host  # the host's name in `hosts:`, else its engine

    def staged(self, app: str) -> tuple[Staged | None, str | None]:
        """The staged color of APP (None: none) and the live color."""
        st = self.host.observe().app(app)
        routed = st.routed
        return (routed.staged if routed else None), (routed.color if routed else None)

    def stage(self, app: str, image: str | None, weight: float, *, locked: bool = False) -> Outcome:
        self.host.cfg.app(app)
        with sigterm_interrupts(), self.host._locked(app, held=locked):
            state = self.host.observe_healed()
            ctx = self.host.context(self.host._needs_networks(state, app))
            return self.host._execute(self._stage_plan(state, app, image, weight, ctx))

    def plan(self, app: str, image: str | None, weight: float, then: str = "") -> Plan:
        """The steps a stage would run now, changing nothing (as DockerHost.plan); THEN: what
        follows it (a canary's schedule), as a note."""
        state = self.host.observe()
        needs = self.host._needs_networks(state, app)
        plan = self._stage_plan(state, app, image, weight, self.host.context(needs, dry_run=True))
        if then:
            plan = replace(plan, notes=(*plan.notes, then))
        return tentative(plan) if needs else plan

    def _stage_plan(self, state: HostState, app: str, image: str | None, weight: float, ctx: Context) -> Plan:
        cfg = self.host.cfg
        return plan_stage(
            cfg,
            self.host.proxy.spec,
            state,
            app,
            image,
            ctx,
            weight=weight,
            config_hash=config_hash(cfg.app(app)),
            release=self.host.release,
        )

    def _run(self, app: str, locked: bool, make: Callable[[HostState], Plan]) -> Outcome:
        self.host.cfg.app(app)
        with sigterm_interrupts(), self.host._locked(app, held=locked):
            return self.host._execute(make(self.host.observe_healed()))

    def weight(self, app: str, weight: float, *, locked: bool = False) -> Outcome:
        return self._run(app, locked, lambda state: plan_weight(state, app, weight))

    def promote(self, app: str, *, locked: bool = False) -> Outcome:
        return self._run(app, locked, lambda state: plan_promote(self.host.cfg, state, app))

    def abort(self, app: str, reason: str = "aborted", *, locked: bool = False) -> Outcome:
        return self._run(app, locked, lambda state: plan_abort(self.host.cfg, state, app, reason))

    def counts(self, app: str) -> dict[str, Counts]:
        return parse_stats(self.host.proxy.stats(app))

    def record(self, app: str, deploy: str, action: str, ok: bool, detail: str, took: float) -> None:
        """A canary step or verdict in the app's history (best effort, as every entry)."""
        entry = {
            "action": action,
            "deploy": deploy,
            "ok": ok,
            "started": self.host.clock.now().isoformat(timespec="seconds"),
            "duration": round(took, 3),
            "by": user_at_host(),
            "error": "" if ok else self.host.masker.text(detail),
            "verdict": self.host.masker.text(detail),
        }
        with contextlib.suppress(GreenroomError):
            self.host.proxy.record(app, entry)
