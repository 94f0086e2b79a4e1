"""Running a rollout over the hosts: each host runs the one-host executor, this says when.

    reach every host (in parallel, each within its connect_timeout; one that does not
    answer stops the rollout before anything is done) → take APP's lock on every host, in
    the rollout's order → the phases → give every lock back, whatever happened.

rolling: batch after batch; each host of a batch deploys completely inside the load
balancer's hand-off. The first failure stops the rollout: hosts not reached stay on the
old version; with rollback_on_failure the hosts that switched are returned.

together (fleet/together.py): each host's proxy work first, host by host out of the load
balancer; then every host deploys at once, all gated before any switches, all confirmed
before any keeps the new version. The overlap window is from the first switch sent to
the last one answered.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import TypeVar

from greenroom.clock import Clock, SystemClock
from greenroom.config import Config, secret_values
from greenroom.config.fleet import FleetHost
from greenroom.deploy import lock
from greenroom.deploy.host import DockerHost
from greenroom.deploy.interrupt import sigterm_interrupts
from greenroom.deploy.lease import lease_seconds
from greenroom.deploy.outcome import Outcome, Reporter
from greenroom.errors import ConfigError, DeployFailed, GreenroomError
from greenroom.fleet.handoff import Handoff
from greenroom.fleet.hosts import docker_host_for, host_names, is_sole, placed_hosts, reach
from greenroom.fleet.release import release_first
from greenroom.fleet.report import FleetReport, HostResult
from greenroom.fleet.rollout import Progress, RolloutPlan, plan_rollout, recover
from greenroom.fleet.together import together
from greenroom.fleet.views import each_host

T = TypeVar("T")


class Fleet:
    def __init__(
        self,
        cfg: Config,
        *,
        clock: Clock | None = None,
        reporter: Callable[[str], Reporter | None] = lambda host: None,
        make: Callable[..., Callable[..., DockerHost]] | None = None,
    ) -> None:
        """`reporter`: a step reporter per host name; `make`: the greenroom factory (tests)."""
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.cancel = threading.Event()
        factory = make or docker_host_for
        self._make = factory(cfg, clock=self.clock, cancel=self.cancel, reporter=reporter)
        self.handoff = Handoff(cfg.load_balancer, self.clock, tuple(secret_values(cfg)))
        self.release = "run"  # the release command: "run" once per image, or "rerun"

    # -- commands ----------------------------------------------------------------------

    def plan(self, app: str, only: str | None = None) -> RolloutPlan:
        r = self.cfg.rollout
        return plan_rollout(
            [h.name for h in placed_hosts(self.cfg, app, only)],
            strategy=r.strategy,
            max_parallel=r.max_parallel,
            pause=r.pause,
            canary=r.canary,
            load_balancer=self.handoff.active,
        )

    def deploy(
        self,
        app: str,
        image: str | None = None,
        *,
        only: str | None = None,
        rollback_on_failure: bool = False,
    ) -> FleetReport:
        plan = self.plan(app, only)
        report = self.report_for("deploy", app, plan)
        with self._hosts(app, report, plan) as services:
            if services is None:
                return report
            if len(plan.hosts) == 1:  # its release command runs in its deploy: one timeline
                services[plan.hosts[0]].release = self.release
            elif not release_first(self.cfg, app, image, services, report, self.release):
                return report
            if plan.strategy == "together":
                together(self, app, image, services, report)
            else:
                self._rolling(app, image, services, report, rollback_on_failure)
        return report

    def deploy_apps(
        self,
        apps: list[str],
        image: str | None = None,
        *,
        parallel: int = 1,
        only: str | None = None,
        rollback_on_failure: bool = False,
        done: Callable[[FleetReport], None] = lambda report: None,
    ) -> list[FleetReport]:
        """Several apps' rollouts: one after another, the first failure stops them; or
        (`parallel` > 1) the first alone (it may create the proxies), then `parallel` at a
        time, each failing alone. `done` hears of each report as it ends."""
        reports: list[FleetReport] = []

        def one(app: str) -> FleetReport:
            report = self.deploy(app, image, only=only, rollback_on_failure=rollback_on_failure)
            reports.append(report)
            done(report)
            return report

        if parallel == 1 or len(apps) < 2:
            for app in apps:
                if not one(app).ok:
                    break
            return reports
        if self.handoff.active:
            raise ConfigError(
                "--parallel deploys apps at once, and each app's rollout takes hosts out of the "
                "load balancer by itself",
                where="--parallel",
                hint="with load_balancer:, deploy the apps one at a time (without --parallel)",
            )
        one(apps[0])
        self.parallel({app: partial(one, app) for app in apps[1:]}, workers=parallel)
        return reports

    def rollback(self, app: str, to: str | None = None, *, only: str | None = None) -> FleetReport:
        """Every host back to a retained release, in the rollout's batches (rolling), each
        out of the load balancer; the first failure stops it."""
        r = self.cfg.rollout
        plan = plan_rollout(
            [h.name for h in placed_hosts(self.cfg, app, only)],
            max_parallel=r.max_parallel,
            load_balancer=self.handoff.active,
        )
        report = self.report_for("rollback", app, plan)
        return self.each(report, "rollback", lambda g: partial(g.rollback, app, to, locked=True))

    def proxy_reboot(self, only: str | None = None, *, recreate: bool = False) -> FleetReport:
        """Every host's proxy rebooted, one host at a time, each out of the load balancer.
        A holder without every port of proxy.ports is recreated where the host is out of the
        load balancer meanwhile (nothing is lost), or with `recreate`."""
        names = host_names(self.cfg, only)
        plan = plan_rollout(names, max_parallel=1, load_balancer=self.handoff.active)
        report = self.report_for("proxy-reboot", "", plan)
        drained = all(p.handoff for p in plan.phases)
        with self._hosts(None, report, plan) as services:
            if services is not None:
                self.batches(
                    report,
                    "proxy-reboot",
                    "",
                    lambda host: partial(services[host].proxy_reboot, recreate=recreate or drained),
                )
        return report

    def each(
        self,
        report: FleetReport,
        action: str,
        work: Callable[[DockerHost], Callable[[], object]],
        first: Callable[[dict[str, DockerHost]], bool] = lambda services: True,
    ) -> FleetReport:
        """ACTION on the hosts of REPORT's plan (every host reached and locked first), in its
        phases, each host inside its hand-off where its phase says; the first failure stops it.
        `first`: what runs once before any host acts (the release command); False stops it."""
        with self._hosts(report.app, report, report.plan) as services:
            if services is not None and first(services):
                self.batches(report, action, report.app, lambda host: work(services[host]))
        return report

    def look(
        self, hosts: Sequence[FleetHost], ask: Callable[[DockerHost], T]
    ) -> dict[str, T | GreenroomError]:
        """ASK of each of HOSTS at once, nothing locked (an error: that host failed or did not answer)."""
        return each_host(self.cfg, list(hosts), ask, self._make)

    # -- the hosts and their locks -----------------------------------------------------

    def report_for(self, action: str, app: str, plan: RolloutPlan) -> FleetReport:
        hosts = {h: HostResult(h) for h in plan.hosts}
        return FleetReport(action, app, plan, hosts, sole=is_sole(self.cfg))

    @contextlib.contextmanager
    def _hosts(
        self, app: str | None, report: FleetReport, plan: RolloutPlan
    ) -> Iterator[dict[str, DockerHost] | None]:
        """Every host reached and (for an app) locked, or None with the report saying why."""
        t0 = self.clock.monotonic()
        chosen = [h for h in self.cfg.hosts if h.name in plan.hosts]
        services, unreachable = reach(self.cfg, chosen, self._make)
        taken: list[tuple[str, DockerHost, lock.Lock]] = []
        try:
            for u in unreachable:
                report.hosts[u.host].failed(u.error, status="unreachable")
            if unreachable:
                report.failed = unreachable[0].host
                yield None
                return
            if app is not None:
                for host in plan.hosts:  # one order for every greenroom: no waiting in a cycle
                    try:
                        taken.append((host, services[host], services[host].take_lock(app)))
                    except GreenroomError as exc:
                        r = report.hosts[host]
                        r.failed(exc, "lock", status="untouched")
                        r.notes.append("nothing was done on any host")
                        report.failed = host
                        yield None
                        return
            with sigterm_interrupts():
                yield services
        finally:
            for host, g, held in taken:
                try:
                    g.give_back_lock(held)
                except GreenroomError as exc:
                    lapse = lease_seconds(g.engine.call_timeout)
                    report.hosts[host].notes.append(
                        f"its lock could not be given back ({exc.message}); its lease lapses {lapse:g} s "
                        "after its last renewal (the engine's clock), then the next command takes it "
                        "over from any machine without --force"
                    )
            for g in services.values():
                g.engine.close()
            report.handoff = list(self.handoff.said)
            report.wall = self.clock.monotonic() - t0

    def parallel(self, jobs: Mapping[str, Callable[[], object]], workers: int = 0) -> None:
        """Run the jobs at once (`workers` at a time, default all); Ctrl-C or SIGTERM cancels
        them all (each undoes)."""
        pool = ThreadPoolExecutor(max_workers=max(1, workers or len(jobs)))
        futures: list[Future[object]] = [pool.submit(job) for job in jobs.values()]
        try:
            wait(futures)
        except KeyboardInterrupt:
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for f in futures:
            f.result()  # a bug in a job is not swallowed

    def _one(
        self, report: FleetReport, host: str, handoff: bool, action: str, app: str, work: Callable[[], object]
    ) -> bool:
        """One host's work inside its hand-off; records the result; False if it failed."""
        r = report.hosts[host]
        done = started = False
        try:
            ctx = self.handoff.around(host, action=action, app=app) if handoff else contextlib.nullcontext()
            with ctx:
                started = True
                result = work()
                done = True
                if isinstance(result, Outcome):
                    r.outcome, r.switch = result, result.switched_at
                r.status = "deployed"
        except DeployFailed as exc:
            r.failed_with(exc)
        except Exception as exc:
            if not isinstance(exc, GreenroomError):  # a bug: this host failed, the report still says so
                exc = GreenroomError(
                    f"unexpected {type(exc).__name__}: {exc}",
                    where=f"host {host}",
                    hint="this is a bug in greenroom: please report it with this output",
                )
            if done:  # the work is done; putting the host back failed
                r.failed(exc, status=r.status)
                r.notes.append("the host is still out of the load balancer")
            else:  # the work refused before it acted (its plan), or the hand-off failed
                r.failed(exc, "" if started else "hand-off")
        if r.error and not report.failed:
            report.failed = host
        return not r.error

    def batches(
        self, report: FleetReport, action: str, app: str, work: Callable[[str], Callable[[], object]]
    ) -> None:
        """The plan's phases in order, each phase's hosts at once, each inside its hand-off;
        the pause after each phase; the first failure stops it."""
        phases = report.plan.phases
        for i, phase in enumerate(phases):
            jobs = {
                host: partial(self._one, report, host, phase.handoff, action, app, work(host))
                for host in phase.hosts
            }
            if len(jobs) == 1:  # in this thread: Ctrl-C and SIGTERM interrupt its step at once
                (job,) = jobs.values()
                job()
            else:
                self.parallel(jobs)
            if report.failed:
                return
            if phase.pause_after and i < len(phases) - 1:
                self.clock.sleep(phase.pause_after)

    # -- rolling -----------------------------------------------------------------------

    def _rolling(
        self,
        app: str,
        image: str | None,
        services: dict[str, DockerHost],
        report: FleetReport,
        rollback_on_failure: bool,
    ) -> None:
        plan = report.plan
        self.batches(
            report, "deploy", app, lambda host: partial(services[host].deploy, app, image, locked=True)
        )
        if not report.failed:
            return
        progress = {
            h: Progress.DONE
            if r.status == "deployed"
            else Progress.FAILED
            if r.status == "failed"
            else Progress.UNTOUCHED
            for h, r in report.hosts.items()
        }
        rec = recover(plan, progress, report.failed, "deploy", rollback_on_failure=rollback_on_failure)
        report.recovery = rec
        for host in rec.rollback:
            r = report.hosts[host]
            handoff = len(plan.hosts) > 1 and self.handoff.active
            back = HostResult(host)
            shadow = FleetReport("rollback", app, plan, {host: back})
            if self._one(
                shadow, host, handoff, "rollback", app, partial(services[host].rollback, app, locked=True)
            ):
                r.status = "returned"
                r.notes.append("returned to the old version after the rollout stopped")
            else:
                r.notes.append(f"returning it failed: {back.error}")
