"""A staged color over the fleet (a config without `hosts:` is a fleet of one): promote,
abort and weight on every host of an app, through the fleet's runner (fleet/run.py):
every host reached and locked before any acts, a result per host, the first failure stops.

Every host is looked at first (nothing locked): a host that does not answer stops the
command before anything is done (the report names it); promote refuses, having done
nothing, unless every host has the same version staged; abort and weight act on the hosts
that have a staged color and name the others. Then:

* promote follows the rollout: rolling, batch after batch, each host inside the load
  balancer's hand-off, as a deploy; together, every host at once (each staged color
  passed its gate when it was staged), no hand-off, as together's switch.
* abort and weight: every host at once, no hand-off: the live color serves throughout, a
  new weight reaches every host together, and a bad version leaves every host together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from greenroom.deploy.host import DockerHost
from greenroom.deploy.staged_host import StagedHost
from greenroom.errors import ConfigError, DeployError, GreenroomError
from greenroom.fleet.hosts import placed_hosts
from greenroom.fleet.release import release_first
from greenroom.fleet.report import FleetReport
from greenroom.fleet.rollout import Phase, RolloutPlan
from greenroom.fleet.run import Fleet
from greenroom.proxy.model import Staged


@dataclass(frozen=True)
class Seen:
    """What the look found: each host's staged color, the hosts without one (and where
    their engines are), the hosts that did not answer, in rollout order."""

    staged: dict[str, Staged]
    bare: dict[str, str]  # host -> its engine's address
    silent: dict[str, GreenroomError]  # host -> why it did not answer
    order: tuple[str, ...]

    def on(self, app: str) -> str:
        """Where APP has no staged color, for a message."""
        if len(self.order) == 1:
            return next(iter(self.bare.values()), self.order[0])
        return (
            "host " + ", ".join(self.bare) + (f" (staged on {', '.join(self.staged)})" if self.staged else "")
        )


def look(fleet: Fleet, app: str, only: str | None = None) -> Seen:
    """APP's staged color on each of its hosts (or --host ONLY), asked at once."""
    hosts = placed_hosts(fleet.cfg, app, only)

    def ask(g: DockerHost) -> tuple[Staged | None, str]:
        return StagedHost(g).staged(app)[0], g.engine.host

    found = fleet.look(hosts, ask)
    staged, bare, silent = {}, {}, {}
    for h in hosts:
        got = found[h.name]
        if isinstance(got, GreenroomError):
            silent[h.name] = got
        elif got[0] is None:
            bare[h.name] = got[1]
        else:
            staged[h.name] = got[0]
    return Seen(staged, bare, silent, tuple(h.name for h in hosts))


def _unanswered(fleet: Fleet, action: str, app: str, plan: RolloutPlan, seen: Seen) -> FleetReport:
    """The report of a command that did nothing: hosts of it did not answer the look."""
    report = fleet.report_for(action, app, plan)
    for host, exc in seen.silent.items():
        report.hosts[host].failed(exc, status="unreachable")
    report.failed = next(iter(seen.silent))
    return report


def _nothing_staged(app: str, seen: Seen) -> ConfigError:
    return ConfigError(
        f"{app} has no staged version on {seen.on(app)}",
        hint=f"stage one: greenroom deploy {app} --no-switch (or --canary 10%)",
    )


def promote(fleet: Fleet, app: str, only: str | None = None) -> FleetReport:
    """The staged color live on every host, as the rollout says (see the module)."""
    seen = look(fleet, app, only)
    plan = fleet.plan(app, only)
    if seen.silent:
        return _unanswered(fleet, "promote", app, plan, seen)
    if seen.bare:
        err = _nothing_staged(app, seen)
        if seen.staged:
            err.hint = (
                "promote only where it is staged (--host NAME), "
                f"or `greenroom abort {app}` and stage it again"
            )
        raise err
    versions = {s.version for s in seen.staged.values()}
    if len(versions) > 1:
        raise ConfigError(
            f"{app} has different versions staged: "
            + ", ".join(f"{h}: {s.version}" for h, s in seen.staged.items()),
            hint=f"`greenroom abort {app}`, then stage one version on every host",
        )
    report = fleet.report_for("promote", app, _promotion(plan))
    return fleet.each(report, "promote", lambda g: partial(StagedHost(g).promote, app, locked=True))


