"""A fleet's release command: once, on the first host of the rollout, before any host
deploys (rolling and together alike); every host's deploy then skips it."""

from __future__ import annotations

from greenroom.config import Config
from greenroom.deploy.host import DockerHost
from greenroom.deploy.steps import RunRelease
from greenroom.errors import DeployFailed, GreenroomError
from greenroom.fleet.report import FleetReport


def release_first(
    cfg: Config, app: str, image: str | None, services: dict[str, DockerHost], report: FleetReport, mode: str
) -> bool:
    """Run APP's release command on the rollout's first host (the caller holds every
    host's lock). False if it failed: no host was touched."""
    if cfg.app(app).release is None:
        return True
    first = report.plan.hosts[0]
    r = report.hosts[first]
    g = services[first]
    g.release = mode
    try:
        done = g.run_release(app, image, locked=True)
    except DeployFailed as exc:
        r.failed_with(exc)
    except GreenroomError as exc:
        r.failed(exc, RunRelease.__name__)
    if r.error:
        r.notes.append("the release command failed here before any host deployed: nothing switched anywhere")
        report.failed = first
        return False
    said = "; ".join(x.detail for x in done.records if x.step == RunRelease.__name__ and x.detail)
    r.notes.append(f"release command, once for every host, before any deployed: {said}")
    for each in services.values():
        each.release = "skip"
    return True
