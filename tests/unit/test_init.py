"""`greenroom init`: the rendering (pure, from image-inspect data) and the command (with a fake engine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from greenroom.cli import init_cmd
from greenroom.cli.app import run
from greenroom.config import load_config
from greenroom.scaffold import app_name, image_facts, render_config

SECOND = 1_000_000_000  # Docker's durations are in nanoseconds

NGINX = {
    "Id": "sha256:1",
    "Config": {
        "ExposedPorts": {"80/tcp": {}},
        "Healthcheck": {
            "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
            "Interval": 10 * SECOND,
            "Timeout": 3 * SECOND,
            "StartPeriod": 5 * SECOND,
            "Retries": 3,
        },
    },
}
SLOW = {
    "Config": {"ExposedPorts": {"5432/tcp": {}}, "Healthcheck": {"Test": ["CMD", "pg_isready"], "Retries": 5}}
}
PLAIN: dict[str, Any] = {"Config": {"ExposedPorts": {"9000/tcp": {}, "8080/tcp": {}, "53/udp": {}}}}
NOTHING: dict[str, Any] = {"Config": {"ExposedPorts": None, "Healthcheck": {"Test": ["NONE"]}}}


def loads(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "greenroom.yml"
    path.write_text(text)
    return load_config(path, environ={})


def test_port_and_docker_health_check_from_the_image(tmp_path: Path) -> None:
    facts = image_facts("nginx:1.27", NGINX)
    assert facts.ports == (80,)
    assert facts.health is not None
    assert facts.health.test == "curl -f http://localhost/ || exit 1"
    text = render_config(facts, app="nginx", image="nginx:1.27", host=None)
    assert "# The image's HEALTHCHECK (curl -f http://localhost/ || exit 1):" in text
    assert "# from the image's EXPOSE 80" in text
    cfg = loads(tmp_path, text)
    app = cfg.apps["nginx"]
    assert (app.image, app.port, app.healthcheck.type) == ("nginx:1.27", 80, "docker")
    # the proxy is created publishing HTTPS too: adding tls: later needs no new proxy
    assert cfg.proxy.https() and cfg.proxy.redirect_port() == 443
    assert app.healthcheck.deadline == 60.0  # 5 + 10 x (3 + 1) + 3 is less than a minute


def test_the_deadline_covers_a_slow_health_check(tmp_path: Path) -> None:
    facts = image_facts("postgres:16", SLOW)
    assert facts.health is not None
    assert (facts.health.interval, facts.health.timeout, facts.health.retries) == (30.0, 30.0, 5)
    app = loads(tmp_path, render_config(facts, app="db", image="postgres:16", host=None)).apps["db"]
    assert (app.port, app.healthcheck.type, app.healthcheck.deadline) == (5432, "docker", 210.0)


def test_without_a_healthcheck_tcp_and_a_preferred_port(tmp_path: Path) -> None:
    facts = image_facts("registry.example.com:5000/team/My_App:2@sha256:abc", PLAIN)
    assert facts.ports == (8080, 9000)
    text = render_config(facts, app="my-app", image=facts.image, host="ssh://deploy@box")
    assert "(it also EXPOSEs 9000)" in text
    assert "The image has no HEALTHCHECK" in text
    cfg = loads(tmp_path, text)
    app = cfg.apps["my-app"]
    assert (app.port, app.healthcheck.type, app.image) == (8080, "tcp", facts.image)
    assert cfg.engine.host == "ssh://deploy@box"


def test_an_image_without_ports_gets_a_placeholder_port(tmp_path: Path) -> None:
    facts = image_facts("busybox", NOTHING)
    assert (facts.ports, facts.health) == ((), None)
    text = render_config(facts, app="busybox", image="busybox", host="unix:///var/run/docker.sock")
    assert "the image EXPOSEs no port" in text
    cfg = loads(tmp_path, text)
    assert cfg.apps["busybox"].port == 8080
    assert cfg.engine.host is None  # the local default stays implicit


def test_an_explicit_port_wins(tmp_path: Path) -> None:
    text = render_config(image_facts("nginx", NGINX), app="web", image="nginx", host=None, port=8081)
    assert loads(tmp_path, text).apps["web"].port == 8081


def test_no_image_at_all(tmp_path: Path) -> None:
    text = render_config(None, app="shop", image="shop:latest", host=None)
    app = loads(tmp_path, text).apps["shop"]
    assert (app.image, app.port, app.healthcheck.type) == ("shop:latest", 8080, "tcp")


@pytest.mark.parametrize(
    ("hint", "name"),
    [
        ("nginx", "nginx"),
        ("nginx:1.27", "nginx"),
        ("ghcr.io/org/My_Web.App:v2", "my-web-app"),
        ("localhost:5000/api@sha256:0123", "api"),
        ("2048-game", "game"),
        ("___", "app"),
        ("x" * 40, "x" * 31),
    ],
)
def test_app_names(hint: str, name: str) -> None:
    assert app_name(hint) == name


# --- the command ---------------------------------------------------------------------------


class FakeEngine:
    made: ClassVar[list[str]] = []
    images: ClassVar[dict[str, dict[str, Any]]] = {}
    pulled: ClassVar[list[str]] = []

    def __init__(self, host: str) -> None:
        FakeEngine.made.append(host)

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        return FakeEngine.images.get(ref) if ref in FakeEngine.pulled or ref == "nginx:1.27" else None

    def pull(self, ref: str) -> None:
        FakeEngine.pulled.append(ref)


@pytest.fixture
def docker_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Docker config folder whose current context is ssh://deploy@box."""
    folder = tmp_path / "docker"
    meta = folder / "contexts" / "meta" / hashlib.sha256(b"box").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Endpoints": {"docker": {"Host": "ssh://deploy@box"}}}))
    (folder / "config.json").write_text(json.dumps({"currentContext": "box"}))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.setattr(init_cmd, "DockerEngine", FakeEngine)
    monkeypatch.setattr(FakeEngine, "made", [])
    monkeypatch.setattr(FakeEngine, "pulled", [])
    monkeypatch.setattr(FakeEngine, "images", {"nginx:1.27": NGINX, "app:2": PLAIN})
    return folder


