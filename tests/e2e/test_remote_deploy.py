"""A full deploy of the demo app onto the remote host e3 over ssh:// (scripts/testbed up-e3):
greenroom reaches the engine only through `ssh ... docker system dial-stdio`, so probes and
proxy calls go through the engine (helper containers, exec), never through /proc or netns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import greenroom
from tests.bed import BedEngine, bed_engine, load_description, ssh_alias
from tests.deployment import Load, Project, get, new_project, remove_proxy

DESC = load_description()
REMOTE: dict[str, Any] | None = DESC.get("remote")
SSHD_LOG = Path("/run/gr-e3/sshd.log")
SOURCES = str(Path(greenroom.__file__).resolve().parents[1])

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REMOTE is None, reason="the remote host e3 is not up: run `scripts/testbed up-e3`"),
]


def remote_bed() -> BedEngine:
    assert REMOTE is not None
    return bed_engine(REMOTE, DESC)  # host: the test's own view (cleanup, checks); greenroom gets ssh://


def logins() -> int:
    """SSH logins the remote sshd accepted so far."""
    try:
        return SSHD_LOG.read_text(errors="replace").count("Accepted publickey")
    except OSError:
        return 0


@pytest.fixture
def remote_project(tmp_path: Path) -> Iterator[tuple[Project, dict[str, str]]]:
    assert REMOTE is not None
    ssh = REMOTE["ssh"]
    cfg = ssh_alias(tmp_path, "gr-e3-deploy", ssh)
    bed = remote_bed()
    project = new_project(bed, tmp_path)
    project.set_engine(host="ssh://gr-e3-deploy")  # direct is left at its default: implied off remotely
    env = {
        "COLUMNS": "200",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(tmp_path),
        "GREENROOM_SSH_CONFIG": str(cfg),
        "PYTHONPATH": SOURCES,  # the greenroom under test, not whichever is installed
    }
    try:
        yield project, env
    finally:
        project.cleanup()
        remove_proxy(bed)  # holder, nginx instances, state volume, home network


def run(project: Project, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", *args, "--file", str(project.file)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "Traceback" not in res.stdout + res.stderr
    assert res.returncode == 0, (
        f"greenroom {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    )
    return res


def test_deploy_and_switch_versions_over_ssh(remote_project: tuple[Project, dict[str, str]]) -> None:
    project, env = remote_project
    bed = project.bed
    before = logins()
    t = time.monotonic()
    run(project, env, "deploy")
    first = time.monotonic() - t
    used = logins() - before
    status, body = get(bed, f"{project.name}.test")
    assert (status, body.get("version")) == (200, "v1")

    load = Load(bed.address, f"{project.name}.test", clients=4).start()
    try:
        time.sleep(1)
        switch = time.time()
        project.set(image=project.apps[project.name]["image"].replace(":v1-", ":v2-"))
        t = time.monotonic()
        run(project, env, "deploy")
        second = time.monotonic() - t
        time.sleep(1)
    finally:
        load.stop()
    assert not load.failures(), load.failures()[:5]
    assert load.versions_after(switch + second + 0.5) == {"v2"}

    st = json.loads(run(project, env, "status", "--json").stdout)
    text = json.dumps(st)
    assert "v2-" in text and "ssh://gr-e3-deploy" in text
    print(
        f"\ndeploy over ssh: first {first:.1f} s with {used} ssh logins; "
        f"v1 -> v2 under load {second:.1f} s, {load.count()} requests, 0 failures"
    )
    # pooled: a whole deploy (dozens of API calls, helper containers, exec) costs a handful of
    # ssh logins, not one per call
    assert 1 <= used <= 12, used
