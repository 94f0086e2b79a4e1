"""The README's "On your own server" walkthrough, as a new user runs it: a wheel built from
this checkout, installed with pip in a new virtualenv, then a Docker context over ssh to
the remote host e3, `init`, `config check`, `plan`, `deploy`, a second version, `rollback`,
a failing deploy as a CI job sees it, the rest of the app (release command, worker, run,
exec), then HTTPS: certificate files (made with openssl) on the proxy that `init`'s config
published 443 for from the start, then ACME from Debian's pebble (in the bed's external
namespace, validating on e3's port 80) and `certs status`. The only edits to the written
greenroom.yml are the ones the walkthrough leaves to the user (the app's port, host name and
health path; the ACME directory and its CA bundle point at pebble).

No registry is reachable here: the default proxy and helper images (proxy.image and
engine.helper_image as `config check` resolves them) are tagged on e3 from the test bed's
images with the same layout (the official nginx image's, and busybox).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from tests.bed import BedEngine, bed_engine, load_description, ssh_alias, uid
from tests.e2e.test_whole_app import demo_images
from tests.pebble import pebble

DESC = load_description()
REMOTE: dict[str, Any] | None = DESC.get("remote")
ROOT = Path(__file__).resolve().parents[2]
PROXY = "greenroom-proxy"  # the defaults, as `init` leaves them
PORT = 80

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(REMOTE is None, reason="the remote host e3 is not up: run `scripts/testbed up-e3`"),
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with greenroom installed from a wheel built from this checkout."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE", "src"):
        path = ROOT / part
        if path.is_dir():
            shutil.copytree(path, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif path.exists():
            shutil.copy(path, src / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(src)],
        check=True,
        timeout=600,
    )
    wheels = list((base / "dist").glob("greenroom-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheels[0])],
        check=True,
        timeout=600,
    )
    return env_dir / "bin"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[BedEngine, dict[str, str]]]:
    """e3 with the default images present, an ssh alias for it, and a clean $HOME."""
    assert REMOTE is not None
    bed = bed_engine(REMOTE, DESC)
    client = bed.docker()
    ssh = REMOTE["ssh"]
    cfg = ssh_alias(tmp_path, "app-1", ssh)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "COLUMNS": "200",
        "GREENROOM_SSH_CONFIG": str(cfg),  # OpenSSH reads ~/.ssh/config of the passwd home, not $HOME
    }
    try:
        yield bed, env
    finally:
        _cleanup(client)
        client.close()


def _cleanup(client: docker.DockerClient) -> None:
    for c in client.containers.list(all=True, filters={"label": "greenroom.app"}):
        if c.labels["greenroom.app"].startswith("walk"):
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
    doomed = client.containers.list(all=True, filters={"label": f"greenroom.proxy={PROXY}"})
    doomed += [c for c in client.containers.list(all=True, filters={"name": PROXY}) if c.name == PROXY]
    doomed += [
        c for c in client.containers.list(all=True) if (c.name or "").startswith("greenroom-lock-walk")
    ]
    for c in doomed:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(f"{PROXY}-state").remove(force=True)
    for vol in client.volumes.list():
        if (vol.name or "").startswith("walk"):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                vol.remove(force=True)
    for net in client.networks.list():
        if (net.name or "").startswith("gr-walk") or net.name == PROXY:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                net.remove()


def sh(env: dict[str, str], cwd: Path, *cmd: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    if ok:
        assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def version(address: str, host: str) -> str:
    conn = http.client.HTTPConnection(address, PORT, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (resp.status, body[:200])
        return str(json.loads(body)["version"])
    finally:
        conn.close()


def https_version(env: dict[str, str], cwd: Path, address: str, host: str, ca: Path) -> str:
    """GET / over HTTPS on e3's port 443, with `host` as SNI and Host, verified against `ca`."""
    url = f"https://{host}/"
    got = sh(
        env, cwd, "curl", "-sS", "--fail", "--resolve", f"{host}:443:{address}", "--cacert", str(ca), url
    )
    return str(json.loads(got.stdout)["version"])


def redirect(env: dict[str, str], cwd: Path, address: str, host: str, path: str) -> str:
    """The status and Location of a plain HTTP GET on e3's port 80."""
    out = "%{http_code} %{redirect_url}"
    url = f"http://{host}{path}"
    return sh(
        env, cwd, "curl", "-sS", "-o", "/dev/null", "-w", out, "--resolve", f"{host}:80:{address}", url
    ).stdout


