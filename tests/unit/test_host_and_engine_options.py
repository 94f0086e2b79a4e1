"""--host names a host of `hosts:`; --engine gives an engine address; --host with an address
(the old spelling of --engine) still works without `hosts:`, with a warning (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenroom.cli.options import where
from greenroom.cli.output import output
from greenroom.config import Config, load_config
from greenroom.errors import ConfigError

APP = "apps:\n  web: {image: 'web:1', port: 8000}\n"
FLEET = "hosts:\n  - {name: a1, engine: 'ssh://deploy@a1'}\n  - {name: a2, engine: 'ssh://deploy@a2'}\n"


def _cfg(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "greenroom.yml"
    path.write_text(text)
    return load_config(path, environ={})


def test_without_hosts_engine_is_the_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output.start()
    cfg = _cfg(tmp_path, APP)
    assert where(cfg, None, "ssh://deploy@box") == "ssh://deploy@box"
    assert where(cfg, None, None) is None
    assert "deprecated" not in capsys.readouterr().err


def test_host_as_an_address_still_works_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output.start()
    assert where(_cfg(tmp_path, APP), "ssh://deploy@box", None) == "ssh://deploy@box"
    assert "--host with an engine address is deprecated: use --engine" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not --host too"):
        where(_cfg(tmp_path, APP), "ssh://a", "ssh://b")


def test_with_hosts_host_is_a_name_and_engine_is_refused(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, FLEET + APP)
    assert where(cfg, "a2", None) == "a2"
    with pytest.raises(ConfigError, match="this file lists hosts") as caught:
        where(cfg, None, "ssh://deploy@a1")
    assert caught.value.exit_code == 2 and "a1, a2" in caught.value.hint
