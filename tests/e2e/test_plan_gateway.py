"""`greenroom plan` shows the gateway decision of every attach step, and the deploy sends
exactly that: the GwPriority read back from the engine is the one the plan showed (none
on Docker 20.10), and an attach that would move the gateway is refused by the plan,
before anything is created."""

from __future__ import annotations

import json
from typing import Any

from tests.bed import BedEngine, Scratch, uid
from tests.deployment import PROXY_NAME, Project, get, outcome_of


def planned(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Each attach step's decisions, by step kind, from `plan --json`."""
    (plan,) = json.loads(project.run("plan", project.name, "--json").stdout)["plans"]
    out: dict[str, list[dict[str, Any]]] = {}
    for step in plan["steps"]:
        out.setdefault(step["step"], []).extend(step.get("gateway", []))
    return out


def sent(bed: BedEngine, container: str, network: str) -> int | None:
    """The GwPriority the engine keeps for that endpoint (None when it has none)."""
    client = bed.docker()
    try:
        networks = client.api.inspect_container(container)["NetworkSettings"]["Networks"]
    finally:
        client.close()
    return networks[network].get("GwPriority") or None


def test_the_plan_shows_the_priority_the_deploy_sends(bed: BedEngine, box: Scratch, project: Project) -> None:
    extra = box.network(f"zz{uid()}")  # sorts after the app's back network: safe by name on 20.10
    project.set(networks=[extra])
    decisions = planned(project)
    expected = -1 if bed.gw_priority else None
    for kind in ("AttachNetworks", "AttachFront"):
        assert [d["priority"] for d in decisions[kind]] == [expected], decisions[kind]
        assert decisions[kind][0]["before"]["v4"] == f"gr-{project.name}-back"
    for join in decisions.get("ProxyJoin", []):  # none when the proxy is already on the network
        assert join["priority"] == expected and join["container"] == PROXY_NAME

    outcome = outcome_of(project.run("deploy", "--json").stdout)
    client = bed.docker()
    try:  # the plan names its deploy's containers; the deploy's own id names them now
        (app,) = [
            str(c.name)
            for c in client.containers.list(filters={"label": f"greenroom.deploy={outcome['deploy']}"})
        ]
    finally:
        client.close()
    front = decisions["AttachFront"][0]["network"]
    assert sent(bed, app, front) == expected
    assert sent(bed, app, extra) == expected
    if decisions.get("ProxyJoin"):
        assert sent(bed, PROXY_NAME, front) == expected
    said = "no GwPriority" if expected is None else f"GwPriority {expected}"
    attach = next(r for r in outcome["steps"] if r["step"] == "AttachFront")
    assert attach["status"] == "ok" and attach["detail"] == f"sent {said}; gateways verified"
    assert get(bed, f"{project.name}.test")[0] == 200


def test_an_attach_that_would_move_the_gateway_is_refused_by_the_plan(
    bed: BedEngine, box: Scratch, project: Project
) -> None:
    extra = box.network(f"aa{uid()}")  # sorts before the app's back network
    project.set(networks=[extra])
    if bed.gw_priority:
        assert [d["priority"] for d in planned(project)["AttachNetworks"]] == [-1]
        return
    plan = project.run("plan", project.name, check=False)
    deploy = project.run("deploy", project.name, check=False)
    for res in (plan, deploy):
        assert res.returncode == 3, res.stderr
        assert f"would move its default route from gr-{project.name}-back to {extra}" in res.stderr
    client = bed.docker()
    try:
        assert client.containers.list(all=True, filters={"label": f"greenroom.app={project.name}"}) == []
    finally:
        client.close()