def test_init_writes_a_file_that_config_check_accepts(
    tmp_path: Path, docker_context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "greenroom.yml"
    assert run(["init", "nginx:1.27", "--file", str(path)]) == 0
    assert FakeEngine.made == ["ssh://deploy@box"]  # the engine of the current Docker context
    out = capsys.readouterr().out
    assert out == f"wrote {path} for app nginx: port 80, health check docker; see `greenroom config check`\n"
    assert 'host: "ssh://deploy@box"' in path.read_text()
    assert run(["config", "check", "--file", str(path)]) == 0
    assert "type: docker" in capsys.readouterr().out


def test_init_pulls_a_missing_image(tmp_path: Path, docker_context: Path) -> None:
    path = tmp_path / "greenroom.yml"
    assert run(["init", "app:2", "--name", "shop", "--file", str(path)]) == 0
    assert FakeEngine.pulled == ["app:2"]
    assert load_config(path, environ={}).apps["shop"].port == 8080


def test_init_never_overwrites(
    tmp_path: Path, docker_context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "greenroom.yml"
    path.write_text("mine\n")
    assert run(["init", "nginx:1.27", "--file", str(path)]) == 2
    assert path.read_text() == "mine\n"
    assert FakeEngine.made == []  # refused before asking the engine
    err = capsys.readouterr().err
    assert f"error: {path}: already exists; greenroom init does not overwrite it" in err
    assert "hint: edit it, remove it, or write another file with --file" in err


def test_init_refuses_a_name_that_would_not_load(
    tmp_path: Path, docker_context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "greenroom.yml"
    assert run(["init", "--name", "Web", "--file", str(path)]) == 2
    assert not path.exists()
    assert "would not be a valid config: apps.Web: invalid app name 'Web'" in capsys.readouterr().err
