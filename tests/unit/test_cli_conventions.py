"""What users expect of a CLI: --version, shell completion, NO_COLOR."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenroom import __version__
from greenroom.cli.app import run


def test_version_option_and_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"{__version__}\n"
    assert run(["version"]) == 0
    assert capsys.readouterr().out == f"{__version__}\n"


def test_completion_is_offered_and_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--help"]) == 0
    help_text = capsys.readouterr().out
    for option in ("--install-completion", "--show-completion", "--quiet", "--version"):
        assert option in help_text
    # What the installed bash completion does when the user types `greenroom dep<TAB>`
    monkeypatch.setenv("_GREENROOM_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "greenroom dep")
    monkeypatch.setenv("COMP_CWORD", "1")
    assert run([]) == 0
    assert capsys.readouterr().out.split() == ["deploy"]


def test_show_completion_prints_the_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHELL", "/bin/bash")
    assert run(["--show-completion", "bash"]) == 0
    assert "_GREENROOM_COMPLETE=complete_bash" in capsys.readouterr().out


@pytest.mark.parametrize(("no_color", "colored"), [("1", False), ("", True)])
def test_no_color_is_honoured(
    no_color: str,
    colored: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # a terminal, as far as Rich can tell
    monkeypatch.setenv("NO_COLOR", no_color)
    assert run(["config", "check", "--file", str(tmp_path / "missing.yml")]) == 2
    err = capsys.readouterr().err
    assert "cannot read the config file" in err
    assert ("\x1b[1;31m" in err) is colored  # bold red "error:"
