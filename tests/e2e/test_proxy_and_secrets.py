"""The proxy keeps its routing through its own restart and a rebuild; secrets stay secret."""

from __future__ import annotations

import json

from tests.bed import BedEngine
from tests.deployment import PROXY_NAME, Load, Project, get, proxy_nginx
from tests.waiting import wait_for

SECRET = "s3cr3t-value-9f8e7d"


def serving(bed: BedEngine, project: Project) -> bool:
    try:
        status, _ = get(bed, f"{project.name}.test")
    except OSError:
        return False
    return status == 200


def test_routing_survives_a_proxy_restart_and_a_rebuild(bed: BedEngine, project: Project) -> None:
    project.run("deploy")
    client = bed.docker()
    client.containers.get(proxy_nginx(bed)).restart(timeout=5)  # nginx restarted: rejoins the pod
    wait_for(lambda: serving(bed, project), timeout=20, what="the proxy back after its restart")
    res = project.run("proxy", "reboot")
    assert "reboot requested" in res.stderr
    wait_for(lambda: serving(bed, project), timeout=20, what="the proxy back after a rebuild")
    st = json.loads(project.run("proxy", "status", "--json").stdout)
    assert st["running"] and st["gateway"] == PROXY_NAME and not st["problems"]
    assert project.name in st["routed"]
    # the holder restarted alone: its nginx is left in the old namespace; the next deploy
    # starts a new one, and the routing (kept in the volume) is served as it was
    client.containers.get(PROXY_NAME).restart(timeout=5)
    client.close()
    st = json.loads(project.run("proxy", "status", "--json").stdout)
    assert st["problems"], st
    project.run("deploy")
    assert serving(bed, project)
    st = json.loads(project.run("proxy", "status", "--json").stdout)
    assert not st["problems"] and project.name in st["routed"], st


def test_secrets_never_appear_in_output_logs_or_errors(bed: BedEngine, project: Project) -> None:
    app = project.apps[project.name]
    # the app itself prints its secret at start: greenroom must mask it wherever it shows logs
    project.set(
        secrets={"API_KEY": SECRET},
        command=["sh", "-c", 'echo "starting with key $$API_KEY"; exec python3 /opt/greenroom-demo/app.py'],
    )
    outputs = [
        project.run("deploy"),
        project.run("config", "check"),
        project.run("logs", project.name),
        project.run("status"),
        project.run("plan"),
    ]
    # a failing deploy shows the new version's last logs
    project.set(healthcheck={**app["healthcheck"], "deadline": "2s"}, environment={"HEALTH_FAIL": "1"})
    outputs.append(project.run("deploy", check=False))
    outputs.append(project.run("history", project.name, "--json"))
    for res in outputs:
        text = res.stdout + res.stderr
        assert SECRET not in text, f"secret leaked by: {res.args}"
    assert "starting with key ******" in outputs[2].stdout
    assert "******" in outputs[1].stdout
    assert "starting with key ******" in outputs[5].stderr


def test_a_stale_proxy_config_is_replaced_safely(bed: BedEngine, project: Project) -> None:
    """An older greenroom's nginx.conf (another generation) in the running proxy: the next
    deploy writes the new one aside, checks it with nginx -t, swaps, reloads, confirms the
    generation, and the app serves throughout. (This is the one path that reloads nginx: a
    keep-alive client that does not retry can see its idle connection closed at that
    moment. Deploys, new apps and maintenance never reload; see the other tests.)"""
    project.run("deploy")
    client = bed.docker()
    proxy = client.containers.get(proxy_nginx(bed))
    res = proxy.exec_run(
        [
            "sh",
            "-c",
            'sed -i \'s/default "[0-9a-f]*"; }/default "0ld0ld0ld0ld"; }/\' '
            "/etc/greenroom/nginx.conf && nginx -c /etc/greenroom/nginx.conf -s reload",
        ]
    )
    client.close()
    assert res.exit_code == 0, res.output
    wait_for(
        lambda: json.loads(project.run("proxy", "status", "--json").stdout)["generation"] == "0ld0ld0ld0ld",
        what="the old generation live",
    )
    load = Load(bed.address, f"{project.name}.test", clients=4, keepalive=False).start()
    keepalive = Load(bed.address, f"{project.name}.test", clients=4).start()
    try:
        deployed = project.run("deploy")
        assert "apply the proxy's new nginx config" in deployed.stderr
        assert "(generation 0ld0ld0ld0ld ->" in deployed.stderr
    finally:
        load.stop()
        keepalive.stop()
    assert keepalive.count() > 20 and not keepalive.failures(), keepalive.failures()[:5]
    st = json.loads(project.run("proxy", "status", "--json").stdout)
    assert st["generation"] == st["expected_generation"]
    assert not st["problems"]
    assert load.count() > 20
    assert not load.failures()