def test_own_server_walkthrough_from_a_wheel(
    installed: Path, server: tuple[BedEngine, dict[str, str]], tmp_path: Path
) -> None:
    bed, env = server
    gr = str(installed / "greenroom")
    work = tmp_path / "project"
    work.mkdir()
    images = demo_images(bed)  # this checkout's demo app: it can migrate and run as a worker
    name = f"walk{uid()[:6]}"

    assert sh(env, work, gr, "--version").stdout.strip()
    sh(env, work, "docker", "context", "create", "prod", "--docker", "host=ssh://app-1")
    sh(env, work, "docker", "context", "use", "prod")
    sh(env, work, gr, "init", images["v1"], "--name", name)
    doc = yaml.safe_load((work / "greenroom.yml").read_text())
    assert doc["engine"]["host"] == "ssh://app-1"  # from the current Docker context

    # what the walkthrough leaves to the user: the app's port (the image EXPOSEs none), the
    # host name it answers to, and an HTTP health check
    app = doc["apps"][name]
    app["port"] = 8000
    app["hosts"] = [f"{name}.test"]
    app["healthcheck"] = {"type": "http", "path": "/health", "deadline": "1m"}
    (work / "greenroom.yml").write_text(yaml.safe_dump(doc))

    resolved = json.loads(sh(env, work, gr, "config", "check", "--json").stdout)
    assert (resolved["proxy"]["name"], resolved["proxy"]["ports"]) == (PROXY, [f"{PORT}:80", "443:443"])
    # no registry here: the defaults' images made from the bed's, with the same layout
    client = bed.docker()
    try:
        client.images.get(DESC["images"]["proxy_official"]).tag(*resolved["proxy"]["image"].rsplit(":", 1))
        client.images.get(DESC["images"]["busybox"]).tag(*resolved["engine"]["helper_image"].rsplit(":", 1))
    finally:
        client.close()
    plan = sh(env, work, gr, "plan").stdout
    assert "CreateRelease" in plan or "create" in plan.lower()
    sh(env, work, gr, "deploy")
    assert version(bed.address, f"{name}.test") == "v1"

    sh(env, work, gr, "deploy", "--image", images["v2"])
    assert version(bed.address, f"{name}.test") == "v2"
    sh(env, work, gr, "rollback", name)
    assert version(bed.address, f"{name}.test") == "v1"

    # a CI job: exits non-zero, says why on stderr, --json for machines; v1 still serves
    failed = sh(env, work, gr, "deploy", "--json", "--image", "greenroom-test/none:missing", ok=False)
    assert failed.returncode != 0
    (rollout,) = json.loads(failed.stdout)["rollouts"]
    assert not rollout["ok"] and "greenroom-test/none:missing" in rollout["reason"], rollout
    assert version(bed.address, f"{name}.test") == "v1"

    # then the rest of the app: the web app's migration and a worker beside it
    app["release"] = "python3 /opt/greenroom-demo/app.py migrate"
    app["volumes"] = [f"{name}-data:/data"]
    app["environment"] = {"DB_PATH": "/data/app.db"}
    doc["apps"][f"{name}w"] = {  # the worker
        "image": images["v1"],
        "command": "python3 /opt/greenroom-demo/app.py worker",
        "volumes": [f"{name}-data:/data"],
        "environment": {"WORKER_LOG": "/data/worker.log"},
    }
    (work / "greenroom.yml").write_text(yaml.safe_dump(doc))
    migrated = sh(env, work, gr, "deploy", "--image", images["v3"])
    assert "migrated to schema 3" in migrated.stderr
    assert version(bed.address, f"{name}.test") == "v3"  # v3 refuses a database not migrated
    query = "SELECT schema FROM meta"
    query = f"import sqlite3; print(sqlite3.connect('/data/app.db').execute('{query}').fetchone()[0])"
    assert sh(env, work, gr, "run", name, "--", "python3", "-c", query).stdout.strip() == "3"
    assert "start" in sh(env, work, gr, "exec", f"{name}w", "--", "cat", "/data/worker.log").stdout

    # HTTPS from files: a certificate for the app's host name (here made with openssl) and
    # its key next to greenroom.yml; the proxy published 443 from its first deploy; deploy
    started = time.monotonic()
    host = f"{name}.test"
    sh(env, work, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", "shop.key", "-out", "shop.crt", "-days", "30", "-subj", f"/CN={host}",
       "-addext", f"subjectAltName=DNS:{host}")  # fmt: skip
    sh(env, work, "chmod", "600", "shop.key")
    app["tls"] = {"certificate": "shop.crt", "key": "shop.key"}
    (work / "greenroom.yml").write_text(yaml.safe_dump(doc))
    sh(env, work, gr, "deploy", name, "--image", images["v3"])
    assert https_version(env, work, bed.address, host, work / "shop.crt") == "v3"
    assert redirect(env, work, bed.address, host, "/a/b?c=1") == f"308 https://{host}/a/b?c=1"

    # then ACME: pebble in the bed's external namespace validates HTTP-01 on e3's port 80
    (tmp_path / "pebble").mkdir()
    with pebble(bed, tmp_path / "pebble", PORT) as ca:
        acme = {"email": "ops@example.com", "directory": ca.directory, "ca_bundle": str(ca.wfe_root)}
        app["tls"] = {"acme": acme}
        (work / "greenroom.yml").write_text(yaml.safe_dump(doc))
        issued = sh(env, work, gr, "deploy", name, "--image", images["v3"])
        assert "issued" in issued.stderr, issued.stderr
        status = sh(env, work, gr, "certs", "status").stdout
        assert host in status and "acme" in status and "Pebble" in status, status
        root = tmp_path / "pebble-root.pem"
        root.write_text(ca.issuing_root())
        assert https_version(env, work, bed.address, host, root) == "v3"
    assert redirect(env, work, bed.address, host, "/") == f"308 https://{host}/"
    print(f"HTTPS steps (files, then ACME from pebble): {time.monotonic() - started:.1f} s")
