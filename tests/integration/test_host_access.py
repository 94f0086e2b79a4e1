"""Containers' kernel tables read directly (/proc on the engine's host) and through the
engine (a helper container), on both engines: the same answers."""

from __future__ import annotations

import re

import pytest

from greenroom.engine.host_access import HostAccess
from greenroom.errors import NotFound, RouteReadError
from tests.bed import TEST_LABEL, BedEngine, Scratch, uid


def test_proc_and_helper_container_read_the_same_routes(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    a = box.network(f"{t}a")
    b = box.network(f"{t}b", ipv6_subnet=f"fd77:{t[:4]}:5::/64")
    cid = box.run(f"c{t}", a)
    box.connect(cid, b)
    engine = bed.engine()
    c = engine.container(cid)
    access = HostAccess(engine, helper_image=bed.busybox_image)
    local = access.routes(c, via="proc")
    remote = access.routes(c, via="engine")
    assert local == remote
    assert HostAccess(engine, direct=False, helper_image=bed.busybox_image).routes(c) == local
    # and both agree with what `ip route` inside shows
    ip_route = box.exec(cid, "ip", "route")
    m = re.search(r"^default via (\S+) dev (\S+)", ip_route, re.M)
    assert m is not None
    default = local.default(4)
    assert default is not None
    assert (str(default.gateway), default.iface) == m.groups()
    assert local.default(6) is not None  # b is dual-stack and sorts after a, but ranks higher


def test_helper_container_leaves_nothing_behind(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    cid = box.run(f"c{t}", box.network(f"{t}n"))
    engine = bed.engine()
    HostAccess(engine, helper_image=bed.busybox_image).routes(engine.container(cid), via="engine")
    left = box.client.api.containers(all=True, filters={"label": "greenroom.helper"})
    assert left == []


def test_missing_helper_image_is_a_clear_error(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    cid = box.run(f"c{t}", box.network(f"{t}n"))
    engine = bed.engine()
    absent = HostAccess(engine, helper_image=f"greenroom-test/absent:{t}")
    c = engine.container(cid)
    with pytest.raises(NotFound, match="could not be pulled") as info:
        absent.routes(c, via="engine")
    assert "--helper-image" in info.value.hint


def test_stopped_container_has_no_routes(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    cid = box.run(f"c{t}", box.network(f"{t}n"))
    box.client.api.stop(cid, timeout=0)
    engine = bed.engine()
    with pytest.raises(RouteReadError, match="not running"):
        HostAccess(engine).routes(engine.container(cid))


def test_a_pid_of_another_container_is_not_trusted(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    net = box.network(f"{t}n")
    one, two = box.run(f"c1{t}", net), box.run(f"c2{t}", net)
    engine = bed.engine()
    c1, c2 = engine.container(one), engine.container(two)
    impostor = type(c1)(**{**c1.__dict__, "pid": c2.pid})
    with pytest.raises(RouteReadError, match="not readable here"):
        HostAccess(engine).routes(impostor, via="proc")
    assert HostAccess(engine).namespace(impostor) is None
    assert TEST_LABEL in c1.labels
