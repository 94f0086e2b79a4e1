"""Many hosts behind a load balancer, on the test bed's three engine hosts: e28 (Docker 28)
and e20 (Docker 20.10) over their unix sockets, e3 (Docker 28) over ssh:// or TLS, each
with its greenroom proxy, and a real HAProxy (Debian's, in the load balancer's namespace)
in front of them. greenroom drains each host at HAProxy's runtime API around its work.

Steady keep-alive and closing load through HAProxy the whole time; every rollout must
fail no request."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

import greenroom
from tests.bed import BedEngine, bed_engine, load_description, ssh_alias, uid
from tests.deployment import app_images
from tests.lb import OwnHaproxy, Traffic, haproxy

DESC = load_description()
REMOTE: dict[str, Any] | None = DESC.get("remote")
LB: dict[str, Any] | None = DESC.get("lb")
SOURCES = str(Path(greenroom.__file__).resolve().parents[1])
PROXY = "gr-fleet-proxy"
PORT = int(os.environ.get("GREENROOM_TEST_FLEET_PORT", "18310"))
TLS_PORT = PORT + 1

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        REMOTE is None or LB is None, reason="needs e3 and the load balancer: scripts/testbed up"
    ),
]


@dataclass
class FleetBed:
    folder: Path
    app: str
    beds: dict[str, BedEngine]
    lb: OwnHaproxy
    env: dict[str, str]
    e3: dict[str, Any]  # e3's entry in hosts:
    more_ports: tuple[str, ...] = ()  # the proxy's, beside PORT:80

    def write(self, rollout: dict[str, Any], image: str = "v1", **app: Any) -> None:
        bed = self.beds["e28"]
        ports = [f"{PORT}:80", *self.more_ports]
        doc = {
            "engine": {"helper_image": bed.busybox_image},
            "proxy": {"name": PROXY, "image": bed.base_image, "network": PROXY, "ports": ports},
            "hosts": [
                {"name": "e28", "engine": self.beds["e28"].host},
                {"name": "e20", "engine": self.beds["e20"].host},
                self.e3,
            ],
            "rollout": rollout,
            "load_balancer": {
                "haproxy": {"socket": self.lb.socket, "backend": self.lb.backend, "drain_timeout": "15s"}
            },
            "apps": {
                self.app: {
                    "image": app_images(bed)[image],
                    "port": 8000,
                    "hosts": [f"{self.app}.test"],
                    "healthcheck": {
                        "type": "http",
                        "path": "/health",
                        "interval": "100ms",
                        "passes": 2,
                        "deadline": "30s",
                    },
                    "drain_timeout": "10s",
                    **app,
                }
            },
        }
        (self.folder / "greenroom.yml").write_text(yaml.safe_dump(doc))

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [sys.executable, "-m", "greenroom", *args, "--file", str(self.folder / "greenroom.yml")],
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env,
        )
        assert "Traceback" not in res.stdout + res.stderr, res.stderr
        if ok:
            assert res.returncode == 0, (
                f"greenroom {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            )
        return res

    def deploy(self, version: str, *extra: str, ok: bool = True) -> dict[str, Any]:
        image = app_images(self.beds["e28"])[version]
        res = self.run("deploy", "--json", "--image", image, *extra, ok=ok)
        doc: dict[str, Any] = json.loads(res.stdout)["rollouts"][0]
        return doc

    def versions(self) -> dict[str, str]:
        st = json.loads(self.run("status", "--json").stdout)
        found = {
            h["host"]: next((a["version"] or "" for a in h["apps"] if a["app"] == self.app), "")
            for h in st["hosts"]
            if not h["error"]
        }  # status lists every app on a host: other tests' apps may sort first
        return {host: m[1] if (m := re.search(r":(v\d)-", v)) else v for host, v in found.items()}

    def traffic(self) -> Traffic:
        return Traffic(self.lb.address, self.lb.port, host=f"{self.app}.test", by="X-App-Version").start()


def _cleanup(bed: BedEngine, app: str) -> None:
    client = bed.docker()
    try:
        for c in client.containers.list(all=True, filters={"label": "greenroom.app"}):
            if c.labels.get("greenroom.app") == app:
                with contextlib.suppress(docker.errors.NotFound):
                    c.remove(force=True)
        doomed = client.containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY}"})
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


@pytest.fixture
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FleetBed]:
    """Three hosts behind HAProxy; e3 reached over ssh or TLS, as the test asks (indirect
    parametrization; ssh by default). Each transport carries some of the scenarios: both run
    every step of a rollout, and the test command's time is not spent running each twice."""
    assert REMOTE is not None and LB is not None
    transport = getattr(request, "param", "ssh")
    beds = {e["name"]: bed_engine(e, DESC) for e in DESC["engines"]}
    beds["e3"] = bed_engine(REMOTE, DESC)
    ssh, tls = REMOTE["ssh"], REMOTE["tls"]
    cfg = ssh_alias(tmp_path, "gr-e3-fleet", ssh)
    e3: dict[str, Any]
    if transport == "ssh":
        e3 = {"name": "e3", "engine": "ssh://gr-e3-fleet"}
    else:
        e3 = {
            "name": "e3",
            "engine": REMOTE["tcp"],
            "tls": {"ca": tls["ca"], "cert": tls["cert"], "key": tls["key"]},
        }
    env = {
        "COLUMNS": "200",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(tmp_path),
        "GREENROOM_SSH_CONFIG": str(cfg),
        "PYTHONPATH": SOURCES,
    }
    app = f"fl{uid()}"
    servers = {name: f"{b.address}:{PORT}" for name, b in beds.items()}
    try:
        with haproxy(tmp_path / "lb", f"be{app}", servers) as lb:
            yield FleetBed(tmp_path, app, beds, lb, env, e3)
    finally:
        for b in beds.values():
            _cleanup(b, app)


