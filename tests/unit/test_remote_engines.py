"""Remote engines without an engine: ssh:// addresses and command lines, what ssh's failures
mean, Docker contexts and TLS material from a temp DOCKER_CONFIG, plain tcp:// refused, the
engine.tls config keys, and the ssh transport itself against a fake `ssh` that speaks HTTP
on its stdin/stdout (pooling, streaming, failures)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from greenroom.config import Config, load_config
from greenroom.engine import transport
from greenroom.engine.address import (
    EngineAddress,
    TlsMaterial,
    context_address,
    refuse_plain_tcp,
    resolve_address,
    tls_from_env,
)
from greenroom.engine.client import DockerEngine, default_host
from greenroom.engine.ssh_command import SshTarget, explain_ssh_failure, ssh_command_for
from greenroom.engine.tls import tls_reason
from greenroom.engine.transport import SshAdapter
from greenroom.errors import ConfigError, EngineHung, EngineUnreachable
from tests.waiting import wait_for

# -- ssh:// addresses and the command line ---------------------------------------------------


def test_ssh_target_parsing() -> None:
    assert SshTarget.parse("ssh://box") == SshTarget("box")
    assert SshTarget.parse("ssh://deploy@box:2222") == SshTarget("box", "deploy", 2222)
    assert SshTarget.parse("ssh://deploy@box:2222/") == SshTarget("box", "deploy", 2222)
    assert SshTarget.parse("ssh://[fd00::1]:22") == SshTarget("fd00::1", None, 22)
    assert SshTarget.parse("ssh://[fd00::1]:22").display == "ssh://[fd00::1]:22"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ssh://box/var/run/docker.sock", "no path"),
        ("ssh://u:secret@box", "passwords"),
        ("ssh://box:0", "port"),
        ("ssh://box:99999", "port"),
        ("ssh://", "no host"),
        ("ssh://-oProxyCommand=x", "may not start with '-'"),
        ("tcp://box", "not an ssh://"),
    ],
)
def test_bad_ssh_addresses(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        SshTarget.parse(url)


def test_ssh_command_line_as_the_docker_cli_builds_it() -> None:
    argv = ssh_command_for("ssh://deploy@box:2222", {})
    assert argv == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=30",
        "-o",
        "ControlMaster=no",
        "-T",
        "-x",
        "-l",
        "deploy",
        "-p",
        "2222",
        "--",
        "box",
        "docker",
        "system",
        "dial-stdio",
    ]
    # nothing that ~/.ssh/config could set (user, port) is forced when the URL does not say it
    plain = ssh_command_for("ssh://box", {})
    assert "-p" not in plain and "-l" not in plain and plain[-4:] == ["box", "docker", "system", "dial-stdio"]


def test_ssh_config_file_and_program_from_the_environment() -> None:
    argv = ssh_command_for("ssh://box", {"GREENROOM_SSH_CONFIG": "/tmp/cfg", "GREENROOM_SSH": "ssh -v"})
    assert argv[:4] == ["ssh", "-v", "-F", "/tmp/cfg"]


# -- what ssh's failures mean ----------------------------------------------------------------


def test_unknown_host_key_names_the_host_and_how_to_add_it() -> None:
    err = explain_ssh_failure(
        SshTarget("box", None, 2222), 255, "Host key verification failed.\r\n", ("10.0.0.5", 2222)
    )
    assert "host key of box is not in known_hosts" in err.message
    assert "ssh-keyscan -p 2222 10.0.0.5" in err.hint
    assert err.where == "ssh://box:2222"


def test_changed_host_key() -> None:
    text = "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.\n"
    err = explain_ssh_failure(SshTarget("box"), 255, text)
    assert "has changed" in err.message and "ssh-keygen -R box" in err.hint


def test_login_refused_and_missing_docker_and_no_route() -> None:
    denied = explain_ssh_failure(
        SshTarget("box", "deploy"), 255, "deploy@box: Permission denied (publickey)."
    )
    assert "login to box was refused" in denied.message and "never prompts" in denied.hint
    missing = explain_ssh_failure(SshTarget("box"), 127, "bash: line 1: docker: command not found")
    assert "dial-stdio` could not run on box" in missing.message
    refused = explain_ssh_failure(
        SshTarget("box"), 255, "ssh: connect to host box port 22: Connection refused"
    )
    assert "cannot connect to box over SSH (ssh: connect to host box port 22: Connection refused)" in (
        refused.message
    )


# -- contexts, TLS material, DOCKER_HOST -----------------------------------------------------


def _context(config: Path, name: str, host: str, *, tls: bool = True, skip_verify: bool = False) -> Path:
    cid = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / cid
    meta.mkdir(parents=True)
    doc = {
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
    }
    (meta / "meta.json").write_text(json.dumps(doc))
    tls_dir = config / "contexts" / "tls" / cid / "docker"
    if tls:
        tls_dir.mkdir(parents=True)
        for f in ("ca", "cert", "key"):
            (tls_dir / f"{f}.pem").write_text(f"{f}\n")
    return tls_dir


def test_context_carries_its_tls_files(tmp_path: Path) -> None:
    tls_dir = _context(tmp_path, "prod", "tcp://prod:2376")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "prod"}))
    ep = resolve_address(None, environ={"DOCKER_CONFIG": str(tmp_path)})
    assert ep.host == "tcp://prod:2376" and ep.source == "context prod"
    assert ep.tls == TlsMaterial(
        ca=str(tls_dir / "ca.pem"),
        cert=str(tls_dir / "cert.pem"),
        key=str(tls_dir / "key.pem"),
        verify=True,
        source="Docker context prod",
    )
    assert not ep.is_local and ep.is_tcp


def test_docker_context_env_beats_config_json_and_docker_host_beats_both(tmp_path: Path) -> None:
    _context(tmp_path, "prod", "tcp://prod:2376")
    _context(tmp_path, "edge", "ssh://deploy@edge", tls=False)
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "prod"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "edge"}
    ep = resolve_address(None, environ=env)
    assert (ep.host, ep.tls, ep.scheme) == ("ssh://deploy@edge", None, "ssh")
    ep = resolve_address(None, environ={**env, "DOCKER_HOST": "unix:///run/x.sock"})
    assert (ep.host, ep.source, ep.is_local) == ("unix:///run/x.sock", "DOCKER_HOST", True)
    assert (
        resolve_address(None, environ={**env, "DOCKER_CONTEXT": "default"}).host
        == "unix:///var/run/docker.sock"
    )


def test_skip_tls_verify_of_a_context(tmp_path: Path) -> None:
    _context(tmp_path, "lab", "tcp://lab:2376", tls=False, skip_verify=True)
    ep = context_address("lab", {"DOCKER_CONFIG": str(tmp_path)})
    assert ep.tls is not None and ep.tls.verify is False and ep.tls.ca is None


def test_an_address_taken_from_the_context_keeps_its_tls(tmp_path: Path) -> None:
    """`DockerEngine(default_host())` (the CLI's pattern) must not lose the context's certificates."""
    _context(tmp_path, "prod", "tcp://prod:2376")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "prod"}
    host = default_host(env)
    ep = resolve_address(host, environ=env)
    assert ep.tls is not None and ep.tls.source == "Docker context prod"
    assert resolve_address("tcp://other:2376", environ=env).tls is None


def test_tls_from_environment(tmp_path: Path) -> None:
    for f in ("ca", "cert", "key"):
        (tmp_path / f"{f}.pem").write_text("x")
    env = {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    ep = resolve_address(None, environ=env)
    assert ep.tls is not None and ep.tls.verify and ep.tls.cert == str(tmp_path / "cert.pem")
    # DOCKER_TLS alone: encrypted, not verified (as the Docker CLI does)
    only_tls = tls_from_env({"DOCKER_TLS": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert only_tls is not None and only_tls.verify is False
    # DOCKER_CERT_PATH without a flag: TLS, verified (never a silent plain connection)
    path_only = tls_from_env({"DOCKER_CERT_PATH": str(tmp_path)})
    assert path_only is not None and path_only.verify
    # ~/.docker when DOCKER_CERT_PATH is unset
    home = tls_from_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": str(tmp_path)})
    assert home is not None and home.ca == str(tmp_path / "ca.pem")
    assert tls_from_env({}) is None
    assert tls_from_env({"DOCKER_TLS_VERIFY": ""}) is None


def test_verification_without_a_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ca\.pem does not exist"):
        tls_from_env({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})


def test_config_tls_wins_over_environment(tmp_path: Path) -> None:
    for f in ("ca", "cert", "key"):
        (tmp_path / f"{f}.pem").write_text("x")
    mine = TlsMaterial(ca="/etc/mine.pem", source="engine.tls")
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    assert resolve_address("tcp://h:2376", tls=mine, environ=env).tls == mine


def test_tls_material_checks_its_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TlsMaterial(ca=str(tmp_path / "nope.pem"), source="engine.tls").check()
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(ConfigError, match="both cert and key"):
        TlsMaterial(cert=str(tmp_path / "c.pem"), source="engine.tls").check()


# -- plain tcp:// ----------------------------------------------------------------------------


def test_plain_tcp_is_refused_unless_asked_for() -> None:
    plain = EngineAddress("tcp://10.0.0.5:2375", "engine.host")
    with pytest.raises(ConfigError, match="plain, unencrypted HTTP") as caught:
        refuse_plain_tcp(plain, allowed=False, environ={})
    assert "engine.insecure_plain_tcp: true" in caught.value.hint
    assert caught.value.exit_code == 2
    refuse_plain_tcp(plain, allowed=True, environ={})
    refuse_plain_tcp(plain, allowed=False, environ={"GREENROOM_INSECURE_PLAIN_TCP": "1"})
    refuse_plain_tcp(EngineAddress("tcp://h:2376", "x", TlsMaterial(ca="/c")), allowed=False, environ={})
    refuse_plain_tcp(EngineAddress("ssh://h", "x"), allowed=False, environ={})
    refuse_plain_tcp(EngineAddress("unix:///run/d.sock", "x"), allowed=False, environ={})
    with pytest.raises(ConfigError):
        refuse_plain_tcp(EngineAddress("http://h:2375", "x"), allowed=False, environ={})


def test_engine_refuses_plain_tcp_before_connecting() -> None:
    with pytest.raises(ConfigError, match="plain, unencrypted"):
        DockerEngine("tcp://192.0.2.1:2375", environ={})


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("unix:///run/x.sock", True),
        ("/run/x.sock", True),
        ("ssh://box", False),
        ("tcp://box:2376", False),
        ("https://box:2376", False),
    ],
)
def test_only_local_sockets_are_local(host: str, local: bool) -> None:
    assert EngineAddress(host, "x").is_local is local


def test_tls_reasons_in_words() -> None:
    tls = TlsMaterial(ca="/ca.pem", cert="/cert.pem", key="/key.pem")
    verify = (
        "Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: unable to get local issuer certificate (_ssl.c:992)'))"
    )
    assert tls_reason(verify, tls) == (
        "the engine's certificate is not signed by the CA /ca.pem "
        "(certificate verify failed: unable to get local issuer certificate)"
    )
    alert = "SSLError(1, '[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2546)')"
    assert tls_reason(alert, tls).startswith("the engine does not accept the client certificate /cert.pem")
    required = "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required (_ssl.c:2546)"
    assert "requires a client certificate" in tls_reason(required, tls)


# -- engine.tls in greenroom.yml -------------------------------------------------------------


def test_engine_tls_config_keys(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    for f in ("ca", "cert", "key"):
        (tmp_path / "certs" / f"{f}.pem").write_text("x")
    (tmp_path / "greenroom.yml").write_text(
        textwrap.dedent(
            """\
            engine:
              host: tcp://10.0.0.5:2376
              tls: {ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}
            apps:
              web: {image: "web:1", port: 8000}
            """
        )
    )
    cfg = load_config(tmp_path / "greenroom.yml", environ={})
    assert cfg.engine.tls.given and cfg.engine.tls.verify
    assert cfg.engine.tls.ca == str(tmp_path / "certs" / "ca.pem")  # relative to the file's folder
    assert cfg.engine.insecure_plain_tcp is False
    unset = load_config_text(tmp_path, "engine: {host: 'ssh://box'}\n")
    assert not unset.engine.tls.given


def load_config_text(folder: Path, engine: str) -> Config:
    path = folder / "g2.yml"
    path.write_text(engine + 'apps:\n  web: {image: "web:1", port: 8000}\n')
    return load_config(path, environ={})


def test_engine_tls_config_errors(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_text(tmp_path, "engine: {tls: {ca: missing.pem}}\n")
    with pytest.raises(ConfigError, match="cert and key go together"):
        load_config_text(tmp_path, "engine: {tls: {ca: c.pem, cert: c.pem}}\n")
    with pytest.raises(ConfigError):
        load_config_text(tmp_path, "engine: {tls: {ca: c.pem, verfy: false}}\n")


# -- the ssh transport against a fake ssh ----------------------------------------------------

FAKE_SSH = r"""
import json, os, sys, time
inp, out = sys.stdin.buffer, sys.stdout.buffer
log = os.environ["FAKE_SSH_LOG"]
with open(log, "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:]}) + "\n")
mode = os.environ.get("FAKE_SSH_MODE", "ok")
if mode == "hostkey":
    sys.stderr.write("Host key verification failed.\r\n")
    sys.exit(255)
if mode == "silent":
    time.sleep(30)
    sys.exit(0)
time.sleep(float(os.environ.get("FAKE_SSH_LOGIN", "0")))  # what an ssh login costs
def send(status, body, ctype="application/json", chunks=None, close=False):
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: {ctype}\r\nApi-Version: 1.51\r\n"
    if close:
        head += "Connection: close\r\n"
    if chunks is not None:
        out.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
        for c in chunks:
            out.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
            out.flush()
            time.sleep(0.05)
        out.write(b"0\r\n\r\n")
    else:
        out.write((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    out.flush()
while True:
    line = inp.readline()
    if not line:
        break
    method, path, _ = line.decode().split(" ", 2)
    length = 0
    while True:
        h = inp.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = inp.read(length) if length else b""
    if mode == "dies" and path.endswith("/json"):
        sys.stderr.write("Connection to box closed by remote host.\r\n")
        sys.exit(255)
    if path.endswith("/takeover"):  # as an exec's upgraded stream: the connection ends with it
        send(200, b"{}", close=True)
        break
    if path == "/_ping":
        send(200, b"OK", "text/plain")
    elif path.endswith("/version"):
        send(200, json.dumps({"Version": "28.5.2", "ApiVersion": "1.51", "Pid": os.getpid()}).encode())
    elif path.endswith("/containers/c1/json"):
        send(200, json.dumps({"Id": "c1", "Config": {"Tty": False}}).encode())
    elif "/logs" in path:
        frames = [b"\x01\x00\x00\x00\x00\x00\x00\x07line " + str(i).encode() + b"\n" for i in range(3)]
        send(200, b"", "application/vnd.docker.raw-stream", chunks=frames)
    elif "/archive" in path:
        send(200, json.dumps({"got": len(body)}).encode())
    else:
        send(404, json.dumps({"message": "no such thing"}).encode())
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake-ssh"
    script.write_text(f"#!{sys.executable}\n{FAKE_SSH}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("GREENROOM_SSH", str(script))
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    monkeypatch.delenv("GREENROOM_SSH_CONFIG", raising=False)
    return log


def _spawned(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_one_ssh_process_serves_many_calls(fake_ssh: Path) -> None:
    engine = DockerEngine("ssh://deploy@box:2222")
    try:
        assert not engine.is_local
        assert engine.info.version == "28.5.2"
        pids = {engine._api.version()["Pid"] for _ in range(20)}
        assert len(pids) == 1  # pooled: the same ssh process answered every call
        spawned = _spawned(fake_ssh)
        assert len(spawned) == 1
        assert spawned[0]["argv"][-6:] == ["2222", "--", "box", "docker", "system", "dial-stdio"]
        # streaming through it: a followed log, chunk by chunk
        assert list(engine.follow_logs("c1")) == ["line 0\n", "line 1\n", "line 2\n"]
        engine.put_files("c1", "/etc/app", {"a.conf": b"x" * 100_000})
    finally:
        engine.close()
    pid = next(iter(pids))
    wait_for(lambda: not _alive(pid), what="the ssh process to end with the closed engine")


def test_an_unknown_host_key_is_a_clear_error(fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "hostkey")
    with pytest.raises(EngineUnreachable, match="host key of box is not in known_hosts") as caught:
        DockerEngine("ssh://box")
    assert caught.value.where == "ssh://box"


def test_an_ssh_that_never_answers_times_out(fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "silent")
    monkeypatch.setattr(transport, "LOGIN_FLOOR", 1.0)  # a login has 10 s at least otherwise
    with pytest.raises(EngineHung, match=r"ssh://box did not answer within 1 s \(connect\)") as caught:
        DockerEngine("ssh://box", call_timeout=1)
    assert "engine.call_timeout" in caught.value.hint


def test_a_missing_ssh_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GREENROOM_SSH", str(tmp_path / "no-such-ssh"))
    with pytest.raises(EngineUnreachable, match="cannot run ssh"):
        DockerEngine("ssh://box")


def test_ssh_dying_mid_request_is_told_in_its_words(fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SSH_MODE", "dies")
    engine = DockerEngine("ssh://box")
    try:
        with pytest.raises(
            EngineUnreachable, match=r"over SSH \(Connection to box closed by remote host\.\)"
        ):
            engine.container("x")
    finally:
        engine.close()


def test_a_spare_login_is_ready_when_connections_get_used_up(
    fake_ssh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DockerEngine("ssh://box")
    api = engine._api
    adapter = api.adapters["http+docker://"]
    assert isinstance(adapter, SshAdapter)
    takeover = f"{api.base_url}/takeover"
    try:
        api.get(takeover)  # uses up the first connection
        api.version()  # a second login: from now on the pool keeps a spare
        wait_for(lambda: adapter.pool._spare is not None, what="the spare login")
        api.get(takeover)
        monkeypatch.setenv("FAKE_SSH_MODE", "hostkey")  # from now on every new login fails
        assert api.version()["Version"]  # served by the spare, logged in before
    finally:
        engine.close()
    pids = [entry["pid"] for entry in _spawned(fake_ssh)]
    wait_for(lambda: not any(_alive(pid) for pid in pids), what="every ssh process to end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
