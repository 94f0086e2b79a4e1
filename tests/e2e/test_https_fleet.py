"""ACME on a fleet: e28, e20 and e3 (over ssh) behind a HAProxy of this test's own in TCP
mode for 80 and 443, pebble resolving the name to the load balancer. The CA's validation
reaches whichever host HAProxy picks, and succeeds because every proxy answers the token;
the certificate is issued once and installed on every host; a forced re-issue under HTTPS
load through the load balancer fails nothing."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bed import bed_engine, ssh_alias, uid
from tests.deployment import app_images
from tests.e2e.test_fleet import DESC, LB, REMOTE, SOURCES, _cleanup
from tests.https_client import HttpsLoad, context, handshake
from tests.lb import free_ports, in_netns
from tests.pebble import pebble
from tests.waiting import wait_for

PROXY = "gr-tls-fleet"
HTTP_PORT, HTTPS_PORT = 28180, 28543

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REMOTE is None or LB is None, reason="needs e3 and the load balancer"),
]


@contextlib.contextmanager
def tcp_balancer(folder: Path, addresses: list[str]) -> Iterator[tuple[str, int, int]]:
    """HAProxy in gr-lb passing 80 and 443 through as TCP, round robin over the hosts."""
    assert LB is not None
    web, tls = free_ports(LB["netns"], LB["address"], 2)
    lines = [
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
    ]
    for name, front, back in (("web", web, HTTP_PORT), ("tls", tls, HTTPS_PORT)):
        lines += [f"listen {name}", f"    bind {LB['address']}:{front}", "    balance roundrobin"]
        lines += [f"    server h{i} {a}:{back}" for i, a in enumerate(addresses)]
    cfg = folder / "haproxy.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    log = (folder / "haproxy.log").open("wb")
    proc = subprocess.Popen(
        in_netns(LB["netns"], LB["haproxy"], "-db", "-f", str(cfg)), stdout=log, stderr=log
    )
    try:

        def listening() -> bool:
            assert proc.poll() is None, (folder / "haproxy.log").read_text()
            with contextlib.suppress(OSError), socket.create_connection((LB["address"], tls), 1):
                return True
            return False

        wait_for(listening, 10, "HAProxy to listen")
        yield LB["address"], web, tls
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_acme_on_a_fleet_behind_a_tcp_load_balancer(tmp_path: Path) -> None:
    assert REMOTE is not None
    beds = {e["name"]: bed_engine(e, DESC) for e in DESC["engines"]}
    beds["e3"] = bed_engine(REMOTE, DESC)
    app = f"f{uid()}"
    host = f"{app}.fleet.test"
    env = {
        "COLUMNS": "200",
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(tmp_path),
        "GREENROOM_SSH_CONFIG": str(ssh_alias(tmp_path, "gr-e3-tls", REMOTE["ssh"])),
        "PYTHONPATH": SOURCES,
    }
    e28 = beds["e28"]
    try:
        with (
            tcp_balancer(tmp_path, [b.address for b in beds.values()]) as (lb, web, tls),
            pebble(e28, tmp_path, web, resolve_to=lb) as ca,
        ):
            doc: dict[str, Any] = {
                "engine": {"helper_image": e28.busybox_image},
                "proxy": {
                    "name": PROXY,
                    "image": e28.base_image,
                    "network": PROXY,
                    "ports": [f"{HTTP_PORT}:80", f"{HTTPS_PORT}:443"],
                    "https_port": tls,  # where clients reach HTTPS: the balancer's port
                },
                "hosts": [
                    {"name": "e28", "engine": beds["e28"].host},
                    {"name": "e20", "engine": beds["e20"].host},
                    {"name": "e3", "engine": "ssh://gr-e3-tls"},
                ],
                "apps": {
                    app: {
                        "image": app_images(e28)["v1"],
                        "port": 8000,
                        "hosts": [host],
                        "healthcheck": {
                            "path": "/health",
                            "interval": "100ms",
                            "passes": 2,
                            "deadline": "30s",
                        },
                        "drain_timeout": "5s",
                        "tls": {
                            "acme": {
                                "email": "ops@example.com",
                                "directory": ca.directory,
                                "ca_bundle": str(ca.wfe_root),
                            }
                        },
                    }
                },
            }
            (tmp_path / "greenroom.yml").write_text(yaml.safe_dump(doc))

            def run(*args: str) -> subprocess.CompletedProcess[str]:
                cmd = [sys.executable, "-m", "greenroom", *args, "--file", str(tmp_path / "greenroom.yml")]
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
                assert res.returncode == 0, f"{args} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
                return res

            out = run("deploy")
            assert "issued" in out.stderr and out.stderr.count(" installed") == 3, out.stderr
            root = tmp_path / "issuing-root.pem"
            root.write_text(ca.issuing_root())
            ctx = context(root)
            seen = {handshake(b.address, HTTPS_PORT, host, ctx).fingerprint for b in beds.values()}
            assert len(seen) == 1  # one certificate, on every host
            assert {handshake(lb, tls, host, ctx).fingerprint for _ in range(6)} == seen
            status = run("certs", "status").stdout
            assert all(f"{name}  {app}" in status for name in beds), status
            for _ in range(3):  # plain HTTP through the balancer, to each host in turn
                conn = http.client.HTTPConnection(lb, web, timeout=10)
                conn.request("GET", "/a/b?c=1", headers={"Host": host})
                resp = conn.getresponse()
                assert resp.status == 308 and resp.getheader("Location") == f"https://{host}:{tls}/a/b?c=1"
                conn.close()

            load = HttpsLoad(lb, tls, host, ctx).start()
            try:
                forced = run("certs", "renew", "--force")
            finally:
                load.stop()
            assert "renewed" in forced.stderr
            after = {handshake(b.address, HTTPS_PORT, host, ctx).fingerprint for b in beds.values()}
            assert len(after) == 1 and after != seen
            assert load.failures == [], load.failures[:5]
            print(f"fleet re-issue under HTTPS load via HAProxy: {load.ok} ok, {load.handshakes} handshakes")
    finally:
        for b in beds.values():
            _cleanup(b, app)
            for c in b.docker().containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY}"}):
                c.remove(force=True)
            with contextlib.suppress(Exception):
                b.docker().containers.get(PROXY).remove(force=True)
            with contextlib.suppress(Exception):
                b.docker().volumes.get(f"{PROXY}-state").remove(force=True)
            with contextlib.suppress(Exception):
                b.docker().networks.get(PROXY).remove()
