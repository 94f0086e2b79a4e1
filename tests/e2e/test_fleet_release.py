"""A fleet's release command: once for three hosts (e28, e20, and e3 over ssh:// or TLS)
before any host switches, rolling and together, under load through HAProxy; the database
is one SQLite file every host's containers share (the hosts are on one machine), as a
fleet's database server would be. Then `run` and `exec` on the remote host."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.e2e.test_fleet as fleet_bed
from tests.bed import bed_engine, ssh_alias, uid
from tests.e2e.test_fleet import DESC, LB, REMOTE, SOURCES, FleetBed, _cleanup, pytestmark
from tests.e2e.test_whole_app import DEMO, demo_images
from tests.lb import haproxy

__all__ = ["pytestmark"]
PROXY = "gr-fleet-release-proxy"  # its own proxy and port: test_fleet.py may run beside it
PORT = 18377


@pytest.fixture(params=["tls"])  # the release runs on the first host (local); ssh: test_fleet.py
def fleet(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FleetBed]:
    """test_fleet.py's three hosts behind HAProxy, with a proxy name and port of their own."""
    assert REMOTE is not None and LB is not None
    monkeypatch.setattr(fleet_bed, "PROXY", PROXY)
    monkeypatch.setattr(fleet_bed, "PORT", PORT)
    beds = {e["name"]: bed_engine(e, DESC) for e in DESC["engines"]}
    beds["e3"] = bed_engine(REMOTE, DESC)
    ssh, tls = REMOTE["ssh"], REMOTE["tls"]
    e3: dict[str, Any] = (
        {"name": "e3", "engine": "ssh://gr-e3-release"}
        if request.param == "ssh"
        else {"name": "e3", "engine": REMOTE["tcp"], "tls": {k: tls[k] for k in ("ca", "cert", "key")}}
    )
    env = {
        "COLUMNS": "200",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(tmp_path),
        "GREENROOM_SSH_CONFIG": str(ssh_alias(tmp_path, "gr-e3-release", ssh)),
        "PYTHONPATH": SOURCES,
    }
    app = f"fr{uid()}"
    try:
        with haproxy(tmp_path / "lb", f"be{app}", {n: f"{b.address}:{PORT}" for n, b in beds.items()}) as lb:
            yield FleetBed(tmp_path, app, beds, lb, env, e3)
    finally:
        for b in beds.values():
            _cleanup(b, app)


def one_off(fb: FleetBed, *args: str) -> subprocess.CompletedProcess[str]:
    at = args.index("--")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "greenroom",
            *args[:at],
            "--file",
            str(fb.folder / "greenroom.yml"),
            *args[at:],
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=fb.env,
    )


def write(fb: FleetBed, rollout: dict[str, Any], image: str, app: dict[str, Any]) -> None:
    """The fleet's config with this checkout's demo image (it can migrate)."""
    fb.write(rollout, **app)
    path = fb.folder / "greenroom.yml"
    doc = yaml.safe_load(path.read_text())
    doc["apps"][fb.app]["image"] = image
    path.write_text(yaml.safe_dump(doc))


def released(db: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(db) as conn:
        return [(str(v), float(at)) for v, at in conn.execute("SELECT version, at FROM releases")]


def first_switch(report: dict[str, Any]) -> float:
    return float(min(h["switch"][0] for h in report["hosts"] if h["switch"]))


def test_release_runs_once_for_every_host_before_any_switch(fleet: FleetBed) -> None:
    images = demo_images(fleet.beds["e28"])
    data = fleet.folder / "db"
    data.mkdir()
    app: dict[str, Any] = {
        "volumes": [f"{data}:/data"],
        "environment": {"DB_PATH": "/data/app.db"},
        "release": f"python3 {DEMO} migrate",
    }
    write(fleet, {"strategy": "rolling", "max_parallel": 1}, images["v1"], app)
    first = json.loads(fleet.run("deploy", "--json").stdout)["rollouts"][0]
    assert first["ok"], first["reason"]
    assert [v for v, _ in released(data / "app.db")] == ["v1"]
    assert released(data / "app.db")[0][1] < first_switch(first)
    assert any("release command, once for every host" in n for n in first["hosts"][0]["notes"])
    load = fleet.traffic()
    try:
        load.wait_for("v1", 20)
        write(fleet, {"strategy": "together"}, images["v2"], app)
        together = json.loads(fleet.run("deploy", "--json").stdout)["rollouts"][0]
        assert together["ok"], together["reason"]
        answered = load.answered().get("v2", 0)
        load.wait_for("v2", answered + 20)
    finally:
        load.stop()
    assert not load.failures, load.summary()
    rows = released(data / "app.db")
    assert [v for v, _ in rows] == ["v1", "v2"]  # once per rollout, not once per host
    assert rows[1][1] < first_switch(together)
    # one-off commands on the remote host, over its ssh:// or TLS engine
    ran = one_off(fleet, "run", fleet.app, "--host", "e3", "--", "sh", "-c", "echo $DB_PATH; exit 4")
    assert ran.returncode == 4 and "/data/app.db" in ran.stdout, ran.stderr
    done = one_off(fleet, "exec", fleet.app, "--host", "e3", "--", "sh", "-c", "exit 6")
    assert done.returncode == 6, done.stderr
