"""greenroom killed (SIGKILL) at each step of a deploy in turn; the next command repairs,
and the app never fails a request."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bed import BedEngine
from tests.deployment import Load, Project, app_containers, app_images, get, new_project
from tests.waiting import wait_for

STEPS_OF_A_DEPLOY = 9  # Pull, Create, Gate, Attach, Switch, Confirm, Drain, Stop (+ prune)


@pytest.fixture
def project(bed: BedEngine, tmp_path: Path) -> Iterator[Project]:
    p = new_project(bed, tmp_path, retain=1)
    yield p
    p.cleanup()


def kill_after(project: Project, image: str, finished_steps: int) -> str:
    """Start a deploy and SIGKILL it once `finished_steps` steps have finished."""
    proc = project.spawn("deploy", "--image", image)
    seen = 0
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if seen >= finished_steps:
            break
        if line.startswith(("✓", "✗")):
            seen += 1
            if seen >= finished_steps:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return "".join(lines)


def running(bed: BedEngine, app: str) -> list[str]:
    return [name for name, _ in app_containers(bed, app, running_only=True)]


def test_killed_at_each_step_then_converges(bed: BedEngine, project: Project) -> None:
    images = app_images(bed)
    project.run("deploy")
    load = Load(bed.address, f"{project.name}.test").start()
    versions = ["v2", "v1"]
    try:
        wait_for(lambda: load.count() > 20, what="load")
        for k in range(STEPS_OF_A_DEPLOY):
            version = versions[k % 2]
            kill_after(project, images[version], k)
            status = project.run("status", check=False)
            assert status.returncode == 0, status.stderr
            # the next command repairs and finishes the job
            project.run("deploy", "--image", images[version])
            _, body = get(bed, f"{project.name}.test")
            assert body["version"] == version, f"after a kill at step {k}"
            live = running(bed, project.name)
            assert len(live) == 1, f"after a kill at step {k}: running {live}"
    finally:
        load.stop()
    failures = load.failures()
    assert not failures, f"{len(failures)} failed of {load.count()}: {failures[:3]}"
    client = bed.docker()
    leftovers = client.containers.list(all=True, filters={"label": "greenroom.role=probe"})
    locks = client.containers.list(all=True, filters={"name": f"greenroom-lock-{project.name}"})
    client.close()
    assert not leftovers and not locks


def test_status_names_an_interrupted_deploy_and_repair_fixes_it(bed: BedEngine, project: Project) -> None:
    images = app_images(bed)
    project.run("deploy")
    # killed in the health gate (the new version takes 3 s to get healthy): it is up, never
    # switched to (a kill right after a fast step races the next one, the switch: ~1 ms)
    project.set(environment={"START_DELAY": "3"})
    kill_after(project, images["v2"], 2)
    res = project.run("status")
    assert f"greenroom repair {project.name}" in res.stderr
    res = project.run("repair")
    assert "never went live" in res.stdout + res.stderr
    assert len(running(bed, project.name)) == 1
    _, body = get(bed, f"{project.name}.test")
    assert body["version"] == "v1"
    wait_for(
        lambda: "greenroom repair" not in project.run("status").stderr, what="status to name no leftover"
    )
