"""A proxy reboot and a proxy upgrade under keep-alive and closing load fail nothing, on
both engines: the pod's holder keeps the port, the gateway and the attachments; a new
nginx starts beside the old one (reuseport), the old one retires its keep-alive
connections and stops gracefully (SIGQUIT; queued connections migrate with
net.ipv4.tcp_migrate_req=1)."""

from __future__ import annotations

import json
import time

from tests import wrk
from tests.bed import BedEngine
from tests.deployment import PROXY_NAME, PROXY_PORT, Load, Project, proxy_nginx, wait_for

UPGRADE_TAG = "greenroom-test/base:proxy-upgrade"


def status(project: Project) -> dict[str, object]:
    return dict(json.loads(project.run("proxy", "status", "--json").stdout))


def test_reboot_and_upgrade_under_load_fail_nothing(bed: BedEngine, project: Project) -> None:
    project.run("deploy")
    host = f"{project.name}.test"
    client = bed.docker()
    client.images.get(bed.base_image).tag(UPGRADE_TAG)  # the same nginx under a new name: an upgrade
    first = proxy_nginx(bed)
    keepalive = Load(bed.address, host, clients=4).start()
    closing = Load(bed.address, host, clients=4, keepalive=False).start()
    load = wrk.Background(f"http://{bed.address}:{PROXY_PORT}/", host, 3600)
    try:
        wait_for(lambda: keepalive.count() > 50 and closing.count() > 50, what="load through the proxy")
        rebooted = project.run("proxy", "reboot", "--json")
        second = proxy_nginx(bed)
        time.sleep(0.5)
        project.proxy["image"] = UPGRADE_TAG
        project.write()
        upgraded = json.loads(project.run("deploy", "--json").stdout)
        third = proxy_nginx(bed)
        time.sleep(0.5)
    finally:
        load.proc.send_signal(2)
        keepalive.stop()
        closing.stop()
        project.proxy.pop("image", None)
        project.write()
    result = load.result()
    print(
        f"\nproxy reboot and upgrade on Docker {bed.version}: wrk {result.line()}; python keep-alive "
        f"{keepalive.count()} and closing {closing.count()} requests"
    )
    assert "took over from" in rebooted.stdout, rebooted.stdout
    ensure = next(s for s in upgraded["steps"] if s["step"] == "EnsureProxy")
    assert f"-> {UPGRADE_TAG}" in ensure["description"] and "took over from" in ensure["detail"], ensure
    assert len({first, second, third}) == 2 and first != second != third, (first, second, third)
    assert result.failed == 0, result.raw
    assert not keepalive.failures(), keepalive.failures()[:5]
    assert not closing.failures(), closing.failures()[:5]
    # the holder kept the gateway and every attachment; one nginx runs
    st = status(project)
    assert st["gateway"] == PROXY_NAME and not st["problems"], st
    nginx = st["nginx"]
    assert isinstance(nginx, list) and [n["running"] for n in nginx] == [True], nginx
    inspected = client.api.inspect_container(third)
    assert inspected["Config"]["Image"] == UPGRADE_TAG
    assert inspected["HostConfig"]["NetworkMode"].startswith("container:")
    client.close()
