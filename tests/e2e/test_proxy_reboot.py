"""A proxy reboot and a proxy upgrade under keep-alive and closing load fail nothing, on
both engines: the pod's holder keeps the port, the gateway and the attachments; a new
nginx starts beside the old one (reuseport), the old one retires its keep-alive
connections and stops gracefully (SIGQUIT; queued connections migrate with
net.ipv4.tcp_migrate_req=1). Twice per engine: with the bed's image (Debian's nginx package)
and with the official nginx image's layout (entrypoint, STOPSIGNAL SIGQUIT, user nginx)."""

from __future__ import annotations

import json
import time

import pytest

from tests import wrk
from tests.bed import BedEngine
from tests.deployment import (
    PROXY_NAME,
    PROXY_PORT,
    Load,
    Project,
    outcome_of,
    proxy_nginx,
    remove_proxy,
    use_official_proxy,
)
from tests.waiting import wait_for


def status(project: Project) -> dict[str, object]:
    return dict(json.loads(project.run("proxy", "status", "--json").stdout))


@pytest.mark.parametrize("layout", ["debian", "official"])
def test_reboot_and_upgrade_under_load_fail_nothing(bed: BedEngine, project: Project, layout: str) -> None:
    if layout == "official":
        use_official_proxy(bed, project)
    image = project.proxy.get("image", bed.base_image)
    upgrade_tag = image.rsplit(":", 1)[0] + ":proxy-upgrade"
    try:
        reboot_and_upgrade(bed, project, image, upgrade_tag)
        if layout == "official":  # the holder too was made from it, and kept
            client = bed.docker()
            assert client.api.inspect_container(PROXY_NAME)["Config"]["Image"] == image
            client.close()
    finally:
        if layout == "official":
            remove_proxy(bed)  # the next test's deploy makes it anew from the bed's image


def reboot_and_upgrade(bed: BedEngine, project: Project, image: str, upgrade_tag: str) -> None:
    project.run("deploy")
    host = f"{project.name}.test"
    client = bed.docker()
    client.images.get(image).tag(upgrade_tag)  # the same nginx under a new name: an upgrade
    first = proxy_nginx(bed)
    keepalive = Load(bed.address, host, clients=4).start()
    closing = Load(bed.address, host, clients=4, keepalive=False).start()
    load = wrk.Background(f"http://{bed.address}:{PROXY_PORT}/", host, 3600)
    try:
        wait_for(lambda: keepalive.count() > 50 and closing.count() > 50, what="load through the proxy")
        rebooted = project.run("proxy", "reboot", "--json")
        second = proxy_nginx(bed)
        time.sleep(0.5)
        project.proxy["image"] = upgrade_tag
        project.write()
        upgraded = outcome_of(project.run("deploy", "--json").stdout)
        third = proxy_nginx(bed)
        time.sleep(0.5)
    finally:
        load.proc.send_signal(2)
        keepalive.stop()
        closing.stop()
        project.proxy["image"] = image
        project.write()
    result = load.result()
    print(
        f"\nproxy reboot and upgrade ({image}) on Docker {bed.version}: wrk {result.line()}; "
        f"python keep-alive {keepalive.count()} and closing {closing.count()} requests"
    )
    assert "took over from" in rebooted.stdout, rebooted.stdout
    ensure = next(s for s in upgraded["steps"] if s["step"] == "EnsureProxy")
    assert f"-> {upgrade_tag}" in ensure["description"] and "took over from" in ensure["detail"], ensure
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
    assert inspected["Config"]["Image"] == upgrade_tag
    assert inspected["HostConfig"]["NetworkMode"].startswith("container:")
    client.close()
