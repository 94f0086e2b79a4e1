"""Remote engines on the test bed's host e3 (scripts/testbed up-e3): ssh:// through the
user's OpenSSH client (sshd on 10.77.0.13:2222), tcp:// with TLS (dockerd --tlsverify on
10.77.0.13:2376) from the environment, a Docker context and greenroom.yml; and the refusals:
an unknown SSH host key, certificates from another CA, plain tcp://."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import greenroom
from greenroom.config import load_config
from greenroom.engine.address import TlsMaterial
from greenroom.engine.client import DockerEngine
from greenroom.engine.model import ContainerSpec
from greenroom.engine.transport import SshAdapter
from greenroom.errors import ConfigError, EngineError, EngineUnreachable
from tests.bed import TEST_LABEL, load_description, uid
from tests.waiting import wait_for

REMOTE: dict[str, Any] | None = load_description().get("remote")
BUSYBOX = load_description()["images"]["busybox"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(REMOTE is None, reason="the remote host e3 is not up: run `scripts/testbed up-e3`"),
]


def remote() -> dict[str, Any]:
    assert REMOTE is not None
    return REMOTE


ALIAS = "gr-e3-test"  # a Host alias only our ssh config knows: proves ssh reads it


def write_ssh_config(folder: Path, *, known_hosts: Path) -> Path:
    ssh = remote()["ssh"]
    path = folder / "ssh_config"
    path.write_text(
        textwrap.dedent(
            f"""\
            Host {ALIAS}
              HostName {ssh["host"]}
              Port {ssh["port"]}
              User {ssh["user"]}
              IdentityFile {ssh["key"]}
              IdentitiesOnly yes
              UserKnownHostsFile {known_hosts}
              GlobalKnownHostsFile /dev/null
            """
        )
    )
    return path


@pytest.fixture
def ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ~/.ssh/config-style file (alias, port, user, key, known hosts), given to ssh as -F."""
    known = tmp_path / "known_hosts"
    shutil.copy(remote()["ssh"]["known_hosts"], known)
    path = write_ssh_config(tmp_path, known_hosts=known)
    monkeypatch.setenv("GREENROOM_SSH_CONFIG", str(path))
    return path


