"""A canary run over hosts (one host is a fleet of one): stage the new color on every host
(preview only), then per step set the weight everywhere, sum every host's
counters and judge (deploy/canary.py) until the gates have passed for `interval`; any
breach rolls back at once on every host (weight 0, then the new color drained and
removed). After the last step: promote everywhere (as the rollout says: fleet/staged.py).
The app's lock is held on every host from the stage to the end, and every step and
verdict goes into the history."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from greenroom.clock import Clock
from greenroom.config.canary import Canary, format_percent
from greenroom.deploy.canary import Counts, Kind, Verdict, judge, summed, window
from greenroom.deploy.staged_host import StagedHost
from greenroom.errors import CanaryRolledBack, DeployError, GreenroomError

POLL = 0.25  # seconds between two readings of the counters
PATIENCE = 10  # intervals a step may wait for min_requests before it is judged inconclusive


@dataclass
class StepResult:
    weight: float
    verdict: Verdict
    seconds: float


@dataclass
class CanaryResult:
    app: str
    deploy: str
    promoted: bool
    steps: list[StepResult] = field(default_factory=list)
    traffic_seconds: float = 0.0  # how long the new color took public traffic


Say = Callable[[str], None]


@contextlib.contextmanager
def _locks(hosts: Sequence[StagedHost], app: str) -> Iterator[None]:
    taken = []
    try:
        for h in hosts:
            taken.append((h, h.host.take_lock(app)))
        yield
    finally:
        for h, lk in reversed(taken):
            with contextlib.suppress(GreenroomError):
                h.host.give_back_lock(lk)


class CanaryRun:
    def __init__(
        self,
        hosts: Sequence[StagedHost],
        gates: Canary,
        clock: Clock,
        say: Say,
        *,
        analysis_only: bool = False,
        promote: Callable[[str], None] | None = None,
    ) -> None:
        """`promote`: the last step's promotion of APP on every host (their locks held), as
        the fleet's rollout says; by default host after host."""
        self.hosts = list(hosts)
        self.promote = promote or self._promote_each
        self.gates = gates
        self.clock = clock
        self.say = say
        self.analysis_only = analysis_only
        self.deploys: dict[str, str] = {}  # each host's deploy id of the new color

    def _promote_each(self, app: str) -> None:
        for h in self.hosts:
            h.promote(app, locked=True)

    def counts(self, app: str) -> dict[str, Counts]:
        return summed(h.counts(app) for h in self.hosts)

    def run(self, app: str, image: str | None, steps: Sequence[float]) -> CanaryResult:
        if not steps:
            raise DeployError(f"{app} has no canary steps", hint="give --canary or apps.<name>.canary.steps")
        with _locks(self.hosts, app):
            # preview only on every host first: the first weight then comes on every host at once
            deploys = {}
            for i, h in enumerate(self.hosts):
                if i > 0:
                    h.host.release = "skip"  # the release command ran once, with the first host's stage
                deploys[h.name] = h.stage(app, image, 0.0, locked=True).plan.deploy or ""
            self.deploys = deploys
            deploy = deploys[self.hosts[0].name]
            staged, live = self.hosts[0].staged(app)
            assert staged is not None and live is not None
            result = CanaryResult(app, deploy, promoted=False)
            began = self.clock.monotonic()
            try:
                self._steps(app, deploy, staged.color, live, steps, result, began)
            except CanaryRolledBack:
                raise
            except BaseException:  # Ctrl-C, SIGTERM, a failure: the new color goes, then say why
                if not self.analysis_only:
                    for h in self.hosts:
                        with contextlib.suppress(Exception):
                            h.abort(app, "canary interrupted", locked=True)
                raise
            if self.analysis_only:
                self.say(
                    f"analysis only: {staged.color} {deploy} stays staged at {format_percent(steps[-1])}; "
                    f"`greenroom promote {app}` or `greenroom abort {app}`"
                )
                return result
            self.promote(app)
            result.traffic_seconds = self.clock.monotonic() - began
            result.promoted = True
            return result

    def _steps(
        self,
        app: str,
        deploy: str,
        new: str,
        live: str,
        steps: Sequence[float],
        result: CanaryResult,
        began: float,
    ) -> None:
        for weight in steps:
            for h in self.hosts:
                h.weight(app, weight, locked=True)
            verdict, took = self._step(app, new, live, weight)
            if verdict.kind is Kind.PASS and self.gates.check:
                verdict = self._check(app, deploy, weight, verdict)
            result.steps.append(StepResult(weight, verdict, took))
            action = f"canary {format_percent(weight)}"
            for h in self.hosts:
                h.record(
                    app, self.deploys[h.name], action, verdict.kind is Kind.PASS, verdict.describe(), took
                )
            self.say(f"{action}: {verdict.describe()}")
            if verdict.kind is not Kind.PASS and not self.analysis_only:
                result.traffic_seconds = self.clock.monotonic() - began
                self._roll_back(app, deploy, verdict, weight, result.traffic_seconds)

    def _step(self, app: str, new: str, old: str, weight: float) -> tuple[Verdict, float]:
        """Judge one step: a breach at once; a pass once the gates held for `interval`."""
        start = self.counts(app)
        t0 = self.clock.monotonic()
        patience = self.gates.interval * PATIENCE
        while True:
            self.clock.sleep(min(POLL, self.gates.interval))
            now = self.counts(app)
            verdict = judge(self.gates, window(now, start, new), window(now, start, old))
            took = self.clock.monotonic() - t0
            if verdict.kind is Kind.BREACH:
                return verdict, took
            if verdict.kind is Kind.PASS and took >= self.gates.interval:
                return verdict, took
            if verdict.kind is Kind.WAIT and took >= patience:
                return verdict, took  # inconclusive: too little traffic to judge

    def _check(self, app: str, deploy: str, weight: float, verdict: Verdict) -> Verdict:
        """The user's own gate (canary.check): exit 0 passes the step."""
        assert self.gates.check is not None
        env = {
            **os.environ,
            "GREENROOM_APP": app,
            "GREENROOM_DEPLOY": deploy,
            "GREENROOM_WEIGHT": f"{weight:g}",
        }
        try:
            done = subprocess.run(
                list(self.gates.check),
                env=env,
                capture_output=True,
                text=True,
                timeout=max(10.0, self.gates.interval),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return replace(verdict, kind=Kind.BREACH, breaches=(f"canary.check did not answer: {exc}",))
        if done.returncode == 0:
            return verdict
        said = (done.stdout + done.stderr).strip()[-200:]
        why = f"canary.check exited {done.returncode}" + (f": {said}" if said else "")
        return replace(verdict, kind=Kind.BREACH, breaches=(why,))

    def _roll_back(self, app: str, deploy: str, verdict: Verdict, weight: float, traffic: float) -> None:
        why = "; ".join(verdict.breaches) or (
            f"fewer than {self.gates.min_requests} requests within {PATIENCE} intervals"
        )
        undone = []
        for h in self.hosts:
            try:
                h.abort(app, f"canary rolled back at {format_percent(weight)}: {why}", locked=True)
                undone.append(h.name)
            except GreenroomError as exc:
                self.say(f"{h.name}: rollback incomplete: {exc.message}")
        for h in self.hosts:
            h.record(app, self.deploys[h.name], "canary rollback", False, verdict.describe(), 0.0)
        raise CanaryRolledBack(
            f"canary of {app} {deploy} rolled back at {format_percent(weight)} after {traffic:.1f}s of "
            f"traffic: {why}",
            where=", ".join(undone) or self.hosts[0].name,
            hint=f"figures: {verdict.describe()}; the live version serves; "
            f"`greenroom history {app}` lists the steps",
        )
