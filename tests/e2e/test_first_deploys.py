"""A host greenroom has not been on yet: a plan changes nothing there; two first deploys at
once make one proxy and both serve; the replicas of a first deploy share its requests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.bed import BedEngine, uid
from tests.deployment import PROXY_NAME, Project, get, new_project, remove_proxy


def owned(bed: BedEngine, marks: tuple[str, ...]) -> dict[str, set[str]]:
    """Every container, network, volume and image tag on the engine that names one of `marks`."""
    client = bed.docker()
    try:
        found = {
            "containers": {str(c.name) for c in client.containers.list(all=True)},
            "networks": {str(n.name) for n in client.networks.list()},
            "volumes": {str(v.name) for v in client.volumes.list()},
            "images": {t for i in client.images.list() for t in i.tags},
        }
    finally:
        client.close()
    return {kind: {n for n in names if any(m in n for m in marks)} for kind, names in found.items()}


def events(bed: BedEngine, since: float, until: float) -> list[dict[str, Any]]:
    client = bed.docker()
    try:
        return list(client.events(since=int(since), until=int(until) + 1, decode=True))
    finally:
        client.close()


def test_a_plan_on_a_new_host_changes_nothing(bed: BedEngine, tmp_path: Path) -> None:
    mark = f"gr-h2-dry-{uid()}"
    project = new_project(bed, tmp_path)
    # a proxy, its network and every image greenroom might need are this test's own and
    # missing: running a helper or pulling would fail, and show in the engine's events
    project.proxy = {"name": mark, "network": mark, "image": f"greenroom-test/{mark}:proxy"}
    project.engine = {"helper_image": f"greenroom-test/{mark}:helper"}
    project.set(image=f"greenroom-test/{mark}:app")
    marks = (mark, project.name)
    before = owned(bed, marks)
    since = time.time()
    plan = project.run("plan")
    dry = project.run("deploy", "--dry-run")
    rollback = project.run("rollback", project.name, "--dry-run", check=False)
    status = project.run("status")
    until = time.time()
    assert (
        before
        == owned(bed, marks)
        == {"containers": set(), "networks": set(), "volumes": set(), "images": set()}
    )
    touched = [e for e in events(bed, since, until) if any(m in str(e) for m in marks)]
    assert touched == []
    for res in (plan, dry):
        assert "create network" in res.stdout and "subnets are tentative" in res.stdout, res.stdout
    assert rollback.returncode == 2 and "no retained release" in rollback.stderr
    assert "not running" in status.stdout


def pod(bed: BedEngine) -> tuple[list[str], list[str]]:
    """The holders and the nginx instances of this checkout's proxy, running or not."""
    client = bed.docker()
    try:
        holders = [str(c.name) for c in client.containers.list(all=True) if c.name == PROXY_NAME]
        nginx = client.containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY_NAME}"})
        return holders, [str(c.name) for c in nginx]
    finally:
        client.close()


def locks_of(bed: BedEngine, apps: set[str], pids: set[int]) -> list[str]:
    """Lock containers left by these apps or these processes."""
    client = bed.docker()
    try:
        return [
            str(c.name)
            for c in client.containers.list(all=True, filters={"label": "greenroom.role=lock"})
            if c.labels.get("greenroom.app") in apps
            or c.labels.get("greenroom.holder_pid") in {str(p) for p in pids}
        ]
    finally:
        client.close()


def test_two_first_deploys_at_once_make_one_proxy(bed: BedEngine, tmp_path: Path) -> None:
    project: Project = new_project(bed, tmp_path, count=2)
    first, second = list(project.apps)
    try:
        for _ in range(3):
            remove_proxy(bed)
            project.cleanup()
            procs = [project.spawn("deploy", first), project.spawn("deploy", second)]
            outs = [p.communicate(timeout=240)[0] for p in procs]
            for p, out in zip(procs, outs, strict=True):
                assert p.returncode == 0, out
            for app in (first, second):
                assert get(bed, f"{app}.test")[0] == 200, app
            holders, nginx = pod(bed)
            assert holders == [PROXY_NAME] and len(nginx) == 1, (holders, nginx)
            assert locks_of(bed, {first, second}, {p.pid for p in procs}) == []
    finally:
        project.cleanup()


def test_replicas_share_the_requests(bed: BedEngine, tmp_path: Path) -> None:
    """Three replicas of a color: the proxy spreads the requests over the three (each
    request's njs VM starts afresh, so the pick keeps no count of its own)."""
    project = new_project(bed, tmp_path, replicas=3)
    name = project.name
    try:
        project.run("deploy")
        client = bed.docker()
        try:
            script = (
                "for i in $(seq 60); do curl -s -o /dev/null -D - -H 'Host: "
                f"{name}.test' -H 'X-Greenroom-Probe: 1' http://127.0.0.1/; done"
            )
            res = client.containers.get(PROXY_NAME).exec_run(["sh", "-c", script])
            assert isinstance(res.output, bytes)
            out = res.output.decode()
            addresses = {
                c.attrs["NetworkSettings"]["Networks"][f"gr-{name}-front"]["IPAddress"]
                for c in client.containers.list(filters={"label": f"greenroom.app={name}"})
            }
        finally:
            client.close()
        seen = [
            line.split(":", 1)[1].strip().rsplit(":", 1)[0]
            for line in out.splitlines()
            if line.lower().startswith("x-greenroom-upstream:")
        ]
        assert len(seen) == 60 and len(addresses) == 3
        counts = {a: seen.count(a) for a in addresses}
        assert set(seen) == addresses and min(counts.values()) >= 5, counts
        assert all(get(bed, f"{name}.test")[0] == 200 for _ in range(5))
    finally:
        project.cleanup()
