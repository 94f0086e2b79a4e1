"""What the proxy's public listener gives a client: no internal names, no forged
X-Forwarded-* headers (but a trusted proxy's pass through)."""

from __future__ import annotations

from pathlib import Path

from tests.bed import BedEngine
from tests.deployment import PROXY_NAME, PROXY_PORT, Project, get

# the checkout's demo app, mounted over the image's: its /headers echoes what the app got
DEMO_APP = Path(__file__).resolve().parents[2] / "demo" / "app.py"


def from_inside(bed: BedEngine, host: str) -> str:
    """The status of a request to the proxy's listener from 127.0.0.1 in its namespace."""
    client = bed.docker()
    try:
        res = client.containers.get(PROXY_NAME).exec_run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                f"Host: {host}",
                "http://127.0.0.1:80/",
            ]
        )
        assert isinstance(res.output, bytes)
        return res.output.decode()
    finally:
        client.close()


def test_internal_names_answer_only_inside_the_proxy(bed: BedEngine, project: Project) -> None:
    project.set(hosts=[])  # reachable by nobody outside: only greenroom's confirm probe
    deployed = project.run("deploy")  # the confirm goes through APP.greenroom.internal
    assert "Confirm" in deployed.stdout
    internal = f"{project.name}.greenroom.internal"
    for host in (internal, f"{internal}:{PROXY_PORT}", internal.upper()):
        status, body = get(bed, host)
        assert status == 404, (host, status, body)
    assert from_inside(bed, internal) == "200"
    # a public name still works as before
    project.set(hosts=[f"{project.name}.test"])
    project.run("deploy")
    assert get(bed, f"{project.name}.test")[0] == 200
    assert get(bed, internal)[0] == 404


FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def seen(bed: BedEngine, project: Project, **headers: str) -> dict[str, str]:
    status, body = get(bed, f"{project.name}.test", "/headers", **headers)
    assert status == 200, body
    got: dict[str, str] = body["headers"]
    return got


def test_forwarded_headers_are_trusted_only_from_trusted_proxies(bed: BedEngine, project: Project) -> None:
    project.set(volumes=[f"{DEMO_APP}:/opt/greenroom-demo/app.py:ro"])
    project.run("deploy")
    # from an untrusted peer: both replaced, whatever the client sent
    got = seen(bed, project, **FORGED)
    peer = got["x-forwarded-for"]  # the address the proxy sees this test's requests come from
    assert got["x-forwarded-proto"] == "http"
    assert "," not in peer and peer != FORGED["X-Forwarded-For"], got
    assert seen(bed, project)["x-forwarded-for"] == peer
    # that address trusted: the terminator's scheme and the client chain reach the app
    project.proxy = {"trusted_proxies": [peer]}
    project.write()
    assert "apply the proxy's new nginx config" in project.run("deploy").stderr
    try:
        got = seen(bed, project, **FORGED)
        assert got["x-forwarded-proto"] == "https"
        assert got["x-forwarded-for"] == f"{FORGED['X-Forwarded-For']}, {peer}"
        assert seen(bed, project, **{"X-Forwarded-Proto": "gopher"})["x-forwarded-proto"] == "http"
        plain = seen(bed, project)
        assert plain["x-forwarded-proto"] == "http" and plain["x-forwarded-for"] == peer
    finally:  # the proxy as the other tests expect it
        project.proxy = {}
        project.write()
        project.run("deploy")
    assert seen(bed, project, **FORGED)["x-forwarded-proto"] == "http"
