"""Direct health probes from inside a container's network namespace, on both engines."""

from __future__ import annotations

import time

from greenroom.deploy.probe import probe_once
from greenroom.deploy.steps import ProbeSpec
from greenroom.engine.host_access import HostAccess
from greenroom.engine.netns import Namespace
from tests.bed import BedEngine, Scratch, load_description, uid

APP = ["python3", "/opt/greenroom-demo/app.py"]


def _address(bed: BedEngine, cid: str, network: str) -> str:
    c = bed.engine().container(cid)
    att = c.attachment(network)
    assert att is not None and att.ipv4 is not None
    return str(att.ipv4.ip)


def test_probe_from_inside_the_namespace_reads_the_status(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    net = box.network(f"{t}n")
    app = load_description()["images"]["app"]
    ok = box.run(f"ok{t}", net, image=app, command=APP)
    failing = box.run(f"bad{t}", net, image=app, command=APP, env={"HEALTH_FAIL": "1"})
    engine = bed.engine()
    http = ProbeSpec("http", 8000, path="/health", timeout=1.0)
    for cid, want in ((ok, "200"), (failing, "500")):
        ns = HostAccess(engine).namespace(engine.container(cid))
        assert ns is not None, "root on the engine's host: the namespace is reachable"
        with ns:
            target = f"{_address(bed, cid, net)}:8000"
            deadline = time.monotonic() + 20
            line = probe_once(ns, target, http)
            while line.endswith(" 000") and time.monotonic() < deadline:  # still starting
                time.sleep(0.1)
                line = probe_once(ns, target, http)
            assert line == f"{target} {want}"
            # tcp: the port answers; a closed one does not; nothing leaks into our namespace
            assert probe_once(ns, target, ProbeSpec("tcp", 8000)) == f"{target} ok"
            closed = target.replace(":8000", ":8001")
            assert probe_once(ns, closed, ProbeSpec("tcp", 8001, timeout=1.0)) == f"{closed} fail"


def test_no_namespace_for_a_remote_or_stopped_container(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    cid = box.run(f"c{t}", box.network(f"{t}n"))
    engine = bed.engine()
    c = engine.container(cid)
    assert HostAccess(engine, direct=False).namespace(c) is None  # engine.direct: false
    assert Namespace.of(c, engine_is_local=False) is None  # another host: its pid means nothing here
    box.client.api.kill(cid)
    box.client.api.wait(cid)
    assert HostAccess(engine).namespace(engine.container(cid)) is None
