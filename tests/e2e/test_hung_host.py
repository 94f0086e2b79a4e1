"""A host whose engine stops answering, on the test bed: e3's dockerd frozen with SIGSTOP
(its containers keep serving, as in the issue) before a rollout, at several steps of one,
and after it; and e3's ssh path frozen (a relay of our own between ssh and e3's sshd,
stopped with SIGSTOP: an sshd that hangs). e28 and e20 deploy beside it.

Each time: the command ends non-zero naming e3 and its bound ("did not answer within
3 s"), e28 and e20 keep serving, e3's lock is taken over without --force once its lease
lapsed (by e3's own clock), and the next deploy converges. Only e3 is ever frozen, each
freeze is as short as the command needs, and every freeze is undone in a `finally`."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from tests.bed import BedEngine, bed_engine, load_description, ssh_alias, uid
from tests.deployment import app_images
from tests.e2e.test_fleet import SOURCES
from tests.lb import Traffic
from tests.waiting import wait_for

DESC = load_description()
REMOTE: dict[str, Any] | None = DESC.get("remote")
PROXY = "gr-hang-proxy"  # its own proxy and port: the fleet tests may run beside it
PORT = int(os.environ.get("GREENROOM_TEST_HANG_PORT", "18340"))
# e3's call_timeout: its lease lapses after 3 x 3 s without a renewal (GREENROOM_TEST_HANG_BOUND=15
# measures the default)
BOUND = int(os.environ.get("GREENROOM_TEST_HANG_BOUND", "3"))

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(REMOTE is None, reason="needs e3: scripts/testbed up")]


def _cleanup(bed: BedEngine, app: str) -> None:
    client = bed.docker()
    try:
        doomed = client.containers.list(all=True, filters={"label": f"greenroom.app={app}"})
        doomed += client.containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY}"})
        doomed += [c for c in client.containers.list(all=True, filters={"name": PROXY}) if c.name == PROXY]
        for c in doomed:
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(f"{PROXY}-state").remove(force=True)
        for net in client.networks.list():
            if net.name in (f"gr-{app}-front", f"gr-{app}-back", PROXY):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    net.remove()
    finally:
        client.close()


def _pid(name: str) -> int:
    return int(Path(f"/run/gr-e3/{name}.pid").read_text().strip())


@contextlib.contextmanager
def frozen(pids: list[int], *, group: bool = False) -> Iterator[None]:
    """SIGSTOP these processes (process groups), SIGCONT them whatever happens."""
    kill = os.killpg if group else os.kill
    try:
        for pid in pids:
            kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                kill(pid, signal.SIGCONT)


@dataclass
class Relay:
    """socat between ssh and e3's sshd, in its own process group (stopping it stops every
    connection it carries: an sshd that accepted and answers nothing)."""

    port: int
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, target: str) -> Relay:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", f"TCP:{target}"],
            start_new_session=True,
        )
        relay = cls(port, proc)
        wait_for(relay.listening, 10, "the relay to listen")
        return relay

    def listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)


@dataclass
class Bed:
    folder: Path
    app: str
    beds: dict[str, BedEngine]
    env: dict[str, str]
    relay: Relay
    ran: list[str] = field(default_factory=list)

    def write(self) -> None:
        e28 = self.beds["e28"]
        doc = {
            "engine": {"helper_image": e28.busybox_image},
            "proxy": {"name": PROXY, "image": e28.base_image, "network": PROXY, "ports": [f"{PORT}:80"]},
            "hosts": [
                {"name": "e28", "engine": e28.host},
                {"name": "e20", "engine": self.beds["e20"].host},
                {
                    "name": "e3",
                    "engine": "ssh://gr-e3-hang",
                    "call_timeout": f"{BOUND}s",
                    "connect_timeout": "3s",
                },
            ],
            "rollout": {"strategy": "rolling", "max_parallel": 3},
            "apps": {
                self.app: {
                    "image": app_images(e28)["v1"],
                    "port": 8000,
                    "hosts": [f"{self.app}.test"],
                    "healthcheck": {"type": "http", "path": "/health", "interval": "300ms", "passes": 4},
                    "drain_timeout": "3s",
                }
            },
        }
        (self.folder / "greenroom.yml").write_text(yaml.safe_dump(doc))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "greenroom", *args, "--file", str(self.folder / "greenroom.yml")]

    def run(self, *args: str, elsewhere: bool = False) -> subprocess.CompletedProcess[str]:
        """`elsewhere`: from another pid namespace, as from another machine (a holder's pid
        cannot be judged from there: only the lease can free its lock)."""
        cmd = self.command(*args)
        if elsewhere:
            cmd = ["unshare", "--pid", "--fork", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=self.env)
        assert "Traceback" not in res.stdout + res.stderr, res.stderr
        return res

    def deploy(self, version: str, *flags: str) -> subprocess.Popen[str]:
        """`--no-json`: progress lines on stderr (--json drops them)."""
        image = app_images(self.beds["e28"])[version]
        json_flag = [] if "--no-json" in flags else ["--json"]
        return subprocess.Popen(
            self.command("deploy", *json_flag, "--image", image),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )  # fmt: skip

    def served(self, host: str) -> str:
        """The version host's proxy serves the app with ("" when it does not answer)."""
        conn = http.client.HTTPConnection(self.beds[host].address, PORT, timeout=3)
        try:
            conn.request("GET", "/", headers={"Host": f"{self.app}.test", "Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            version = resp.getheader("X-App-Version") or ""
            return next((v for v in ("v1", "v2", "v3") if f":{v}-" in version or version == v), version)
        except (OSError, http.client.HTTPException):
            return ""
        finally:
            conn.close()


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    assert REMOTE is not None
    beds = {e["name"]: bed_engine(e, DESC) for e in DESC["engines"]}
    beds["e3"] = bed_engine(REMOTE, DESC)
    ssh = REMOTE["ssh"]
    relay = Relay.start(f"{ssh['host']}:{ssh['port']}")
    cfg = ssh_alias(tmp_path, "gr-e3-hang", {**ssh, "host": "127.0.0.1", "port": relay.port})
    # e3's host key is known under its own address: the relay's must not pass for another host
    cfg.write_text(cfg.read_text() + f"  HostKeyAlias [{ssh['host']}]:{ssh['port']}\n")
    env = {
        "COLUMNS": "200",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(tmp_path),
        "GREENROOM_SSH_CONFIG": str(cfg),
        "PYTHONPATH": SOURCES,
    }
    app = f"hh{uid()}"
    try:
        b = Bed(tmp_path, app, beds, env, relay)
        b.write()
        yield b
    finally:
        relay.stop()
        for engine in beds.values():
            _cleanup(engine, app)


def _freeze_at(bed: Bed, version: str, after_step: str, pids: list[int], *, group: bool = False) -> str:
    """Deploy `version`; once e3 finished a step whose progress line has `after_step`, freeze
    `pids` until the command ends. Returns what it printed. A deploy that failed on e3 before
    that step (nothing frozen: not this test's subject) is reported and tried once more."""
    for attempt in (1, 2):
        proc = bed.deploy(version, "--no-json")
        assert proc.stderr is not None
        seen: list[str] = []
        froze: float | None = None
        with contextlib.ExitStack() as stack:
            stack.callback(proc.kill)  # a command still running when the test fails
            for line in proc.stderr:
                seen.append(line)
                if line.startswith("e3:") and after_step in line:
                    stack.enter_context(frozen(pids, group=group))
                    froze = time.monotonic()
                    break
            out, err = proc.communicate(timeout=120)  # frozen until the command is over
        text = out + "".join(seen) + err
        if froze is not None or attempt == 2:
            break
        why = next((x for x in text.splitlines() if x.startswith("error:")), "no error line")
        bed.ran.append(f"  e3 never reached {after_step!r} (nothing frozen), tried again: {why}")
        print(f"\nfirst try, nothing frozen:\n{text}")
    took = time.monotonic() - (froze or time.monotonic())
    assert "Traceback" not in text, text
    assert proc.returncode != 0, text
    named = next((line for line in text.splitlines() if "did not answer within" in line), "")
    assert f"host e3 did not answer within {BOUND} s" in named, text
    assert "hosts.e3.engine: ssh://gr-e3-hang" in text and "is dockerd running? set DOCKER_HOST" not in text
    assert "e3: its lock could not be given back" in text and "its lease lapses" in text, text
    bed.ran.append(f"frozen after e3's {after_step!r}: ended {took:.1f}s later: {named.strip()}")
    return text


def _lease_lapses(bed: Bed) -> None:
    """e3's lock, left by the command that gave e3 up, is released without --force from
    another machine (pid namespace) once its lease lapsed by e3's clock."""
    tries: list[subprocess.CompletedProcess[str]] = []

    def released() -> bool:
        tries.append(bed.run("unlock", bed.app, "--host", "e3", elsewhere=True))
        return tries[-1].returncode == 0

    wait_for(released, 3 * BOUND + 30, "the lease to lapse")
    assert "released the lock held by" in tries[-1].stdout, tries[-1].stdout  # it was there
    for refused in tries[:-1]:  # while the lease ran: held, and told until when
        assert refused.returncode == 5 and "lease lapses in" in refused.stderr, refused.stderr
    bed.ran.append(f"  lock released from another pid namespace after {len(tries) - 1} refusal(s)")


def _converges(bed: Bed, version: str) -> None:
    """The next deploy, from this machine, takes the lock over (its holder is provably gone
    from here) and converges."""
    t0 = time.monotonic()
    proc = bed.deploy(version)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert {h: bed.served(h) for h in bed.beds} == {"e28": version, "e20": version, "e3": version}
    bed.ran.append(f"  the next deploy converged in {time.monotonic() - t0:.1f}s")


def test_a_frozen_engine_or_ssh_is_named_within_its_bound_and_its_lock_lapses(bed: Bed) -> None:
    _converges(bed, "v1")
    dockerd = [_pid("dockerd")]
    # one keep-alive client per host at 20 requests a second (the bed's 2 cores are shared)
    load = {
        h: Traffic(b.address, PORT, 1, 0, host=f"{bed.app}.test", by="X-App-Version", pace=0.05).start()
        for h, b in bed.beds.items()
    }
    try:
        # before: the command names e3 within its connect_timeout, having done nothing anywhere
        t0 = time.monotonic()
        with frozen(dockerd):
            res = bed.run("deploy", "--json", "--image", app_images(bed.beds["e28"])["v2"])
        took = time.monotonic() - t0
        assert res.returncode != 0 and "e3" in res.stderr, res.stderr
        assert {h: bed.served(h) for h in bed.beds} == {"e28": "v1", "e20": "v1", "e3": "v1"}
        bed.ran.insert(0, f"frozen before: named in {took:.1f}s: {res.stderr.splitlines()[0]}")

        # during e3's health gate: e28 and e20 deployed, e3 kept v1; its lock is released from
        # another machine once the lease lapsed
        _freeze_at(bed, "v2", "start", dockerd)
        assert {h: bed.served(h) for h in bed.beds} == {"e28": "v2", "e20": "v2", "e3": "v1"}
        _lease_lapses(bed)

        # at the switch, through ssh: the relay to e3's sshd hangs, not its engine (what the
        # gate's failure left on e3 is repaired by this deploy first)
        _freeze_at(bed, "v3", "health gate", [bed.relay.proc.pid], group=True)
        assert bed.served("e28") == "v3" and bed.served("e3") in ("v1", "v3")

        # during the drain of e3's old version (keep-alive clients hold it open); this deploy
        # takes the lock the last one left over: its holder is provably gone from here
        _freeze_at(bed, "v2", "confirm through the proxy", dockerd)
        assert bed.served("e28") == "v2" and bed.served("e3") in ("v2", "v3", "v1")
        _converges(bed, "v1")

        # after the rollout: status names e3 and still shows the others
        t0 = time.monotonic()
        with frozen(dockerd):
            res = bed.run("status", "--json")
        took = time.monotonic() - t0
        assert res.returncode != 0 and "e3" in res.stderr, res.stderr
        hosts = {h["host"]: h for h in json.loads(res.stdout)["hosts"]}
        assert hosts["e3"]["error"] and not hosts["e28"]["error"] and not hosts["e20"]["error"], hosts
        bed.ran.append(f"frozen after: status named e3 in {took:.1f}s: {hosts['e3']['error']}")
    finally:
        for traffic in load.values():
            traffic.stop()
    for host in ("e28", "e20"):
        assert not load[host].failures, f"{host}: {load[host].summary()}"
    bed.ran.append("served meanwhile: " + ", ".join(f"{h} {t.summary()}" for h, t in load.items()))
    print("\n" + "\n".join(bed.ran))
