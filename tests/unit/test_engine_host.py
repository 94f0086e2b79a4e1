from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from greenroom.engine.client import default_host
from greenroom.errors import EngineUnreachable


def test_docker_host_wins() -> None:
    assert default_host({"DOCKER_HOST": "ssh://deploy@app-1", "HOME": "/nowhere"}) == "ssh://deploy@app-1"


def test_local_socket_by_default(tmp_path: Path) -> None:
    assert default_host({"HOME": str(tmp_path)}) == "unix:///var/run/docker.sock"


def test_current_docker_context(tmp_path: Path) -> None:
    docker = tmp_path / ".docker"
    meta = docker / "contexts" / "meta" / hashlib.sha256(b"prod").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "prod", "Endpoints": {"docker": {"Host": "tcp://prod:2376"}}})
    )
    (docker / "config.json").write_text(json.dumps({"currentContext": "prod"}))
    assert default_host({"HOME": str(tmp_path)}) == "tcp://prod:2376"
    assert default_host({"HOME": str(tmp_path), "DOCKER_CONTEXT": "default"}) == "unix:///var/run/docker.sock"
    with pytest.raises(EngineUnreachable, match="'staging'"):
        default_host({"HOME": str(tmp_path), "DOCKER_CONTEXT": "staging"})