@pytest.mark.parametrize("fleet", ["ssh"], indirect=True)
def test_rolling_then_together_under_load_fail_nothing(fleet: FleetBed) -> None:
    fleet.write({"strategy": "rolling", "max_parallel": 1})
    first = fleet.deploy("v1")
    assert first["ok"], first["reason"]
    assert fleet.versions() == {"e28": "v1", "e20": "v1", "e3": "v1"}
    load = fleet.traffic()
    try:
        load.wait_for("v1", 20)
        one = fleet.deploy("v2")
        assert one["ok"] and one["batches"] == [["e28"], ["e20"], ["e3"]], one
        assert any("drained" in line for line in one["handoff"]), one["handoff"]
        fleet.write({"strategy": "rolling", "max_parallel": 2})
        two = fleet.deploy("v1")
        assert two["ok"] and two["batches"] == [["e28", "e20"], ["e3"]], two
        fleet.write({"strategy": "together"})
        together = fleet.deploy("v2")
        assert together["ok"], together["reason"]
        answered = load.answered().get("v2", 0)
        load.wait_for("v2", answered + 20)
    finally:
        load.stop()
    assert not load.failures, load.summary()
    assert fleet.versions() == {"e28": "v2", "e20": "v2", "e3": "v2"}
    overlap = together["overlap_seconds"]
    assert overlap is not None
    print(
        f"\nrollouts over 3 hosts under load through HAProxy: rolling x1 {one['wall_seconds']:.1f}s, "
        f"x2 {two['wall_seconds']:.1f}s, together {together['wall_seconds']:.1f}s "
        f"(old/new overlap {overlap * 1000:.0f} ms); {load.summary()}"
    )


@pytest.mark.parametrize("fleet", ["tls"], indirect=True)
def test_a_gate_failing_on_one_host(fleet: FleetBed) -> None:
    """e20's copy of the new image never becomes healthy: rolling stops there (e3 untouched),
    together switches no host; nothing fails through HAProxy."""
    fleet.write({"strategy": "rolling", "max_parallel": 1})
    assert fleet.deploy("v1")["ok"]
    bad = f"greenroom-test/app:gatefail-{uid()}"
    for name, b in fleet.beds.items():
        client = b.docker()
        try:  # the same name everywhere; on e20 a busybox that exits at once
            src = b.busybox_image if name == "e20" else app_images(b)["v2"]
            client.images.get(src).tag(*bad.rsplit(":", 1))
        finally:
            client.close()
    load = fleet.traffic()
    try:
        load.wait_for("v1", 20)
        res = fleet.run("deploy", "--json", "--image", bad, ok=False)
        rolling = json.loads(res.stdout)["rollouts"][0]
        assert res.returncode != 0 and "host e20 at HealthGate" in res.stderr + rolling["reason"]
        statuses = {h["host"]: h["status"] for h in rolling["hosts"]}
        assert statuses == {"e28": "deployed", "e20": "failed", "e3": "untouched"}
        now = fleet.versions()
        assert "gatefail" in now["e28"] and (now["e20"], now["e3"]) == ("v1", "v1"), now

        fleet.write({"strategy": "together"})
        assert fleet.deploy("v1")["ok"]
        res = fleet.run("deploy", "--json", "--image", bad, ok=False)
        together = json.loads(res.stdout)["rollouts"][0]
        statuses = {h["host"]: h["status"] for h in together["hosts"]}
        assert statuses["e20"] == "failed" and {statuses["e28"], statuses["e3"]} == {"withdrawn"}
        assert fleet.versions() == {"e28": "v1", "e20": "v1", "e3": "v1"}
    finally:
        load.stop()
        for b in fleet.beds.values():
            client = b.docker()
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(bad)
            client.close()
    assert not load.failures, load.summary()


