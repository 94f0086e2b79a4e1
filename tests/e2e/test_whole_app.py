"""A whole app on each engine: a web app whose release command migrates a real SQLite
database (on a named volume) and whose new version refuses an unmigrated schema, plus a
singleton worker, deployed together under keep-alive load; then a failing migration, a
redeploy of the same image, `run` and `exec` exit codes and a Ctrl-C'd `run`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker.errors
import pytest

from tests.bed import BedEngine, load_description, uid
from tests.deployment import Load, Project, app_doc, cli_env, get
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEMO = "/opt/greenroom-demo/app.py"


def demo_images(bed: BedEngine) -> dict[str, str]:
    """This checkout's demo app images (their tag hashes demo/app.py, as scripts/testbed does)."""
    base = load_description()["images"]["base"]
    tag = hashlib.sha256(base.encode() + b"\n" + (ROOT / "demo" / "app.py").read_bytes()).hexdigest()[:12]
    images = {v: f"greenroom-test/app:{v}-{tag}" for v in ("v1", "v2", "v3")}
    client = bed.docker()
    try:
        client.images.get(images["v3"])
    except docker.errors.ImageNotFound:
        pytest.fail(f"{images['v3']} is not on {bed.name}: run `scripts/testbed images`")
    finally:
        client.close()
    return images


