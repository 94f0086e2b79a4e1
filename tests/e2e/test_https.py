"""HTTPS at the proxy from certificate files, on a proxy of this test's own, made publishing
80 only and recreated by `proxy reboot --recreate` to publish 443 too: a chain, a wildcard
over two apps, SNI, HTTP/2, the 308 to https (with the published port), HSTS,
X-Forwarded-Proto; then a new certificate installed by a deploy under HTTPS load
(keep-alive clients and clients handshaking anew) with no request failed, and a proxy
reboot under the same load; then bad files,
each refused with exit 2 while the installed certificate keeps serving."""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from tests.bed import BedEngine, uid
from tests.deployment import Project, app_doc
from tests.https_client import (
    DEMO_APP,
    HTTP_PORT,
    HTTPS_PORT,
    PROXY,
    HttpsLoad,
    context,
    get,
    handshake,
    remove_proxy,
)
from tests.lb import Traffic
from tests.tls_certs import CertAuthority, write_pair


@pytest.fixture
def tls_project(bed: BedEngine, tmp_path: Path) -> Iterator[Project]:
    tls = {"certificate": "site.crt", "key": "site.key", "hsts": "24h"}
    mount = [f"{DEMO_APP}:/opt/greenroom-demo/app.py:ro"]
    apps = {
        name: app_doc(bed, name, hosts=[f"{name}.tls.test"], tls=tls, volumes=mount)
        for name in (f"a{uid()}", f"b{uid()}")
    }
    p = Project(bed, tmp_path, apps)
    p.proxy = {"name": PROXY, "network": PROXY, "ports": [f"{HTTP_PORT}:80", f"{HTTPS_PORT}:443"]}
    remove_proxy(bed, PROXY)
    yield p
    remove_proxy(bed, PROXY)
    p.cleanup()