@pytest.mark.parametrize("fleet", ["tls"], indirect=True)
def test_proxy_reboot_on_every_host_through_the_drain(fleet: FleetBed) -> None:
    fleet.write({"strategy": "together"})
    assert fleet.deploy("v1")["ok"]
    # proxy.ports gains HTTPS: the reboot recreates each host's proxy publishing it, each
    # host out of the load balancer meanwhile, so port 80 loses nothing
    fleet.more_ports = (f"{TLS_PORT}:443",)
    fleet.write({"strategy": "together"})
    load = fleet.traffic()
    try:
        load.wait_for("v1", 20)
        res = fleet.run("proxy", "reboot", "--json")
        report = json.loads(res.stdout)["rollouts"][0]
        assert report["ok"] and report["batches"] == [["e28"], ["e20"], ["e3"]]
        assert sum("drained" in line for line in report["handoff"]) == 3
        answered = load.answered().get("v1", 0)
        load.wait_for("v1", answered + 20)
    finally:
        load.stop()
    assert not load.failures, load.summary()
    print(f"proxies recreated publishing 443 through the drain: {load.summary()}")
    for bed in fleet.beds.values():
        client = bed.docker()
        try:
            published = client.api.inspect_container(PROXY)["NetworkSettings"]["Ports"]
        finally:
            client.close()
        assert published.get("443/tcp"), (bed.name, published)


@pytest.mark.parametrize("fleet", ["ssh"], indirect=True)
def test_status_names_an_unreachable_host_within_its_timeout(fleet: FleetBed, tmp_path: Path) -> None:
    fleet.write({"strategy": "rolling"})
    assert fleet.deploy("v1")["ok"]
    # the other fleet views, every host at once
    history = json.loads(fleet.run("history", fleet.app, "--json").stdout)
    assert set(history) == {"e28", "e20", "e3"} and all(h[0]["ok"] for h in history.values())
    doctor = json.loads(fleet.run("routes", "--json").stdout)
    assert {h["host"] for h in doctor["hosts"]} == {"e28", "e20", "e3"}
    seen = {h["host"]: (h["error"], [c["container"] for c in h["containers"]]) for h in doctor["hosts"]}
    assert all(not error and any(fleet.app in c for c in names) for error, names in seen.values()), seen
    doc = yaml.safe_load((fleet.folder / "greenroom.yml").read_text())
    # an address on the bed's bridge where nothing answers: the SYN goes unanswered
    doc["hosts"].append({"name": "gone", "engine": "ssh://root@10.77.0.99:2222", "connect_timeout": "2s"})
    (fleet.folder / "greenroom.yml").write_text(yaml.safe_dump(doc))
    t = time.monotonic()
    res = fleet.run("status", "--json", ok=False)
    took = time.monotonic() - t
    assert res.returncode != 0 and "gone" in res.stderr
    st = json.loads(res.stdout)
    hosts = {h["host"]: h for h in st["hosts"]}
    assert hosts["gone"]["error"] and not hosts["e28"]["error"]
    assert took < 30, took


def _served_by(address: str, host: str) -> str:
    conn = http.client.HTTPConnection(address, PORT, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": host, "Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("X-App-Version") or ""
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        conn.close()


@pytest.mark.parametrize("fleet", ["tls"], indirect=True)
def test_an_engine_lost_mid_rollout_is_named_and_the_others_keep_serving(fleet: FleetBed) -> None:
    """e3's engine stops answering (its port rejects every packet, as a killed dockerd's
    would; its containers, like a killed dockerd's, keep running) while e20 deploys."""
    assert REMOTE is not None
    fleet.write({"strategy": "rolling", "max_parallel": 1})
    assert fleet.deploy("v1")["ok"]
    port = REMOTE["ssh"]["port"] if fleet.e3["engine"].startswith("ssh://") else 2376
    rule = ["-p", "tcp", "--dport", str(port), "-j", "REJECT", "--reject-with", "tcp-reset"]
    netns = ["ip", "netns", "exec", Path(REMOTE["netns"]).name, "iptables"]
    load = fleet.traffic()
    blocked = False
    try:
        load.wait_for("v1", 20)
        image = app_images(fleet.beds["e28"])["v2"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "greenroom", "deploy", "--json", "--image", image, "--file",
             str(fleet.folder / "greenroom.yml")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=fleet.env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while _served_by(fleet.beds["e28"].address, f"{fleet.app}.test") != "v2":  # e28 is done
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        subprocess.run([*netns, "-I", "INPUT", *rule], check=True)
        blocked = True
        out, err = proc.communicate(timeout=300)
        assert out, err
        report = json.loads(out)["rollouts"][0]
        assert proc.returncode != 0 and report["failed"] == "e3", report
        assert "e3" in err and report["reason"].startswith("host e3"), err
        statuses = {h["host"]: h["status"] for h in report["hosts"]}
        assert statuses["e28"] == "deployed" and statuses["e20"] == "deployed", statuses
        # e3 still serves the old version through its proxy, as do the others the new one
        assert _served_by(fleet.beds["e3"].address, f"{fleet.app}.test") == "v1"
        answered = load.answered().get("v2", 0)
        load.wait_for("v2", answered + 20)
    finally:
        load.stop()
        if blocked:
            subprocess.run([*netns, "-D", "INPUT", *rule], check=True)
    assert not load.failures, load.summary()
