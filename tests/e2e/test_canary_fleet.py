"""A canary over the three hosts behind the bed's HAProxy: every host stages and steps
alike, the verdict is on every host's counters summed, and one breach rolls back every
host; a good version is promoted on every host. Then a version staged by hand: `status`
names it on every host, `abort` removes it from every host at once, and `promote` follows
the rolling rollout, each host drained at HAProxy first. Load through HAProxy, many
distinct clients (each request its own canary cookie), nothing failed outside the bad
canary."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.deployment import Load
from tests.e2e.test_fleet import FleetBed, fleet
from tests.waiting import wait_for

__all__ = ["fleet"]

CANARY = {"steps": ["10%", "100%"], "interval": "1s", "min_requests": 60, "p99_margin": "150ms"}


@pytest.mark.parametrize("fleet", ["tls"], indirect=True)
def test_a_canary_over_three_hosts_rolls_back_everywhere_or_promotes_everywhere(fleet: FleetBed) -> None:
    fleet.write({"strategy": "rolling", "max_parallel": 1}, canary=CANARY)
    first = fleet.deploy("v1")  # nothing live yet: the rollout's plain deploy
    assert first["ok"], first
    load = Load(fleet.lb.address, f"{fleet.app}.test", port=fleet.lb.port, canary_clients=True).start()
    try:
        wait_for(lambda: load.count() > 50, what="load through HAProxy")
        fleet.write(
            {"strategy": "rolling", "max_parallel": 1}, canary=CANARY, environment={"ERROR_RATE": "0.05"}
        )
        t0 = time.time()
        bad = fleet.run("deploy", "--image", fleet_image(fleet, "v2"), ok=False)
        t1 = time.time()
        assert bad.returncode == 1 and "rolled back at 10%" in bad.stderr, bad.stdout + bad.stderr
        assert bad.stderr.count("stop routing to staged") == 3, bad.stderr  # every host
        assert fleet.versions() == {"e28": "v1", "e20": "v1", "e3": "v1"}
        fleet.write({"strategy": "rolling", "max_parallel": 1}, canary=CANARY)
        good = fleet.run("deploy", "--image", fleet_image(fleet, "v2"), "--json")
        assert json.loads(good.stdout)["promoted"], good.stdout
        assert fleet.versions() == {"e28": "v2", "e20": "v2", "e3": "v2"}

        # staged by hand: status names it on every host; abort at once; promote host by host
        t2 = time.time()
        fleet.run("deploy", "--image", fleet_image(fleet, "v3"), "--canary", "50%")
        st = json.loads(fleet.run("status", "--json").stdout)
        seen = st["staged"][fleet.app]
        assert sorted(seen) == ["e20", "e28", "e3"], st
        assert all(re.search(r":v3-\w+\) at 50%$", v) for v in seen.values()), st
        assert "staged" in fleet.run("status").stdout
        aborted = json.loads(fleet.run("abort", fleet.app, "--json").stdout)["rollouts"][0]
        assert aborted["action"] == "abort" and [h["status"] for h in aborted["hosts"]] == ["done"] * 3, (
            aborted
        )
        assert aborted["handoff"] == [], aborted  # the live color served throughout: nobody left HAProxy
        assert fleet.versions() == {"e28": "v2", "e20": "v2", "e3": "v2"}
        assert json.loads(fleet.run("status", "--json").stdout)["staged"] == {}
        fleet.run("deploy", "--image", fleet_image(fleet, "v3"), "--no-switch")
        promoted = json.loads(fleet.run("promote", fleet.app, "--json").stdout)["rollouts"][0]
        assert promoted["action"] == "promote" and promoted["batches"] == [["e28"], ["e20"], ["e3"]], promoted
        assert [h["status"] for h in promoted["hosts"]] == ["deployed"] * 3, promoted
        assert sum("drained" in line for line in promoted["handoff"]) == 3, promoted  # each out of HAProxy
        assert fleet.versions() == {"e28": "v3", "e20": "v3", "e3": "v3"}
        t3 = time.time()
    finally:
        load.stop()
    outside = [f for f in load.failures() if not t0 <= f.at <= t1]
    assert outside == [], outside[:5]
    print(
        f"\nfleet canary: 5% 500s rolled back on 3 hosts ({load.failures_between(t0, t1)} client errors of "
        f"{load.count_between(t0, t1)} requests in that deploy); good one promoted on 3 hosts, then one "
        f"staged by hand, aborted, staged again and promoted host by host ({t3 - t2:.1f}s): no other "
        f"failure of {load.count()} requests in all"
    )
    history = fleet.run("history", fleet.app).stdout
    assert history.count("canary rollback") == 3 and history.count("canary 100%") == 3, history


def fleet_image(fleet: FleetBed, version: str) -> str:
    from tests.deployment import app_images

    return app_images(fleet.beds["e28"])[version]
