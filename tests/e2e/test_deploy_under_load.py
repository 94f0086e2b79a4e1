"""Blue-green deploys on both real engines, under steady keep-alive load through the proxy."""

from __future__ import annotations

import http.client
import re
import signal
import threading
import time

import pytest

from tests.bed import BedEngine
from tests.deployment import (
    PROXY_PORT,
    Load,
    Project,
    app_containers,
    app_images,
    get,
    lock_held,
    outcome_of,
    remove_proxy,
    use_official_proxy,
)
from tests.e2e.peers import echo_server
from tests.waiting import wait_for

DEPLOYS = 10


def live_version(bed: BedEngine, project: Project) -> str:
    status, body = get(bed, f"{project.name}.test")
    assert status == 200, body
    return str(body["version"])


@pytest.mark.parametrize("layout", ["debian", "official"])
def test_ten_deploys_under_load_fail_no_request(bed: BedEngine, project: Project, layout: str) -> None:
    """Ten with the bed's proxy image; four through a proxy from the official nginx image's
    layout (created anew for this test, and removed after it)."""
    if layout == "debian":
        deploys_under_load(bed, project, DEPLOYS)
        return
    use_official_proxy(bed, project)
    try:
        deploys_under_load(bed, project, 4)
    finally:
        remove_proxy(bed)


def deploys_under_load(bed: BedEngine, project: Project, deploys: int) -> None:
    images = app_images(bed)
    project.run("deploy")
    assert live_version(bed, project) == "v1"
    load = Load(bed.address, f"{project.name}.test").start()
    try:
        wait_for(lambda: load.count() > 50, what="load through the proxy")
        for i in range(deploys):
            version = "v2" if i % 2 == 0 else "v1"
            out = outcome_of(project.run("deploy", "--json", "--image", images[version]).stdout)
            gate = next(s for s in out["steps"] if s["step"] == "HealthGate")
            assert "probes (direct)" in gate["detail"], gate  # root on the engine's host: no helper
            done = time.time()
            wait_for(lambda t=done: load.count_after(t) >= 2 * load.clients, what="requests after the deploy")
            assert load.versions_after(done) == {version}, f"deploy {i + 1}: mixed versions after the switch"
    finally:
        load.stop()
    failures = load.failures()
    assert not failures, f"{len(failures)} failed of {load.count()}: {failures[:5]}"
    assert load.count() > 50 * deploys
    assert load.reconnects == 0, "keep-alive client connections were closed by the proxy"
    # retain: 2 stopped releases kept, older ones removed; one running
    statuses = [status for _, status in app_containers(bed, project.name)]
    assert statuses.count("running") == 1
    assert len(statuses) - statuses.count("running") == 2


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "engine"])
def test_failed_health_gate_leaves_old_version_serving(
    bed: BedEngine, project: Project, direct: bool
) -> None:
    project.set_engine(direct=direct)
    project.run("deploy")
    load = Load(bed.address, f"{project.name}.test").start()
    try:
        project.set(
            environment={"HEALTH_FAIL": "1"},
            healthcheck={
                "type": "http",
                "path": "/health",
                "interval": "100ms",
                "passes": 2,
                "timeout": "1s",
                "deadline": "3s",
            },
        )
        res = project.run("deploy", "--image", app_images(bed)["v2"], check=False)
    finally:
        load.stop()
    assert res.returncode != 0
    output = res.stdout + res.stderr
    assert "not healthy within 3s" in output
    assert "last logs of" in output and "demo app v2 listening" in output
    assert "old version is still serving" in output
    assert not load.failures()
    assert live_version(bed, project) == "v1"
    names = [name for name, _ in app_containers(bed, project.name)]
    assert len(names) == 1 and "-blue-" in names[0], names  # nothing left behind
    assert not list(bed.docker().containers.list(all=True, filters={"label": "greenroom.role=probe"}))


