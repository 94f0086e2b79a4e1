"""ACME with Debian's pebble in the bed's external namespace, requiring an external account
binding (tls.acme.eab): the first deploy creates the
proxy and then issues (HTTP-01 answered by the proxy on its port 80); `certs renew` is
idempotent; a forced re-issue under HTTPS load fails nothing; a deploy renews a certificate
due (acme.renew_before); the challenge unreachable, a
name that does not resolve and the CA down each exit 1 with the CA's problem or the cause,
and the old certificate serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    handshake,
    remove_proxy,
)
from tests.pebble import Pebble, pebble

EAB = ("kid-gr", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W")


@pytest.fixture
def ca(bed: BedEngine, tmp_path: Path) -> Iterator[Pebble]:
    with pebble(bed, tmp_path, HTTP_PORT, eab=EAB) as p:  # a CA that needs an external account binding
        yield p


@pytest.fixture
def acme_project(bed: BedEngine, tmp_path: Path, ca: Pebble) -> Iterator[Project]:
    name = f"a{uid()}"
    acme = {
        "email": "ops@example.com",
        "directory": ca.directory,
        "ca_bundle": str(ca.wfe_root),
        "eab": {"kid": EAB[0], "hmac_key": EAB[1]},
    }
    mount = [f"{DEMO_APP}:/opt/greenroom-demo/app.py:ro"]
    apps = {name: app_doc(bed, name, hosts=[f"{name}.acme.test"], tls={"acme": acme}, volumes=mount)}
    p = Project(bed, tmp_path, apps)
    p.proxy = {"name": PROXY, "network": PROXY, "ports": [f"{HTTP_PORT}:80", f"{HTTPS_PORT}:443"]}
    p.write()
    remove_proxy(bed, PROXY)
    yield p
    remove_proxy(bed, PROXY)
    p.cleanup()


def test_acme_issue_renew_reissue_and_failures(
    bed: BedEngine, acme_project: Project, ca: Pebble, tmp_path: Path
) -> None:
    p = acme_project
    host = f"{p.name}.acme.test"
    out = p.run("deploy")  # creates the proxy, then issues: every proxy answers the challenge
    assert "issued" in out.stderr, out.stderr
    root = tmp_path / "issuing-root.pem"
    root.write_text(ca.issuing_root())
    ctx = context(root)
    first = handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint  # verified against pebble's root

    status = p.run("certs", "status")
    assert host in status.stdout and "acme" in status.stdout and "Pebble" in status.stdout
    again = p.run("certs", "renew")  # not due: nothing asked of the CA
    assert "valid until" in again.stderr and "already installed" in again.stderr
    assert handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint == first

    # the account is on the engine host (a second operator renews from there), 0600
    nginx = bed.docker().containers.list(filters={"label": f"greenroom.proxy={PROXY}"})[0]
    res = nginx.exec_run(["stat", "-c", "%a", "/var/lib/greenroom/acme/account.json"])
    assert isinstance(res.output, bytes) and res.output.decode().strip() == "600"

    load = HttpsLoad(bed.address, HTTPS_PORT, host, ctx).start()
    try:
        forced = p.run("certs", "renew", "--force")
    finally:
        load.stop()
    assert "renewed" in forced.stderr, forced.stderr
    second = handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint
    assert second != first
    assert load.failures == [], load.failures[:5]
    print(f"forced re-issue under HTTPS load: {load.ok} ok, {load.handshakes} handshakes, 0 failed")

    # a deploy renews what is due: renew_before longer than pebble's validity makes it due now
    p.apps[p.name]["tls"]["acme"]["renew_before"] = "87600h"
    p.write()
    renewed = p.run("deploy", p.name)
    assert "renewed" in renewed.stderr, renewed.stderr
    assert renewed.stderr.count("renewed") == 1, renewed.stderr  # once a deploy: not again after it
    third = handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint
    assert third not in (first, second)
    second = third
    del p.apps[p.name]["tls"]["acme"]["renew_before"]
    p.write()

    # the challenge unreachable: the name resolves where no proxy listens
    ca.resolve(host, ca.address)
    bad = p.run("certs", "renew", "--force", check=False)
    assert bad.returncode == 1, bad.stderr
    assert host in bad.stderr and "urn:ietf:params:acme:error" in bad.stderr and "hint:" in bad.stderr, (
        bad.stderr
    )
    assert handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint == second

    # a name that does not resolve
    ca.unresolvable(host)
    bad = p.run("certs", "renew", "--force", check=False)
    assert bad.returncode == 1 and host in bad.stderr and "urn:ietf:params:acme:error" in bad.stderr, (
        bad.stderr
    )
    assert handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint == second

    # the CA down
    ca.stop_ca()
    down = p.run("certs", "renew", "--force", check=False)
    assert down.returncode == 1 and "cannot reach the ACME CA" in down.stderr, down.stderr
    assert handshake(bed.address, HTTPS_PORT, host, ctx).fingerprint == second