def clean_env(**extra: str) -> dict[str, str]:
    drop = {"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(Path(greenroom.__file__).resolve().parents[1])  # the greenroom under test
    env.update(extra)
    return env


def ssh_children() -> list[int]:
    """ssh processes whose parent is this test process."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and comm == "ssh":
            found.append(int(entry))
    return found


def exercise(engine: DockerEngine) -> None:
    """Real operations through the engine: create, copy files in, start, exec, logs (plain
    and followed), inspect, remove."""
    assert engine.image_inspect(BUSYBOX) is not None
    name = f"gr-remote-{uid()}"
    script = "echo hello from $(hostname); i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"
    spec = ContainerSpec(
        name=name,
        image=BUSYBOX,
        network="bridge",
        command=("sh", "-c", script),
        labels={TEST_LABEL: "1"},
        restart="no",
        stop_signal="SIGKILL",
    )
    cid = engine.create_container(spec)
    try:
        big = os.urandom(256 * 1024)  # archive put: a body larger than any socket buffer
        engine.put_files(name, "/etc/remote-test", {"a.txt": b"through the remote engine\n", "big.bin": big})
        engine.start(name)
        info = engine.container(name)
        assert info.running and info.id == cid
        code, out = engine.exec(name, ["cat", "/etc/remote-test/a.txt"])
        assert (code, out) == (0, "through the remote engine\n")
        code, out = engine.exec(name, ["sh", "-c", "wc -c < /etc/remote-test/big.bin; exit 3"])
        assert (code, out.strip()) == (3, str(len(big)))
        wait_for(lambda: "tick 2" in engine.logs(name), timeout=10, what="the container's logs")
        assert engine.logs(name).startswith("hello from ")
        followed = []
        for chunk in engine.follow_logs(name, tail=0):  # streaming: new lines as they come
            followed.append(chunk)
            if len(followed) >= 3:
                break
        assert all("tick" in c for c in followed)
    finally:
        engine.remove(name)
    assert engine.containers(running_only=False, name=name) == []


def timed_calls(engine: DockerEngine, n: int = 40) -> float:
    """Median seconds of one API call (GET /version) on a warm connection."""
    engine._api.version()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        engine._api.version()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- ssh:// -----------------------------------------------------------------------------------


def test_ssh_engine_through_an_ssh_config_alias(ssh_config: Path) -> None:
    before = set(ssh_children())
    t = time.perf_counter()
    engine = DockerEngine(f"ssh://{ALIAS}")
    connect = time.perf_counter() - t
    try:
        assert not engine.is_local
        assert engine.info.version == remote()["version"]
        exercise(engine)
        # a pull streams its progress through the same transport; the "registry" is a closed
        # port on the test bed's outside host, so the engine's error comes back as an event
        registry = f"{load_description()['ext']['address']}:5999"
        with pytest.raises(EngineError, match=registry.replace(".", r"\.")):
            engine.pull(f"{registry}/nothing/here:1")
        assert engine.info.version == engine._api.version()["Version"]  # still usable
        # pooled: many calls, few ssh processes (one per pooled connection)
        for _ in range(30):
            engine._api.version()
        spawned = set(ssh_children()) - before
        adapter = engine._api.adapters["http+docker://"]
        assert isinstance(adapter, SshAdapter)
        assert 1 <= len(spawned) <= 3, spawned
        assert set(adapter.live_processes()) <= spawned
        per_call = timed_calls(engine)
        assert set(ssh_children()) - before == spawned  # no handshake per call: no new ssh
    finally:
        engine.close()
    wait_for(lambda: not set(ssh_children()) - before, timeout=5, what="ssh processes to end with close()")
    print(f"\nssh:// connect (ssh handshake + /_ping + /version) {connect * 1000:.0f} ms, ", end="")
    print(f"one API call on the pooled connection {per_call * 1000:.1f} ms")


def test_ssh_engine_with_user_and_port_in_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ssh = remote()["ssh"]
    cfg = tmp_path / "cfg"  # no Host block: only the key and known hosts come from the config
    cfg.write_text(
        f"IdentityFile {ssh['key']}\nIdentitiesOnly yes\nUserKnownHostsFile {ssh['known_hosts']}\n"
        "GlobalKnownHostsFile /dev/null\n"
    )
    monkeypatch.setenv("GREENROOM_SSH_CONFIG", str(cfg))
    engine = DockerEngine(f"ssh://{ssh['user']}@{ssh['host']}:{ssh['port']}")
    try:
        assert engine.info.api_version == remote()["api_version"]
        assert any(n.name == "bridge" for n in engine.networks())
    finally:
        engine.close()


def test_ssh_engine_from_a_docker_context(ssh_config: Path, tmp_path: Path) -> None:
    docker_config = tmp_path / "docker"
    env = clean_env(DOCKER_CONFIG=str(docker_config))
    subprocess.run(
        ["docker", "context", "create", "e3-ssh", "--docker", f"host=ssh://{ALIAS}"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(["docker", "context", "use", "e3-ssh"], env=env, check=True, capture_output=True)
    engine = DockerEngine(environ=env)  # currentContext of $DOCKER_CONFIG/config.json
    try:
        assert engine.host == f"ssh://{ALIAS}" and engine.endpoint.source == "context e3-ssh"
        assert engine.info.version == remote()["version"]
    finally:
        engine.close()


def test_an_unknown_ssh_host_key_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cfg = write_ssh_config(tmp_path, known_hosts=empty)
    monkeypatch.setenv("GREENROOM_SSH_CONFIG", str(cfg))
    before = set(ssh_children())
    with pytest.raises(EngineUnreachable) as caught:
        DockerEngine(f"ssh://{ALIAS}")
    err = caught.value
    assert f"the SSH host key of {ALIAS} is not in known_hosts" in err.message
    assert f"ssh-keyscan -p {remote()['ssh']['port']} {remote()['ssh']['host']}" in err.hint
    assert empty.read_text() == ""  # nothing was accepted on the user's behalf
    assert not set(ssh_children()) - before

    # the CLI: exit code 1, the message, no traceback
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", "routes", "--host", f"ssh://{ALIAS}"],
        capture_output=True,
        text=True,
        env=clean_env(GREENROOM_SSH_CONFIG=str(cfg), COLUMNS="200"),
        timeout=60,
    )
    assert res.returncode == 1, res
    assert "is not in known_hosts" in res.stderr and "ssh-keyscan" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "--host with an engine address is deprecated: use --engine" in res.stderr  # the old spelling


def test_the_cli_over_ssh(ssh_config: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", "routes", "--engine", f"ssh://{ALIAS}", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(GREENROOM_SSH_CONFIG=str(ssh_config), COLUMNS="200"),
        timeout=60,
    )
    assert res.returncode == 0, res.stderr


# -- tcp:// with TLS --------------------------------------------------------------------------


def test_tls_from_the_environment() -> None:
    tls = remote()["tls"]
    env = clean_env(DOCKER_HOST=remote()["tcp"], DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=tls["dir"])
    engine = DockerEngine(environ=env)
    try:
        assert engine.host == remote()["tcp"] and not engine.is_local
        assert engine.endpoint.tls is not None and engine.endpoint.tls.verify
        assert engine._api.base_url.startswith("https://")
        exercise(engine)
        tls_call = timed_calls(engine)
    finally:
        engine.close()
    local = DockerEngine(remote()["host"])
    try:
        unix_call = timed_calls(local)
    finally:
        local.close()
    print(f"\none API call: tcp+TLS {tls_call * 1000:.1f} ms, unix socket {unix_call * 1000:.1f} ms")


def test_tls_from_a_docker_context(tmp_path: Path) -> None:
    tls = remote()["tls"]
    docker_config = tmp_path / "docker"
    env = clean_env(DOCKER_CONFIG=str(docker_config))
    endpoint = f"host={remote()['tcp']},ca={tls['ca']},cert={tls['cert']},key={tls['key']}"
    subprocess.run(
        ["docker", "context", "create", "e3-tls", "--docker", endpoint],
        env=env,
        check=True,
        capture_output=True,
    )
    engine = DockerEngine(environ={**env, "DOCKER_CONTEXT": "e3-tls"})
    try:
        assert engine.endpoint.source == "context e3-tls"
        assert engine.endpoint.tls is not None
        assert str(docker_config / "contexts" / "tls") in str(engine.endpoint.tls.ca)
        exercise(engine)
    finally:
        engine.close()


def test_tls_from_greenroom_yml(tmp_path: Path) -> None:
    tls = remote()["tls"]
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca", "cert", "key"):
        shutil.copy(tls[name], certs / f"{name}.pem")
    (tmp_path / "greenroom.yml").write_text(
        textwrap.dedent(
            f"""\
            engine:
              host: {remote()["tcp"]}
              helper_image: {BUSYBOX}
              tls: {{ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}}
            apps:
              web: {{image: "web:1", port: 8000}}
            """
        )
    )
    cfg = load_config(tmp_path / "greenroom.yml", environ={})
    engine = DockerEngine.from_config(cfg.engine)
    try:
        assert engine.endpoint.tls is not None and engine.endpoint.tls.source == "engine.tls"
        exercise(engine)
        # a helper container through the engine (what health probes and route reads use remotely)
        out = engine.run_helper(BUSYBOX, ["cat", "/proc/net/route"], network_mode="host")
        assert "Iface" in out
    finally:
        engine.close()


@pytest.fixture
def other_ca_dir(tmp_path: Path) -> Path:
    """A DOCKER_CERT_PATH whose CA and client certificate belong to another CA."""
    tls = remote()["tls"]
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(tls["other_ca"], folder / "ca.pem")
    shutil.copy(tls["other_cert"], folder / "cert.pem")
    shutil.copy(tls["other_key"], folder / "key.pem")
    return folder


def test_a_server_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    tls = remote()["tls"]
    wrong = TlsMaterial(ca=tls["other_ca"], cert=tls["cert"], key=tls["key"], source="engine.tls")
    with pytest.raises(EngineUnreachable) as caught:
        DockerEngine(remote()["tcp"], tls=wrong, environ=clean_env())
    assert "TLS with 10.77.0.13:2376 failed: the engine's certificate is not signed by the CA" in str(
        caught.value
    )
    assert caught.value.where == remote()["tcp"]


def test_a_client_certificate_from_another_ca_is_refused() -> None:
    tls = remote()["tls"]
    wrong = TlsMaterial(ca=tls["ca"], cert=tls["other_cert"], key=tls["other_key"], source="engine.tls")
    with pytest.raises(EngineUnreachable, match="does not accept the client certificate"):
        DockerEngine(remote()["tcp"], tls=wrong, environ=clean_env())
    no_cert = TlsMaterial(ca=tls["ca"], source="engine.tls")
    with pytest.raises(EngineUnreachable, match="requires a client certificate"):
        DockerEngine(remote()["tcp"], tls=no_cert, environ=clean_env())


def test_wrong_certificates_in_the_cli(other_ca_dir: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", "routes"],
        capture_output=True,
        text=True,
        env=clean_env(
            DOCKER_HOST=remote()["tcp"],
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(other_ca_dir),
            COLUMNS="200",
        ),
        timeout=60,
    )
    assert res.returncode == 1, res
    assert f"{remote()['tcp']}: TLS with 10.77.0.13:2376 failed" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


# -- plain tcp:// -----------------------------------------------------------------------------


def test_plain_tcp_is_refused_without_the_opt_in(tmp_path: Path) -> None:
    plain = f"tcp://{remote()['address']}:2375"
    with pytest.raises(ConfigError, match="plain, unencrypted HTTP"):
        DockerEngine(plain, environ=clean_env())
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", "routes", "--engine", plain],
        capture_output=True,
        text=True,
        env=clean_env(COLUMNS="200"),
        timeout=60,
    )
    assert res.returncode == 2, res
    assert "plain, unencrypted HTTP" in res.stderr and "insecure_plain_tcp" in res.stderr
    assert "Traceback" not in res.stderr


def test_plain_tcp_with_the_opt_in_is_attempted() -> None:
    """With engine.insecure_plain_tcp the request is made: here to the TLS port, which refuses it."""
    with pytest.raises(EngineError) as caught:
        DockerEngine(remote()["tcp"], insecure_plain_tcp=True, environ=clean_env())
    assert not isinstance(caught.value, ConfigError)


@pytest.fixture(autouse=True)
def _no_leftover_containers() -> Iterator[None]:
    yield
    engine = DockerEngine(remote()["host"])
    try:
        for c in engine.containers(running_only=False, label=TEST_LABEL):
            if c.name.startswith("gr-remote-"):
                engine.remove(c.name)
    finally:
        engine.close()