def test_two_deploys_at_once_one_waits_its_turn(bed: BedEngine, project: Project) -> None:
    project.set_engine(direct=False)  # through the engine: helper probes passing after a slow start
    project.run("deploy")
    project.set(
        healthcheck={
            "type": "http",
            "path": "/health",
            "interval": "100ms",
            "passes": 2,
            "timeout": "1s",
            "deadline": "30s",
        },
        environment={"START_DELAY": "2"},
    )
    images = app_images(bed)
    first = project.spawn("deploy", "--image", images["v2"])
    wait_for(lambda: lock_held(bed, project.name), what="the first deploy to take the lock")
    first.send_signal(signal.SIGSTOP)  # it holds the lock until we let it go on
    try:
        assert lock_held(bed, project.name) and first.poll() is None
        second = project.run("deploy", "--image", images["v3"], check=False)
    finally:
        first.send_signal(signal.SIGCONT)
    out_first, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out_first
    assert re.search(r"probes \(helper\)", out_first), out_first
    assert second.returncode == 5, second.stdout + second.stderr
    assert re.search(r"is locked by \S+ \(pid \d+ on \S+\) since", second.stderr)
    assert live_version(bed, project) == "v2"


def test_streams_on_the_old_color_finish_before_it_stops(bed: BedEngine, project: Project) -> None:
    project.run("deploy")
    conn = http.client.HTTPConnection(bed.address, PROXY_PORT, timeout=10)
    conn.request("GET", "/stream?seconds=4", headers={"Host": f"{project.name}.test"})
    resp = conn.getresponse()
    first_chunk = resp.readline().decode()
    assert resp.status == 200 and first_chunk.startswith("v1 "), first_chunk  # streaming from v1
    result: dict[str, object] = {}

    def finish_stream() -> None:
        result["body"] = first_chunk + resp.read().decode()
        result["ended"] = time.monotonic()
        conn.close()

    t = threading.Thread(target=finish_stream)
    t.start()
    out = outcome_of(project.run("deploy", "--json", "--image", app_images(bed)["v2"]).stdout)
    deployed = time.monotonic()
    t.join(timeout=30)
    lines = str(result["body"]).splitlines()
    assert len(lines) >= 35 and all(line.startswith("v1 ") for line in lines)  # all of it, from v1
    # the deploy waited for the stream (drain) before stopping v1: it returned after the end
    assert float(str(result["ended"])) <= deployed
    drain = next(s for s in out["steps"] if s["step"] == "Drain")
    assert drain["detail"].startswith("drained in"), drain
    assert live_version(bed, project) == "v2"


def test_long_lived_outbound_connection_survives_the_deploy(bed: BedEngine, project: Project) -> None:
    """Strict reverse-path filtering on the engine's host; the app holds one TCP connection
    to a server outside, opened at start, before the front network is attached."""
    port = 41000 + int(project.name[1:], 16) % 5000
    with echo_server(bed.ext_netns, bed.ext_address, port):
        project.set(environment={"UPSTREAM": f"{bed.ext_address}:{port}"})
        project.run("deploy")
        status, body = get(bed, f"{project.name}.test", "/upstream")
        upstream = body["upstream"]
        assert status == 200 and upstream["alive"], body
        first = upstream["echoed"]

        def still_echoing() -> bool:
            now = get(bed, f"{project.name}.test", "/upstream")[1]["upstream"]
            assert now["alive"] and now["opened"] == upstream["opened"], now  # the same connection
            return bool(int(now["echoed"]) >= first + 5)

        wait_for(still_echoing, what="five more echoes on the connection opened before the deploy")


def test_changing_hosts_keeps_the_kept_ones_routed(bed: BedEngine, project: Project) -> None:
    name = project.name
    project.set(hosts=[f"{name}.test", f"old-{name}.test"])
    project.run("deploy")
    load = Load(bed.address, f"{name}.test").start()
    try:
        wait_for(lambda: load.count() > 50, what="load through the proxy")
        project.set(hosts=[f"{name}.test", f"new-{name}.test"])
        project.run("deploy", "--image", app_images(bed)["v2"])
        done = time.time()
        wait_for(lambda t=done: load.count_after(t) >= 2 * load.clients, what="requests after the deploy")
    finally:
        load.stop()
    assert not load.failures(), load.failures()[:5]  # the kept host never went unmapped
    assert get(bed, f"new-{name}.test")[0] == 200
    assert get(bed, f"old-{name}.test")[0] == 404