def plain(bed: BedEngine, host: str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(bed.address, HTTP_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location") or ""
    finally:
        conn.close()


def serving(bed: BedEngine, host: str, ctx: ssl.SSLContext) -> str:
    return handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint


def test_certificate_files_serve_https_and_rotate_under_load(
    bed: BedEngine, tls_project: Project, tmp_path: Path
) -> None:
    p = tls_project
    a, b = list(p.apps)
    ha, hb = f"{a}.tls.test", f"{b}.tls.test"
    ca = CertAuthority.make()
    root = ca.write_root(tmp_path / "root.pem")
    write_pair(tmp_path, "site", *ca.leaf("*.tls.test"))

    # a proxy made before proxy.ports published 443: a deploy of an app with tls is refused
    # with what to do, and `proxy reboot --recreate` recreates it publishing 443, every app
    # rejoined (on one host its port refuses connections for a moment: counted, not asserted)
    tls, ports = {n: p.apps[n].pop("tls") for n in (a, b)}, p.proxy["ports"]
    p.proxy["ports"] = ports[:1]
    p.write()
    p.run("deploy", a)
    p.proxy["ports"] = ports
    for n, t in tls.items():
        p.apps[n]["tls"] = t
    p.write()
    refused = p.run("deploy", a, check=False)
    assert refused.returncode == 1 and "greenroom proxy reboot --recreate" in refused.stderr, refused.stderr
    # the HTTPS port taken on the engine's host: the recreate changes nothing, says why
    client = bed.docker()
    taken_by = f"gr-block-{uid()}"
    blocker = client.containers.run(
        bed.busybox_image, ["sleep", "120"], name=taken_by, ports={"80/tcp": HTTPS_PORT}, detach=True
    )
    try:
        taken = p.run("proxy", "reboot", "--recreate", check=False)
    finally:
        blocker.remove(force=True)
        client.close()
    assert taken.returncode == 1 and f"cannot publish {HTTPS_PORT}:443" in taken.stderr, taken.stderr
    assert plain(bed, ha, "/") == (200, "")  # served by the proxy as it was
    http_load = Traffic(bed.address, HTTP_PORT, host=ha, by="X-App-Version").start()
    try:
        http_load.wait_for("v1", 20)
        p.run("proxy", "reboot", "--recreate")
        http_load.wait_for("v1", http_load.answered()["v1"] + 20)  # a is routed by the new holder
    finally:
        http_load.stop()
    when = http_load.failed_at
    print(
        f"proxy recreated on one host under HTTP load: {sum(http_load.answered().values())} ok, "
        f"{len(when)} failed within {max(when) - min(when) if when else 0:.2f} s: {set(http_load.failures)}"
    )
    p.run("deploy")
    ctx = context(root)

    # one wildcard certificate, its chain, both apps; HTTP/2 offered, TLS 1.2 and 1.3
    first = serving(bed, ha, ctx)
    assert serving(bed, hb, ctx) == first
    h2 = handshake(bed.address, HTTPS_PORT, ha, context(root, ("h2", "http/1.1")))
    assert h2.alpn == "h2" and h2.version == "TLSv1.3"
    tls12 = context(root)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(bed.address, HTTPS_PORT, hb, tls12).version == "TLSv1.2"
    # an unknown name: a failed handshake, not some app's certificate, and not logged
    with pytest.raises(ssl.SSLError):
        handshake(bed.address, HTTPS_PORT, "nobody.tls.test", ctx)
    # the app sees https; HSTS on HTTPS responses
    status, headers, body = get(bed.address, HTTPS_PORT, ha, ctx, "/headers", **{"X-Forwarded-Proto": "http"})
    assert status == 200
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    assert headers["strict-transport-security"] == "max-age=86400"
    # plain HTTP: 308 to https (on the port 443 is published on) with path and query, but
    # the ACME challenge path goes through
    assert plain(bed, ha, "/x/y?q=1&r=2") == (308, f"https://{ha}:{HTTPS_PORT}/x/y?q=1&r=2")
    assert plain(bed, ha, "/.well-known/acme-challenge/abc") == (200, "")  # the app answers

    # the key: 0600, owned by nginx's worker user, in the state volume; in no inspect output
    client = bed.docker()
    try:
        nginx = client.containers.list(filters={"label": f"greenroom.proxy={PROXY}"})[0]
        res = nginx.exec_run(["stat", "-c", "%a %U", f"/var/lib/greenroom/tls/{a}.pem"])
        assert isinstance(res.output, bytes) and res.output.decode().strip() == "600 nobody"
        for c in client.containers.list(all=True):
            with contextlib.suppress(docker.errors.NotFound):  # other tests' come and go
                assert "PRIVATE KEY" not in json.dumps(client.api.inspect_container(str(c.id)))
        logs = nginx.logs().decode()
        assert "cannot load certificate" not in logs, logs[-2000:]
    finally:
        client.close()

    # a new certificate (new key) installed by a deploy, under HTTPS load: nothing fails
    write_pair(tmp_path, "site", *ca.leaf("*.tls.test"))
    load = HttpsLoad(bed.address, HTTPS_PORT, ha, ctx).start()
    try:
        out = p.run("deploy", a)
    finally:
        load.stop()
    assert "install the TLS certificate" in out.stdout + out.stderr
    print(f"rotation + deploy under HTTPS load: {load.ok} ok, {load.handshakes} handshakes, {load.failures}")
    rotated = serving(bed, ha, ctx)
    assert rotated != first
    assert load.failures == [], load.failures[:5]
    assert load.ok > 100 and load.handshakes > 20, (load.ok, load.handshakes)
    assert load.fingerprints == {first, rotated}  # handshakes saw the old one, then the new
    assert serving(bed, hb, ctx) == first  # b gets it on its own deploy

    # a proxy reboot and a rollback under HTTPS load: the new nginx loads the certificates
    # from the volume; the rollback switches back to the first release
    load = HttpsLoad(bed.address, HTTPS_PORT, ha, ctx).start()
    try:
        p.run("proxy", "reboot")
        p.run("rollback", a)
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.ok > 50 and serving(bed, ha, ctx) == rotated and serving(bed, hb, ctx) == first
    print(f"reboot + rollback under HTTPS load: {load.ok} ok, {load.handshakes} handshakes, 0 failed")

    # tls taken off b: its certificate and redirect go with the deploy
    del p.apps[b]["tls"]
    p.write()
    assert "its certificate removed" in p.run("deploy", b).stderr
    assert plain(bed, hb, "/") == (200, "")
    with pytest.raises(ssl.SSLError):
        handshake(bed.address, HTTPS_PORT, hb, ctx)

    # bad files: exit 2, path-qualified, no key printed; the installed certificate serves on
    chain, key = ca.leaf("*.tls.test")
    write_pair(tmp_path, "site", chain, ca.leaf("*.tls.test")[1])
    bad = p.run("deploy", a, check=False)
    assert bad.returncode == 2 and f"apps.{a}.tls.key" in bad.stderr and "does not match" in bad.stderr
    write_pair(tmp_path, "site", chain, key, mode=0o644)
    bad = p.run("deploy", a, check=False)
    assert bad.returncode == 2 and "chmod 600" in bad.stderr
    assert "PRIVATE KEY" not in bad.stdout + bad.stderr
    assert serving(bed, ha, ctx) == rotated
