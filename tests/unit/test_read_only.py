"""Commands that only look need no deploy-time values; a plan changes nothing on the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greenroom.cli.app import run
from greenroom.config import load_config, load_config_lenient, secret_values
from greenroom.deploy import host as host_module
from greenroom.deploy.host import DockerHost
from greenroom.deploy.plan import TENTATIVE
from greenroom.deploy.state import HostState
from greenroom.deploy.steps import EnsureNetwork, EnsureProxy, PullImage
from greenroom.errors import ConfigError
from greenroom.gateway.rules import EngineRules

CONFIG = """engine: {host: "unix:///nonexistent/greenroom-test.sock"}
apps:
  web:
    image: registry.example.com/shop/web:${WEB_TAG}
    port: 8000
    hosts: ["shop.${DOMAIN}"]
    environment: {RELEASE: "${RELEASE?set by the pipeline}", MODE: "${MODE:-prod}"}
    secrets: {SESSION_KEY: "${WEB_SESSION_KEY}"}
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "greenroom.yml"
    path.write_text(text)
    return path


def test_strict_loading_refuses_unset_variables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path), environ={})
    assert info.value.message.splitlines() == [
        "4 problems:",
        "apps.web.image: variable WEB_TAG is not set (line 4)",
        "apps.web.hosts.0: variable DOMAIN is not set (line 6)",
        "apps.web.environment.RELEASE: variable RELEASE is not set: set by the pipeline (line 7)",
        "apps.web.secrets.SESSION_KEY: variable WEB_SESSION_KEY is not set (line 8)",
    ]


def test_lenient_loading_reads_them_empty_and_says_so(tmp_path: Path) -> None:
    cfg, warnings = load_config_lenient(write(tmp_path), environ={})
    web = cfg.apps["web"]
    assert web.environment == {"RELEASE": "", "MODE": "prod"}
    assert web.image == "registry.example.com/shop/web:"
    assert secret_values(cfg) == {""}
    # a value that does not validate empty (the host name "shop.") reads as "unset"
    assert web.hosts == ("shop.unset",)
    assert warnings == [
        "apps.web.image: variable WEB_TAG is not set; read as empty",
        "apps.web.hosts.0: variable DOMAIN is not set; read as 'unset'",
        "apps.web.environment.RELEASE: variable RELEASE is not set: set by the pipeline; read as empty",
        "apps.web.secrets.SESSION_KEY: variable WEB_SESSION_KEY is not set; read as empty",
    ]
    # set variables are used as ever, and nothing is said
    env = {"WEB_TAG": "v7", "DOMAIN": "example.com", "RELEASE": "r1", "WEB_SESSION_KEY": "k" * 12}
    cfg, warnings = load_config_lenient(write(tmp_path), environ=env)
    assert cfg.apps["web"].image.endswith(":v7") and warnings == []
    assert cfg == load_config(write(tmp_path), environ=env)


def test_lenient_loading_still_refuses_what_is_wrong_anyway(tmp_path: Path) -> None:
    bad = CONFIG.replace("port: 8000", "port: ${PORT}") + "    drain_timeout: forever\n"
    with pytest.raises(ConfigError) as info:
        load_config_lenient(write(tmp_path, bad), environ={})
    message = info.value.message
    assert "apps.web.drain_timeout" in message
    assert "apps.web.port" in message  # empty and "unset" are no port


@pytest.mark.parametrize(
    "args",
    [["status"], ["logs", "web"], ["history", "web"], ["proxy", "status"], ["unlock", "web"]],
)
def test_read_only_commands_load_leniently(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WEB_TAG", "DOMAIN", "RELEASE", "WEB_SESSION_KEY"):
        monkeypatch.delenv(name, raising=False)
    code = run([*args, "--file", str(write(tmp_path))])
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'greenroom.yml'}: apps.web.image: variable WEB_TAG is not set" in err
    assert code == 1  # past the config: the engine (none here) is what fails
    assert "nonexistent" in err


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "web"],
        ["deploy", "--dry-run"],
        ["plan"],
        ["rollback", "web"],
        ["maintenance", "on", "web"],
        ["repair"],
        ["proxy", "reboot"],
    ],
)
def test_commands_that_act_or_plan_load_strictly(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WEB_TAG", "DOMAIN", "RELEASE", "WEB_SESSION_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert run([*args, "--file", str(write(tmp_path))]) == 2
    assert "apps.web.image: variable WEB_TAG is not set" in capsys.readouterr().err


class NoEngine:
    """An engine a dry run may not touch but to look: any other call fails the test."""

    host = "unix:///fake.sock"
    is_local = False

    def __init__(self, host: str | None = None) -> None:
        pass

    @classmethod
    def from_config(cls, engine: object, host: str | None = None) -> NoEngine:
        return cls(host)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a dry run called engine.{name}")


def fresh_host(_: DockerHost) -> HostState:
    return HostState(
        "unix:///fake.sock", None, None, None, {}, rules=EngineRules.of("28.5.2", "1.51")
    )  # no proxy, no networks


def test_a_plan_on_a_new_host_touches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_module, "DockerEngine", NoEngine)
    monkeypatch.setattr(DockerHost, "observe", fresh_host)
    env = {"WEB_TAG": "v1", "DOMAIN": "example.com", "RELEASE": "r1", "WEB_SESSION_KEY": "k" * 12}
    g = DockerHost(load_config(write(tmp_path), environ=env))
    plan = g.plan("web")
    kinds = [type(s) for s in plan.steps]
    assert kinds[:4] == [EnsureNetwork, EnsureNetwork, EnsureNetwork, EnsureProxy]
    assert PullImage in kinds
    assert plan.notes == (TENTATIVE,)
    with pytest.raises(ConfigError, match="no retained release"):  # before any lock or pull
        g.rollback_plan("web")
