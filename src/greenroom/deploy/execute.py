"""The executor: performs a plan's steps in order, keeps the timeline, and on any failure
(an error, a bug, Ctrl-C, SIGTERM, a cancel) leaves the old version serving and says why.

Undo, in this order: route back to the release that was live (whenever a switch was
sent, even if its reply was lost), then remove the new containers, then stop a retained
release this run started, then start a singleton worker's old version stopped before the
new one started. Nothing is undone once the confirm passed: the new version is
live, and `greenroom repair` finishes the drain and stop of the old one."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable

from greenroom import labels
from greenroom.clock import Clock
from greenroom.deploy.attach import perform_attach
from greenroom.deploy.drain import Drainer
from greenroom.deploy.interrupt import CancellableClock, why
from greenroom.deploy.outcome import Outcome, Quiet, Reporter, StepRecord
from greenroom.deploy.probe import GateProgress, Prober
from greenroom.deploy.proxy_step import ensure_proxy
from greenroom.deploy.release import ReleaseRunner
from greenroom.deploy.steps import (
    AttachFront,
    AttachNetworks,
    Confirm,
    CreateRelease,
    Drain,
    EnsureNetwork,
    EnsureProxy,
    HealthGate,
    InstallCertificate,
    Plan,
    ProxyJoin,
    PullImage,
    RemoveRelease,
    Route,
    RunRelease,
    StartRelease,
    Step,
    StopRelease,
    Switch,
)
from greenroom.engine.protocol import Engine
from greenroom.errors import (
    Conflict,
    DeployError,
    DeployFailed,
    GreenroomError,
    NotFound,
    ProxyError,
)
from greenroom.proxy.model import Routed, confirm_targets
from greenroom.proxy.protocol import ProxyApi
from greenroom.secrets import Masker

__all__ = ["DeployFailed", "Executor", "Outcome", "Quiet", "Reporter", "StepHook", "StepRecord"]

StepHook = Callable[[Step | None], None]


class Executor:
    def __init__(
        self,
        engine: Engine,
        proxy: ProxyApi,
        clock: Clock,
        *,
        helper_image: str,
        probe_direct: bool = True,
        secrets: Iterable[str] = (),
        reporter: Reporter | None = None,
        cancel: threading.Event | None = None,
        step_hook: StepHook | None = None,
    ) -> None:
        self.engine = engine
        # the fleet's say before each step (and, with None, before the run is declared
        # done): it may hold the run (hosts switching together) or fail it (another host
        # failed); while a hook is set, a confirmed switch is final only once the hook
        # lets the next step (or the end) come
        self.step_hook = step_hook
        self.proxy = proxy
        # a cancel (parallel deploys interrupted) ends the run between steps and any wait in one
        self.cancel = cancel
        self.clock: Clock = CancellableClock(clock, cancel) if cancel is not None else clock
        self.helper_image = helper_image
        self.masker = Masker(secrets)
        self.reporter = reporter or Quiet()
        self.prober = Prober(engine, self.clock, helper_image, direct=probe_direct)
        self.drainer = Drainer(engine, self.clock, helper_image, direct=probe_direct)
        # what this run has done, for undoing it
        self._created: list[str] = []
        self._started: list[str] = []
        self._switched_from: Routed | None = None
        self._switched = False  # a switch was sent: applied, or maybe applied (reply lost)
        self._rerouted = False  # a staged color's routing was sent (Route): routed back on a failure
        self._confirmed = False
        self._confirm_pending = False  # confirmed, but the step hook has not let it stand yet
        self._new: tuple[str, ...] = ()
        self._stopped_first: list[str] = []  # a singleton's old version: started again on failure

    def mask(self, text: str) -> str:
        return self.masker.text(text)

    # -- running -------------------------------------------------------------------

    def run(self, plan: Plan) -> Outcome:
        try:
            return self._run(plan)
        finally:
            self.prober.finish()

    def _check_cancel(self) -> None:
        if isinstance(self.clock, CancellableClock):
            self.clock.check()

    def _run(self, plan: Plan) -> Outcome:
        outcome = Outcome(plan, started_at=self.clock.now().timestamp())
        t0 = self.clock.monotonic()
        total = len(plan.steps)
        try:
            for i, step in enumerate(plan.steps, start=1):
                self._check_cancel()
                self._let(step)
                self.reporter.started(i, total, step)
                start = self.clock.monotonic()
                record = StepRecord(type(step).__name__, step.describe(), start - t0, 0.0, "ok")
                try:
                    record.detail = self.mask(self.perform(step) or "")
                except BaseException as exc:
                    record.status = "failed"
                    record.detail = self.mask(why(exc) if isinstance(exc, KeyboardInterrupt) else str(exc))
                    raise
                finally:
                    record.duration = self.clock.monotonic() - start
                    outcome.records.append(record)
                    if isinstance(step, Switch) and record.status == "ok":
                        sent = outcome.started_at + record.started
                        outcome.switched_at = (sent, sent + record.duration)
                    self.reporter.finished(record)
            self._let(None)
            outcome.ok, outcome.switched, outcome.confirmed = True, self._switched, self._confirmed
        except BaseException as exc:  # any failure at all: undo first, then say why
            outcome.error = self.mask(why(exc) if isinstance(exc, KeyboardInterrupt) else _message(exc))
            outcome.logs = {n: self.mask(self._logs(n)) for n in self._new}
            self._undo(outcome, t0)
            outcome.switched, outcome.confirmed = self._switched, self._confirmed
            outcome.total = self.clock.monotonic() - t0
            if not isinstance(exc, Exception):
                raise  # Ctrl-C, SIGTERM, a cancel: the caller stops too
            raise self._failed(plan, exc, outcome) from exc
        outcome.total = self.clock.monotonic() - t0
        return outcome

    def _let(self, step: Step | None) -> None:
        """Ask the step hook before `step` (None: the end). Once it lets a step after the
        confirm come, the switch is final."""
        if self.step_hook is None:
            return
        self.step_hook(step)
        if self._confirm_pending:
            self._confirmed, self._confirm_pending = True, False

    def _failed(self, plan: Plan, exc: Exception, outcome: Outcome) -> DeployFailed:
        """The failure as the CLI shows it: message and hint (Docker's health log, say) masked."""
        if self._confirmed:
            hint = f"the new version is live; `greenroom repair {plan.app}` finishes the rest"
        elif any(isinstance(s, Switch) and s.previous is not None for s in plan.steps):
            hint = "the old version is still serving"
        else:
            hint = "nothing was serving yet"
        if isinstance(exc, GreenroomError):
            return DeployFailed(
                self.mask(exc.message),
                outcome=outcome,
                exit_code=max(exc.exit_code, 1),
                hint=self.mask(exc.hint or hint),
                where=self.mask(exc.where),
            )
        return DeployFailed(
            self.mask(_message(exc)),
            outcome=outcome,
            hint=f"{hint}; this is a bug in greenroom: please report it with the output of this command",
            where=self.engine.host,
        )

    def _logs(self, name: str) -> str:
        try:
            return self.engine.logs(name, tail=30)
        except Exception:
            return ""

    def _undo(self, outcome: Outcome, t0: float) -> None:
        """Leave the old version serving: route back, then take the new one away. Routing
        back sets the old entry again (idempotent: right whether or not the switch landed);
        when it fails, the new containers stay (the proxy may route to them)."""
        if self._confirmed:
            return  # the new version is live and serving; nothing to undo
        start = self.clock.monotonic()
        done: list[str] = []
        try:
            if self._switched or self._rerouted:
                if self._switched_from is not None:
                    self.proxy.set_app(self._switched_from)
                    done.append(f"routed {self._switched_from.app} back to {self._switched_from.deploy}")
                else:
                    done.append("kept the routing (nothing was live before)")
            for name in self._created:
                self.engine.remove(name)
                done.append(f"removed {name}")
            for name in self._started:
                self.engine.stop(name, 10)
                done.append(f"stopped {name}")
            for name in self._stopped_first:
                self.engine.start(name)
                done.append(f"started {name} again")
        except Exception as exc:
            why_not = exc.message if isinstance(exc, GreenroomError) else _message(exc)
            done.append(f"undo incomplete: {why_not} (the next greenroom command repairs it)")
        finally:
            if done:
                rec = StepRecord(
                    "Undo", self.mask("; ".join(done)), start - t0, self.clock.monotonic() - start, "undone"
                )
                outcome.records.append(rec)
                self.reporter.finished(rec)

    # -- the steps -----------------------------------------------------------------

    def perform(self, step: Step) -> str:
        match step:
            case EnsureNetwork():
                try:
                    self.engine.create_network(
                        step.name, subnet=step.subnet, internal=step.internal, labels=step.labels
                    )
                except Conflict:
                    return "already there"
                return step.subnet
            case EnsureProxy():
                return ensure_proxy(self.engine, self.proxy, self.clock, step)
            case InstallCertificate():
                return self.proxy.install_tls(step.material)
            case ProxyJoin() | AttachNetworks() | AttachFront():
                return perform_attach(self.engine, step, self.helper_image)
            case RemoveRelease():
                for name in step.containers:
                    self.engine.remove(name)
                return ""
            case PullImage():
                if self.engine.image_id(step.image) is None:
                    self.engine.pull(step.image, self.reporter.progress)
                    return "pulled"
                return "present"
            case RunRelease():
                return ReleaseRunner(self.engine, self.clock, self.reporter, self.mask).run(step)
            case CreateRelease():
                return self._create(step)
            case StartRelease():
                self._new = step.containers
                front = labels.front_network(step.app)
                for name in step.containers:
                    if self.engine.container(name).attachment(front) is not None:
                        self.engine.disconnect(name, front)  # a stop that was interrupted
                    self.engine.start(name)
                    self._started.append(name)
                return ""
            case HealthGate():
                self._new = step.containers
                state = self.prober.gate(
                    step.app, list(step.containers), step.network, step.probe, self._gate_progress
                )
                return f"{state.probes} probes ({self.prober.last_mode}): {state.summary()}"
            case Switch():
                # before the call: a switch applied whose reply was lost is routed back too
                self._switched_from = step.previous
                self._switched = not step.routed.maintenance
                self.proxy.set_app(step.routed)
                if step.routed.is_record:  # a worker: live once recorded (no route to confirm)
                    self._mark_confirmed()
                return ""
            case Route():
                if step.undo:  # a staged color's routing: undone like a switch, yet no switch
                    self._switched_from, self._rerouted = step.previous, True
                self.proxy.set_app(step.routed)
                return ""
            case Confirm():
                results = self.proxy.probe(step.host, step.path, max(3, 2 * len(step.targets)))
                problem = confirm_targets(results, step.targets, step.status)
                if problem:
                    raise ProxyError(
                        problem,
                        where=f"{self.engine.host} {self.proxy.spec.name}",
                        hint="routing was switched back; the old version is serving",
                    )
                self._mark_confirmed()
                return f"{len(results)} responses, all from the new version"
            case Drain():
                return self.drainer.drain(
                    list(step.containers),
                    step.port,
                    step.network,
                    self.proxy.spec.name,
                    step.timeout,
                    self.reporter.progress,
                )
            case StopRelease():
                return self._stop(step)
        raise DeployError(f"unknown step {step!r}")

    def _mark_confirmed(self) -> None:  # with a step hook, final once it lets the next step come
        self._confirmed, self._confirm_pending = (True, False) if self.step_hook is None else (False, True)

    def _gate_progress(self, state: GateProgress) -> None:
        self.reporter.progress(state.summary())

    def _stop(self, step: StopRelease) -> str:
        """Stop the old color. Stopping frees its front addresses (Docker releases a stopped
        container's endpoints: the next deploy's plan reuses them); the disconnect only
        spares a later start (a rollback) a clash, and StartRelease disconnects first
        anyway. So a disconnect that fails does not fail the step: it is reported."""
        kept: list[str] = []
        if step.restart_on_failure:
            self._stopped_first += step.containers
        for name in step.containers:
            self.engine.stop(name, step.timeout)
            try:
                if self.engine.container(name).attachment(step.front) is not None:
                    self.engine.disconnect(name, step.front)
            except NotFound:
                continue  # removed meanwhile
            except GreenroomError as exc:
                kept.append(f"{name} still on {step.front} ({exc.message})")
        if kept:
            return "stopped; not disconnected: " + "; ".join(kept) + " (a start disconnects it first)"
        return ""

    def _create(self, step: CreateRelease) -> str:
        digest = self.engine.image_id(step.specs[0].image) or ""
        self._new = tuple(s.name for s in step.specs)
        for spec in step.specs:
            if not spec.labels.get(labels.DIGEST):
                spec = dataclasses.replace(spec, labels={**spec.labels, labels.DIGEST: digest})
            self.engine.create_container(spec)
            self._created.append(spec.name)
            self.engine.start(spec.name)
        return digest


def _message(exc: BaseException) -> str:
    if isinstance(exc, GreenroomError):
        return exc.message
    return f"unexpected {type(exc).__name__}: {exc}"
