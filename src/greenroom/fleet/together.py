"""Every host at once: prepared host by host, gated all, switched all, or none.

Whatever touches a host's proxy (its create, an upgrade to a new proxy.image, the reload a
new app's pools need) is done first, host by host, each out of the load balancer, as a
proxy reboot is. Then every host runs its deploy at once, held before its Switch until
every host's new version passed its gate (a barrier), and again after its confirm until
every host confirmed. A failure anywhere breaks the barriers: hosts still before the
switch remove their new containers; hosts that switched but are not past the second
barrier route back (their executor's undo), so all or none serve the new version.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from greenroom.deploy.host import DockerHost
from greenroom.deploy.steps import Confirm, Step, Switch
from greenroom.errors import DeployFailed, GreenroomError, RolloutStopped
from greenroom.fleet.report import FleetReport
from greenroom.fleet.rollout import PhaseKind, Progress, recover

if TYPE_CHECKING:
    from greenroom.fleet.run import Fleet

GATE_SLACK = 120.0  # seconds past the health deadline a host waits for the others' gates
FINAL_WAIT = 120.0  # seconds a host waits for the others' confirms


def prepare(
    fleet: Fleet, app: str, image: str | None, services: dict[str, DockerHost], report: FleetReport
) -> bool:
    """Before hosts switch together: whatever touches a host's proxy (its create, an
    upgrade to a new proxy.image, the reload a new app's pools need) is done host by
    host, each out of the load balancer, as a proxy reboot is. False if one failed."""
    handoff = fleet.handoff.active and len(report.plan.hosts) > 1
    for host in report.plan.hosts:
        r = report.hosts[host]
        try:
            if not services[host].touches_proxy(app, image):
                continue  # nothing to take out of the load balancer for
            ctx = (
                fleet.handoff.around(host, action="prepare", app=app) if handoff else contextlib.nullcontext()
            )
            with ctx:
                done = services[host].prepare(app, image)
            if done is not None:
                said = "; ".join(x.detail for x in done.records if x.detail)
                r.notes.append(f"its proxy was made ready first, out of the load balancer: {said}")
        except DeployFailed as exc:
            r.failed_with(exc)
        except GreenroomError as exc:
            r.status, r.error, r.step = "failed", str(exc), "prepare"
        if r.error:
            report.failed = host
            report.recovery = recover(report.plan, {host: Progress.FAILED}, host, "gate")
            return False
    return True


def together(
    fleet: Fleet, app: str, image: str | None, services: dict[str, DockerHost], report: FleetReport
) -> None:
    if not prepare(fleet, app, image, services, report):
        return
    hosts = list(report.plan.hosts)
    deadline = fleet.cfg.app(app).healthcheck.deadline + GATE_SLACK
    gate = threading.Barrier(len(hosts), timeout=deadline)
    final = threading.Barrier(len(hosts), timeout=FINAL_WAIT)
    first: list[str] = []  # the host that failed first, and why
    guard = threading.Lock()

    def stopped(host: str) -> RolloutStopped:
        with guard:
            who = first[0] if first else "another host"
        return RolloutStopped(
            f"{who} failed, so no host keeps the new version",
            where=f"host {host}",
            hint=f"see {who}'s error; every host still serves the old version",
        )

    def hook_for(host: str) -> Callable[[Step | None], None]:
        state = {"gated": False, "final": False}

        def hook(step: Step | None) -> None:
            try:
                if not state["gated"] and (isinstance(step, Switch) or step is None):
                    gate.wait()
                    state["gated"] = True
                elif state["gated"] and not state["final"] and not isinstance(step, Switch | Confirm):
                    final.wait()
                    state["final"] = True
            except threading.BrokenBarrierError:
                raise stopped(host) from None

        return hook

    def run(host: str) -> None:
        g = services[host]
        g.step_hook = hook_for(host)
        r = report.hosts[host]
        try:
            outcome = g.deploy(app, image, locked=True)
        except BaseException as exc:
            gate.abort()
            final.abort()
            mine = not isinstance(getattr(exc, "__cause__", None), RolloutStopped)
            if isinstance(exc, DeployFailed):
                r.failed_with(exc)  # after every host confirmed, it stays "deployed"
                if r.status == "failed" and not mine:  # undone because another host failed
                    r.status = "returned" if exc.outcome.switched else "withdrawn"
                    r.error, r.step = "", ""
            elif isinstance(exc, GreenroomError):
                r.status, r.error = "failed", str(exc)
            else:
                raise
            if mine:
                with guard:
                    if not first:
                        first.append(host)
            return
        finally:
            g.step_hook = None
        r.status, r.outcome, r.switch = "deployed", outcome, outcome.switched_at

    fleet.parallel({h: partial(run, h) for h in hosts})
    if first:
        report.failed = first[0]
        failed = report.hosts[first[0]]
        switched = any(r.status in ("returned", "deployed") for r in report.hosts.values())
        phase: PhaseKind = "finish" if failed.status == "deployed" else "switch" if switched else "gate"
        progress = {
            h: Progress.FAILED
            if h == first[0]
            else Progress.DONE
            if r.status == "deployed"
            else Progress.SWITCHED
            if r.status == "returned"
            else Progress.GATED
            for h, r in report.hosts.items()
        }
        report.recovery = recover(report.plan, progress, first[0], phase)
