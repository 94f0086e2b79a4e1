"""`greenroom routes` and `greenroom connect` as a user runs them, on both engines."""

from __future__ import annotations

import json
import re

from tests.bed import BedEngine, Scratch, greenroom, uid


def helper_env(bed: BedEngine) -> dict[str, str]:
    return {"GREENROOM_HELPER_IMAGE": bed.busybox_image}


def seed(bed: BedEngine, box: Scratch, *, cap_admin: bool = False) -> tuple[str, str, str, str]:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    name = f"seed{t}"
    box.run(name, back, cap_add=["NET_ADMIN"] if cap_admin else None, ports={8080: 0})
    return t, name, back, front


def test_routes_json_for_the_seeds_scenario(bed: BedEngine, box: Scratch) -> None:
    _, name, back, front = seed(bed, box)
    box.connect(name, front)
    for via in ("proc", "engine"):
        res = greenroom("routes", name, "--json", "--routes-via", via, host=bed.host, env=helper_env(bed))
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["engine"]["version"] == bed.version
        [rep] = doc["containers"]
        assert rep["container"] == name
        assert rep["actual"]["v4"] == front
        assert rep["predicted"]["v4"] == front
        assert rep["agrees"] is True
        assert {n["name"] for n in rep["networks"]} == {back, front}
        assert [n["name"] for n in rep["networks"] if n["default4"]] == [front]


def test_routes_lists_only_multi_network_containers_by_default(bed: BedEngine, box: Scratch) -> None:
    _, name, _, front = seed(bed, box)
    t = uid()
    single = f"single{t}"
    box.run(single, box.network(f"{t}x"))
    res = greenroom("routes", "--json", host=bed.host)
    names = {r["container"] for r in json.loads(res.stdout)["containers"]}
    assert single not in names and name not in names
    box.connect(name, front)
    res = greenroom("routes", "--json", host=bed.host)
    assert name in {r["container"] for r in json.loads(res.stdout)["containers"]}


def test_routes_if_connect_and_table(bed: BedEngine, box: Scratch) -> None:
    _, name, back, front = seed(bed, box)
    res = greenroom("routes", name, "--if-connect", front, host=bed.host)
    assert res.returncode == 0, res.stderr
    assert f"if connected to {front}: the default route MOVES" in res.stdout
    assert "published ports" in res.stdout
    assert back in res.stdout and "agrees with Docker's rules" in res.stdout


def test_routes_flags_hand_made_routes_and_strict_exits_3(bed: BedEngine, box: Scratch) -> None:
    _, name, back, front = seed(bed, box, cap_admin=True)
    box.connect(name, front)
    gw = box.client.api.inspect_container(name)["NetworkSettings"]["Networks"][back]["Gateway"]
    box.exec(name, "ip", "route", "add", "0.0.0.0/1", "via", gw)
    box.exec(name, "ip", "route", "add", "128.0.0.0/1", "via", gw)
    res = greenroom("routes", name, "--strict", host=bed.host)
    assert res.returncode == 3
    assert "routes-changed" in res.stdout and "lost on the next restart" in res.stdout
    assert "ports-split" in res.stdout
    assert "DIFFERS from Docker's rules" in res.stdout


def test_connect_keeps_the_gateway_or_refuses(bed: BedEngine, box: Scratch) -> None:
    _, name, back, front = seed(bed, box)
    res = greenroom("connect", name, front, "--alias", "web", host=bed.host)
    nets = box.client.api.inspect_container(name)["NetworkSettings"]["Networks"]
    if bed.gw_priority:
        assert res.returncode == 0, res.stderr
        assert "GwPriority -1" in res.stdout and "verified" in res.stdout
        assert nets[front]["GwPriority"] == -1
        assert "web" in nets[front]["Aliases"]
    else:
        assert res.returncode == 3, res.stdout + res.stderr
        assert "would move its default route" in res.stderr
        assert "--internal" in res.stderr and "hint" in res.stderr
        assert front not in nets  # nothing half-done
    res = greenroom("routes", name, "--json", host=bed.host)
    assert json.loads(res.stdout)["containers"][0]["actual"]["v4"] == back


def test_connect_internal_network_on_every_engine(bed: BedEngine, box: Scratch) -> None:
    t, name, back, _ = seed(bed, box)
    internal = box.network(f"{t}_aaa_front", internal=True)
    res = greenroom("connect", name, internal, "--json", host=bed.host)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["verified"] is True
    assert doc["gateway"]["v4"] == back


def default_gateway_network(box: Scratch, name: str) -> str:
    """The network whose gateway the container's kernel sends its default route through
    (`ip route` inside it, matched to the engine's inspect): greenroom's view not involved."""
    m = re.search(r"^default via (\S+) ", box.exec(name, "ip", "route"), re.M)
    assert m is not None
    nets = box.client.api.inspect_container(name)["NetworkSettings"]["Networks"]
    [holder] = [net for net, ep in nets.items() if ep["Gateway"] == m.group(1)]
    return str(holder)


def test_connect_allow_gateway_move(bed: BedEngine, box: Scratch) -> None:
    _, name, back, front = seed(bed, box)
    assert default_gateway_network(box, name) == back
    res = greenroom("connect", name, front, "--allow-gateway-move", "--json", host=bed.host)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    holder = default_gateway_network(box, name)
    # engine >= 28: GwPriority -1 still keeps it; before: the front's name sorts first and
    # takes it, which is what --allow-gateway-move lets happen instead of refusing
    assert holder == (back if bed.gw_priority else front)
    assert doc["verified"] is True and doc["gateway"]["v4"] == holder
    assert doc["plan"]["before"]["v4"] == back


def test_errors_name_the_thing_and_the_fix(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    res = greenroom("connect", f"nosuch{t}", "bridge", host=bed.host)
    assert res.returncode == 1
    assert f"nosuch{t}" in res.stderr and "hint" in res.stderr
    _, name, _, _ = seed(bed, box)
    res = greenroom("connect", name, f"nonet{t}", host=bed.host)
    assert res.returncode == 1
    assert f"nonet{t}" in res.stderr
    res = greenroom("routes", host="unix:///run/greenroom-no-such.sock")
    assert res.returncode == 1
    assert "cannot reach the Docker engine" in res.stderr and "DOCKER_HOST" in res.stderr
    res = greenroom("connect", name, host=bed.host)
    assert res.returncode == 2