def _promotion(plan: RolloutPlan) -> RolloutPlan:
    """A promotion's phases: rolling's batches (each host inside its hand-off); together,
    every host at once without one (as together's switch)."""
    if plan.strategy == "together":
        return replace(plan, phases=(Phase("switch", plan.hosts, handoff=False),))
    return plan


def promote_held(fleet: Fleet, app: str, hosts: Sequence[StagedHost], only: str | None = None) -> None:
    """A canary's last step: the staged color live on HOSTS (APP's hosts, in rollout order,
    their locks held by the caller), as `promote` does; the first failure stops it."""
    plan = _promotion(fleet.plan(app, only))
    by_name = dict(zip(plan.hosts, hosts, strict=True))
    report = fleet.report_for("promote", app, plan)
    fleet.batches(report, "promote", app, lambda host: partial(by_name[host].promote, app, locked=True))
    if report.ok:
        return
    first = report.hosts[report.failed]
    done = [h for h, r in report.hosts.items() if r.status == "deployed"]
    err = DeployError(
        f"the canary of {app} passed every step; its promotion stopped: {report.reason()}",
        hint=f"promoted on {', '.join(done) or 'no host'}; `greenroom promote {app}` promotes it where "
        "it is still staged",
    )
    if first.exception is not None:
        err.exit_code = first.exception.exit_code
    raise err


def stage(
    fleet: Fleet, app: str, image: str | None, share: float, only: str | None = None
) -> list[FleetReport]:
    """IMAGE staged beside the live color on every host of APP: the release command once,
    on the first host, before any host stages (one host: the first step of its stage); then
    the rollout's batches (together: every host at once), no hand-off: a staged color takes
    no public traffic. Over several hosts each stages preview only, then SHARE reaches every
    host at once (`weight`); one host stages at SHARE. The first failure stops it (the
    hosts staged so far stay so, preview only). The reports: the stage's, then the weight's."""
    plan = fleet.plan(app, only)
    if plan.strategy == "together":
        phases: tuple[Phase, ...] = (Phase("deploy", plan.hosts, handoff=False),)
    else:
        phases = tuple(replace(p, handoff=False, pause_after=0.0) for p in plan.phases)
    plan = replace(plan, phases=phases, notes=())
    at = share if len(plan.hosts) == 1 else 0.0
    report = fleet.report_for("stage", app, plan)

    def first(services: dict[str, DockerHost]) -> bool:
        if len(services) == 1:  # one host: the release command is a step of its stage
            services[plan.hosts[0]].release = fleet.release
            return True
        return release_first(fleet.cfg, app, image, services, report, fleet.release)

    fleet.each(report, "stage", lambda g: partial(StagedHost(g).stage, app, image, at, locked=True), first)
    _done(report)
    if not report.ok:
        for r in report.hosts.values():
            if r.status == "done":
                r.notes.append(f"staged here, preview only: `greenroom abort {app}` removes it")
    if not report.ok or at == share:
        return [report]
    return [report, weight(fleet, app, share, only)]


def abort(fleet: Fleet, app: str, only: str | None = None, reason: str = "aborted") -> FleetReport:
    """The staged color routed out, drained and removed, on every host that has one, at once."""
    return _everywhere(fleet, app, only, "abort", lambda sh: partial(sh.abort, app, reason, locked=True))


def weight(fleet: Fleet, app: str, share: float, only: str | None = None) -> FleetReport:
    """The staged color's share of the clients set on every host that has one, at once."""
    return _everywhere(fleet, app, only, "weight", lambda sh: partial(sh.weight, app, share, locked=True))


def _everywhere(
    fleet: Fleet,
    app: str,
    only: str | None,
    action: str,
    work: Callable[[StagedHost], Callable[[], object]],
) -> FleetReport:
    seen = look(fleet, app, only)
    targets = tuple(h for h in seen.order if h in seen.staged or h in seen.silent)
    if not targets:
        raise _nothing_staged(app, seen)
    notes = tuple(f"{h}: nothing staged there, left as it is" for h in seen.bare)
    plan = RolloutPlan("together", targets, (Phase("deploy", targets, handoff=False),), notes)
    if seen.silent:
        return _unanswered(fleet, action, app, plan, seen)
    report = fleet.each(
        fleet.report_for(action, app, plan),
        action,
        lambda g: work(StagedHost(g)),
    )
    return _done(report)


def _done(report: FleetReport) -> FleetReport:
    """A host where the new color is not live (yet, or any more): "done", not "deployed"."""
    for r in report.hosts.values():
        if r.status == "deployed":
            r.status = "done"
    return report
