"""Each engine fact of ../shared/notes/gateway-rules.md that greenroom depends on, proven
on the real engines (the property test covers the ordering at random; these name the facts)."""

from __future__ import annotations

import re

import pytest

from greenroom.engine.api_client import post_json
from greenroom.engine.host_access import HostAccess
from greenroom.gateway.doctor import actual_gateway
from tests.bed import BedEngine, Scratch, uid


def gateway_of(bed: BedEngine, cid: str) -> str | None:
    engine = bed.engine()
    c = engine.container(cid)
    return actual_gateway(c, HostAccess(engine).routes(c, via="proc")).v4


def test_name_order_decides_and_connect_moves_the_gateway(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    cid = box.run(f"c{t}", back)
    assert gateway_of(bed, cid) == back
    box.connect(cid, front)
    assert gateway_of(bed, cid) == front  # the seed's failure
    box.disconnect(cid, front)
    assert gateway_of(bed, cid) == back  # disconnect: the next in order takes over


def test_internal_network_never_takes_the_gateway(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    home, internal = box.network(f"zz{t}"), box.network(f"aa{t}", internal=True)
    cid = box.run(f"c{t}", home)
    box.connect(cid, internal)
    assert gateway_of(bed, cid) == home


def test_internal_network_alone_has_a_gateway_only_before_engine_25(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    internal = box.network(f"int{t}", internal=True)
    cid = box.run(f"c{t}", internal)
    expected = internal if bed.rules.version < (25,) else None
    assert gateway_of(bed, cid) == expected


def test_gw_priority_keeps_the_gateway_on_28_and_is_ignored_before(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    back, front = box.network(f"b{t}"), box.network(f"a{t}")
    cid = box.run(f"c{t}", back)
    box.connect(cid, front, gw_priority=-1)
    inspect = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"][front]
    if bed.gw_priority:
        assert gateway_of(bed, cid) == back
        assert inspect["GwPriority"] == -1
    else:
        assert gateway_of(bed, cid) == front  # 20.10 knows no GwPriority
        assert not inspect.get("GwPriority")


def test_gw_priority_at_create_time(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    home, other = box.network(f"z{t}"), box.network(f"a{t}")
    cid = box.run(f"c{t}", home, gw_priority=10)
    box.connect(cid, other)
    assert gateway_of(bed, cid) == (home if bed.gw_priority else other)


def test_gw_priority_below_api_1_48_zeroed_at_create_kept_at_connect(bed: BedEngine, box: Scratch) -> None:
    """Measured on 28.5.2: the daemon zeroes GwPriority in a create from a client below
    API 1.48, but keeps it in a connect. greenroom always speaks the engine's own API."""
    if not bed.gw_priority:
        pytest.skip(f"engine {bed.version} has no GwPriority at all")
    t = uid()
    home, front = box.network(f"b{t}"), box.network(f"a{t}")
    api = box.client.api
    resp = api.post(
        f"{api.base_url}/v1.47/containers/create",
        params={"name": f"c{t}"},
        json={
            "Image": bed.busybox_image,
            "Cmd": ["sleep", "600"],
            "Labels": {"greenroom.test": "1"},
            "HostConfig": {"NetworkMode": home},
            "NetworkingConfig": {"EndpointsConfig": {home: {"GwPriority": 7}}},
        },
    )
    resp.raise_for_status()
    cid = resp.json()["Id"]
    box.containers.append(cid)
    api.start(cid)
    assert api.inspect_container(cid)["NetworkSettings"]["Networks"][home]["GwPriority"] == 0
    resp = api.post(
        f"{api.base_url}/v1.47/networks/{front}/connect",
        json={"Container": cid, "EndpointConfig": {"GwPriority": -1}},
    )
    resp.raise_for_status()
    assert api.inspect_container(cid)["NetworkSettings"]["Networks"][front]["GwPriority"] == -1
    assert gateway_of(bed, cid) == home


def test_dual_stack_takes_the_gateway_over_ipv4_only(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    v4, dual = box.network(f"a{t}"), box.network(f"b{t}", ipv6_subnet=f"fd77:{t[:4]}:9::/64")
    cid = box.run(f"c{t}", v4)
    box.connect(cid, dual)
    assert gateway_of(bed, cid) == dual  # although "a..." sorts first


def test_dual_stack_ignores_a_higher_priority_on_28_5(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    v4, dual = box.network(f"a{t}"), box.network(f"b{t}", ipv6_subnet=f"fd77:{t[:4]}:8::/64")
    cid = box.run(f"c{t}", v4, gw_priority=100)
    box.connect(cid, dual)
    # moby #51999, fixed in 29.4.1 (and before 28 the priority is ignored altogether)
    expected = dual if bed.rules.dual_stack_takes_both or not bed.gw_priority else v4
    assert gateway_of(bed, cid) == expected


def test_restart_reapplies_the_order_and_drops_hand_routes(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    cid = box.run(f"c{t}", back, cap_add=["NET_ADMIN"])
    box.connect(cid, front)
    gw = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"][back]["Gateway"]
    box.exec(cid, "ip", "route", "add", "0.0.0.0/1", "via", gw)
    box.exec(cid, "ip", "route", "add", "128.0.0.0/1", "via", gw)
    assert gateway_of(bed, cid) == back  # repaired by hand...
    box.client.api.restart(cid, timeout=0)
    assert gateway_of(bed, cid) == front  # ...and lost on restart
    assert "0.0.0.0/1" not in box.exec(cid, "ip", "route")


def _dnat_targets(bed: BedEngine, host_port: int) -> set[str]:
    rules = bed.in_netns("iptables", "-t", "nat", "-S").stdout
    found = re.findall(rf"--dport {host_port} .*--to-destination (\d+\.\d+\.\d+\.\d+):", rules)
    return set(found)


def test_published_ports_follow_the_gateway_endpoint(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    port = 20000 + int(t, 16) % 10000
    cid = box.run(f"c{t}", back, ports={8080: port})
    nets = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
    assert _dnat_targets(bed, port) == {nets[back]["IPAddress"]}
    box.connect(cid, front)
    nets = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
    assert _dnat_targets(bed, port) == {nets[front]["IPAddress"]}


def test_raw_connect_body_reaches_the_engine(bed: BedEngine, box: Scratch) -> None:
    """The adapter's raw POST (for GwPriority) also carries aliases."""
    t = uid()
    home, other = box.network(f"h{t}"), box.network(f"o{t}", internal=True)
    cid = box.run(f"c{t}", home)
    post_json(
        box.client.api,
        f"/networks/{other}/connect",
        {"Container": cid, "EndpointConfig": {"Aliases": [f"alias{t}"]}},
    )
    aliases = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"][other]["Aliases"]
    assert f"alias{t}" in aliases