def one_off(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """`greenroom run|exec APP -- CMD...` (the file before the command's words), stdin closed."""
    at = args.index("--")
    return subprocess.run(
        [sys.executable, "-m", "greenroom", *args[:at], "--file", str(project.file), *args[at:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )


def interrupt_run(bed: BedEngine, project: Project, web: str, sig: signal.Signals) -> None:
    """`greenroom run APP -- sleep 60`, then `sig` once its container runs: it ends, and
    its container is removed. The child gets SIGINT's default disposition back, as at a
    terminal: a test run started as a background job inherits it ignored (a shell's `&`
    without job control), and Python then installs no Ctrl-C handler at all."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenroom", "run", web, "--file", str(project.file), "--", "sleep", "60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**cli_env(), "PYTHONFAULTHANDLER": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: any(":running" in c for c in one_offs(bed, web, "run")), what="the run container")
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # the fault handler prints where each thread was
            stacks = proc.communicate(timeout=10)[1].decode(errors="replace")
            pytest.fail(f"`greenroom run` still ran 30 s after {sig.name}:\n{stacks}")
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ValueError):  # read already, after a fault handler's dump
            proc.communicate(timeout=10)
    assert proc.returncode != 0, proc.returncode
    wait_for(lambda: not one_offs(bed, web, "run"), what="the run container removed", timeout=10)


def on_a_terminal(project: Project, web: str, typed: bytes) -> tuple[int, bool]:
    """`greenroom run APP -- sh` on a pseudo-terminal: (its exit code, whether sh answered)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenroom", "run", web, "--file", str(project.file), "--", "sh"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**cli_env(), "TERM": "dumb"},
    )
    os.close(follower)
    seen = b""
    os.write(leader, typed)
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process ended: its terminal is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return proc.wait(timeout=30), b"42" in seen


def rows(project: Project, web: str) -> list[str]:
    query = "SELECT version FROM releases"
    code = f"import sqlite3; print(*[r[0] for r in sqlite3.connect('/data/app.db').execute('{query}')])"
    res = one_off(project, "run", web, "--", "python3", "-c", code)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def one_offs(bed: BedEngine, app: str, role: str) -> list[str]:
    client = bed.docker()
    try:
        found = client.containers.list(
            all=True, filters={"label": [f"greenroom.app={app}", f"greenroom.role={role}"]}
        )
        return [f"{c.name}:{c.status}" for c in found]
    finally:
        client.close()


def test_migration_worker_run_and_exec(bed: BedEngine, tmp_path: Path) -> None:
    images = demo_images(bed)
    web, jobs = f"t{uid()}", f"t{uid()}"
    data, queue = f"gr-{web}-data", f"{jobs}-queue"
    web_doc = app_doc(bed, web, image=images["v1"])
    web_doc.update(
        volumes=[f"{data}:/data"],
        environment={"DB_PATH": "/data/app.db"},
        secrets={"DB_PASSWORD": "hunter2-very-secret"},
        release=f"python3 {DEMO} migrate",
    )
    jobs_doc = {
        "image": images["v1"],
        "command": ["python3", DEMO, "worker"],
        "volumes": [f"{data}:/data"],
        "environment": {"WORKER_LOG": "/data/worker.log"},
        "networks": [queue],  # a broker's network: joined as decided, its gateway verified
        "overlap": False,
        "healthcheck": {"type": "running", "steady": "1s", "interval": "100ms", "deadline": "20s"},
        "stop_timeout": "5s",
        "retain": 1,
    }
    project = Project(bed, tmp_path, {web: web_doc, jobs: jobs_doc})
    project.write()
    client = bed.docker()
    try:
        client.networks.create(queue, driver="bridge")
    finally:
        client.close()
    try:
        first = project.run("deploy")  # both, in the config's order
        assert "migrated to schema 1" in first.stderr, first.stderr
        assert f"attach the extra networks: {queue}" in first.stderr and "gateways verified" in first.stderr
        assert get(bed, f"{web}.test")[1]["version"] == "v1"
        load = Load(bed.address, f"{web}.test").start()
        try:
            wait_for(lambda: load.count() > 20, what="load through the proxy")
            # v2: migrated once (before the switch: the v2 server refuses schema 1), worker replaced
            two = project.run("deploy", "--image", images["v2"])
            assert "migrated to schema 2 (v2)" in two.stderr
            done = time.time()
            wait_for(lambda: load.count_after(done) >= 2 * load.clients, what="requests after the deploy")
            assert load.versions_after(done) == {"v2"}
            # a failing migration: exit 1, its exit code and last lines; nothing switched or left
            project.set(
                web,
                environment={"DB_PATH": "/data/app.db", "MIGRATE_FAIL": "1"},
                release=f"sh -c 'echo connecting as $$DB_PASSWORD; exec python3 {DEMO} migrate'",
            )
            failed = project.run("deploy", web, "--image", images["v3"], check=False)
            assert failed.returncode == 1, failed.stderr
            assert "exited 3" in failed.stderr and "constraint violated" in failed.stderr
            assert "connecting as ******" in failed.stderr  # its output, streamed and masked
            assert "hunter2-very-secret" not in failed.stdout + failed.stderr
            assert get(bed, f"{web}.test")[1]["version"] == "v2"
            assert not [c for c in one_offs(bed, web, "app") if "-v3" in c]
            assert all(":exited" in c for c in one_offs(bed, web, "release")), one_offs(bed, web, "release")
            history = project.run("history", web, "--json").stdout
            assert "exited 3" in history and "hunter2-very-secret" not in history
            # greenroom killed (-9) while its release command runs: the next command removes it
            project.set(web, release="sh -c 'echo migrating; sleep 60'")
            killed = project.spawn("deploy", web, "--image", images["v3"])
            wait_for(lambda: any(":running" in c for c in one_offs(bed, web, "release")), what="the release")
            killed.kill()
            killed.wait(timeout=10)
            repaired = project.run("repair", web)
            assert "left by an interrupted deploy" in repaired.stderr, repaired.stderr
            assert all(":exited" in c for c in one_offs(bed, web, "release")), one_offs(bed, web, "release")
            # the same image again: the release does not run twice for it
            project.set(web, environment={"DB_PATH": "/data/app.db"}, release=f"python3 {DEMO} migrate")
            again = project.run("deploy", web, "--image", images["v2"])
            assert "skipped: it already ran for this image" in again.stderr
        finally:
            load.stop()
        failures = load.failures()
        assert not failures, f"{len(failures)} failed of {load.count()}: {failures[:5]}"
        assert rows(project, web) == ["v1", "v2"]  # once per deploy that migrated, none for the failure
        status = project.run("status").stdout
        assert web in status and jobs in status
        # run and exec pass exit codes through; exec reads the worker's own log
        code = one_off(project, "run", web, "--", "sh", "-c", "exit 7")
        assert code.returncode == 7, code.stderr
        piped = subprocess.run(  # stdin forwarded, its end too
            [sys.executable, "-m", "greenroom", "run", web, "--file", str(project.file), "--", "cat"],
            input="through stdin\n",
            capture_output=True,
            text=True,
            timeout=120,
            env=cli_env(),
        )
        assert piped.returncode == 0 and piped.stdout == "through stdin\n", piped.stderr
        assert on_a_terminal(project, web, b"echo $((6*7)); exit 3\n") == (3, True)
        log = one_off(project, "exec", jobs, "--", "sh", "-c", "cat /data/worker.log; exit 5")
        assert log.returncode == 5, log.stderr
        spans: list[tuple[float, float]] = []
        open_: dict[str, float] = {}
        for line in log.stdout.splitlines():
            kind, at, who = line.split()[:3]
            if kind == "start":
                open_[who] = float(at)
            else:
                spans.append((open_.pop(who), float(at)))
        assert len(spans) == 1 and len(open_) == 1, log.stdout  # v1 ran and stopped; v2 runs
        assert min(open_.values()) > spans[0][1], "the singleton worker ran twice at once"
        # Ctrl-C of `run`, then SIGTERM: its container is removed
        for sig in (signal.SIGINT, signal.SIGTERM):
            interrupt_run(bed, project, web, sig)
    finally:
        project.cleanup()
        client = bed.docker()
        try:
            for c in client.containers.list(all=True, filters={"volume": data}):
                c.remove(force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.volumes.get(data).remove(force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.networks.get(queue).remove()
        finally:
            client.close()
