"""The deploy lock on both engines: processes racing to take a stale lock (exactly one
gets it, the others exit Locked, no traceback, nothing left), and a holder in another
UTS and pid namespace whose lock is never judged stale (`unlock` wants --force)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
import yaml

from greenroom import labels
from greenroom.deploy import lock
from tests.bed import BedEngine, greenroom, uid
from tests.deployment import app_doc, config_doc

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
TAKERS = 6
ROUNDS = 5

# One greenroom process taking APP's lock through the library. modes:
#   race   say "ready", wait for "go", take; a winner holds until a line comes, then releases
#   leave  take and exit without releasing (a stale lock)
#   ns     (run under unshare) set the hostname, make the next pid NEXT_PID, take in that
#          child, then leave (line "exit") or hold until killed (line "hold")
RACER = r"""
import os, socket, sys
from greenroom.clock import SystemClock
from greenroom.deploy import lock
from greenroom.engine.client import DockerEngine
from greenroom.errors import Locked

host, app, image, mode = sys.argv[1:5]

def take():
    engine = DockerEngine(host)
    try:
        taken = lock.acquire(engine, app, image, SystemClock())
    except Locked as exc:
        print("locked", exc.message, flush=True)
        sys.exit(exc.exit_code)
    print("got", os.getpid(), taken.id, flush=True)
    return engine, taken

if mode == "race":
    DockerEngine(host).close()  # imports and the first connection before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    engine, taken = take()
    sys.stdin.readline()
    lock.give_back(engine, taken)
elif mode == "leave":
    take()
    os._exit(0)
elif mode == "ns":
    hostname, next_pid, then = sys.argv[5:8]
    socket.sethostname(hostname)
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(int(next_pid) - 1))
    child = os.fork()
    if child == 0:
        take()
        if then == "hold":
            sys.stdin.readline()
        os._exit(0)
    os.waitpid(child, 0)
"""


def racer(bed: BedEngine, app: str, mode: str, *extra: str, prefix: tuple[str, ...] = ()) -> list[str]:
    return [*prefix, sys.executable, "-c", RACER, bed.host, app, bed.busybox_image, mode, *extra]


def lock_container(bed: BedEngine, app: str) -> dict[str, str] | None:
    """The lock's labels and ID, or None."""
    client = bed.docker()
    try:
        doc = client.api.inspect_container(labels.lock_name(app))
    except docker.errors.NotFound:
        return None
    finally:
        client.close()
    return {**doc["Config"]["Labels"], "id": doc["Id"]}


@pytest.fixture
def app(bed: BedEngine) -> Iterator[str]:
    name = f"lk{uid()}"
    yield name
    client = bed.docker()
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_container(labels.lock_name(name), force=True)
    client.close()


def leave_stale(bed: BedEngine, app: str) -> str:
    res = subprocess.run(racer(bed, app, "leave"), env=ENV, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    held = lock_container(bed, app)
    assert held is not None
    return held["id"]


def race(bed: BedEngine, app: str) -> tuple[list[int], list[str], list[subprocess.Popen[str]]]:
    """Start TAKERS racers at once; returns the exit codes of those that did not win, every
    racer's first answer, and the winners (still holding)."""
    procs = [
        subprocess.Popen(
            racer(bed, app, "race"),
            env=ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(TAKERS)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [p.stdout.readline().strip() if p.stdout else "" for p in procs]
    except BaseException:
        for p in procs:
            p.kill()
            p.wait()
        raise
    winners = [p for p, a in zip(procs, answers, strict=True) if a.startswith("got")]
    codes = []
    for p in procs:
        if p in winners:
            continue
        _, stderr = p.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr
        codes.append(p.returncode)
    return codes, answers, winners


def finish(winners: list[subprocess.Popen[str]]) -> list[int]:
    codes = []
    for p in winners:
        _, stderr = p.communicate("release\n", timeout=60)
        assert "Traceback" not in stderr, stderr
        codes.append(p.returncode)
    return codes


def test_racers_for_a_stale_lock_one_wins_the_rest_are_locked(bed: BedEngine, app: str) -> None:
    for n in range(1, ROUNDS + 1):
        stale_id = leave_stale(bed, app)
        codes, answers, winners = race(bed, app)
        held = lock_container(bed, app)
        won = [a.split()[1] for a in answers if a.startswith("got")]
        over = sum("taking over" in a for a in answers)
        print(
            f"{bed.name} round {n}: winners {len(winners)}, losers' exit codes {sorted(codes)} "
            f"({over} saw the takeover in progress, {TAKERS - 1 - over} the new lock)"
        )
        release_codes = finish(winners)
        assert len(winners) == 1, answers
        assert codes == [5] * (TAKERS - 1), answers
        assert all(a.startswith("locked") for a in answers if not a.startswith("got")), answers
        assert held is not None and held["id"] != stale_id
        assert held[labels.HOLDER_PID] == won[0]
        assert release_codes == [0]
        assert lock_container(bed, app) is None, "the winner's release left its lock"


def free_pid() -> int:
    """A pid no process of this machine has (the holder gets it in its own namespace, so the
    old rule "same hostname, pid gone" would have taken its live lock over)."""
    return next(p for p in range(20000, 32000) if not os.path.exists(f"/proc/{p}"))


@pytest.mark.parametrize("then", ["exit", "hold"], ids=["holder exited", "holder killed"])
def test_a_lock_of_another_pid_namespace_is_never_taken_over(
    bed: BedEngine, app: str, tmp_path: Path, then: str
) -> None:
    pid = free_pid()
    ns = subprocess.Popen(
        racer(
            bed,
            app,
            "ns",
            socket.gethostname(),
            str(pid),
            then,
            prefix=("unshare", "--uts", "--pid", "--mount-proc", "--kill-child"),
        ),
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert ns.stdout is not None
        first = ns.stdout.readline().split()
        assert first[:2] == ["got", str(pid)], (first, ns.stderr.read() if ns.stderr else "")
        if then == "hold":
            ns.send_signal(signal.SIGKILL)  # --kill-child: its pid 1 dies, the kernel kills the rest
        ns.communicate(timeout=30)
    finally:
        if ns.poll() is None:
            ns.kill()
            ns.wait()
    held = lock_container(bed, app)
    assert held is not None
    assert held[labels.HOLDER_HOST] == socket.gethostname() and held[labels.HOLDER_PID] == str(pid)
    assert held[lock.PIDNS] != str(os.stat("/proc/self/ns/pid").st_ino)

    codes, answers, winners = race(bed, app)
    print(f"{bed.name} holder {then} in another pid namespace: winners {len(winners)}, exit codes {codes}")
    finish(winners)
    assert winners == [] and codes == [5] * TAKERS, answers
    after = lock_container(bed, app)
    assert after is not None and after["id"] == held["id"]

    cfg = tmp_path / "greenroom.yml"
    cfg.write_text(yaml.safe_dump(config_doc(bed, {app: app_doc(bed, app)})))
    refused = greenroom("unlock", app, "-f", str(cfg), host=bed.host)
    assert refused.returncode == 5, refused.stderr
    assert "--force" in refused.stderr and f"pid {pid}" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    forced = greenroom("unlock", app, "--force", "-f", str(cfg), host=bed.host)
    assert forced.returncode == 0, forced.stderr
    assert "released the lock held by" in forced.stdout
    assert lock_container(bed, app) is None
