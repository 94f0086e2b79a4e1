"""Many apps on one engine, each behind the proxy, and a deploy of one leaves the others'
traffic untouched. On Docker 20.10, whose default address pools run out at about 30
networks: greenroom allocates its own small subnets. The test command deploys 50 apps (100
networks, three times what the default pools hold); scripts/soak-scale deploys 100 or more."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.bed import BedEngine, bed_engines, uid
from tests.deployment import Load, Project, get

APPS = int(os.environ.get("GREENROOM_SCALE_APPS", "50"))
ENGINE = next(e for e in bed_engines() if e.name == "e20")


def light_app(bed: BedEngine, name: str, version: str) -> dict[str, object]:
    return {
        "image": bed.busybox_image,
        "port": 8000,
        "command": [
            "sh",
            "-c",
            "mkdir -p /www && echo $$APP $$V > /www/index.html && exec httpd -f -p 8000 -h /www",
        ],
        "environment": {"APP": name, "V": version},
        "hosts": [f"{name}.test"],
        "healthcheck": {"type": "tcp", "interval": "100ms", "passes": 1, "timeout": "1s", "deadline": "20s"},
        "drain_timeout": "5s",
        "stop_timeout": "1s",
        "retain": 0,
        "resources": {"memory": "32m"},
    }


def body(bed: BedEngine, host: str) -> str:
    status, doc = get(bed, host)
    assert status == 200, (host, status, doc)
    return str(doc.get("raw", "")).strip()


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("bed", [ENGINE], ids=[ENGINE.name])
def test_many_apps_on_one_engine(bed: BedEngine, tmp_path: Path) -> None:
    tag = uid()
    names = [f"s{tag}x{i:03d}" for i in range(APPS)]
    project = Project(bed, tmp_path, {n: light_app(bed, n, "1") for n in names})
    project.write()
    try:
        started = time.monotonic()
        res = project.run("deploy", "--parallel", "4", "--json", timeout=1500)
        took = time.monotonic() - started
        rollouts = json.loads(res.stdout)["rollouts"]
        assert sorted(r["app"] for r in rollouts if r["ok"]) == names, res.stderr
        for n in names:
            assert body(bed, f"{n}.test") == f"{n} 1"
        client = bed.docker()
        nets = [x for x in client.networks.list() if str(x.name).startswith(f"gr-s{tag}")]
        client.close()
        assert len(nets) == 2 * APPS
        # a deploy of one app while three others are under load
        watched = [Load(bed.address, f"{n}.test", clients=2).start() for n in names[1:4]]
        try:
            time.sleep(0.5)
            project.set(names[0], environment={"APP": names[0], "V": "2"})
            project.run("deploy", names[0])
            time.sleep(0.5)
        finally:
            for load in watched:
                load.stop()
        assert body(bed, f"{names[0]}.test") == f"{names[0]} 2"
        for load in watched:
            assert load.count() > 20 and not load.failures() and load.reconnects == 0
        print(f"\n{APPS} apps deployed in {took:.1f}s ({took / APPS:.2f}s each) on Docker {bed.version}")
    finally:
        project.cleanup()
