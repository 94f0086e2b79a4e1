"""Proof that no secret reaches any output of the CLI.

Every command runs through `greenroom.cli.app.run` (the real entry point, errors included)
against a fake DockerHost that leaks every secret, in every form, everywhere it can: step
descriptions, details, notes, tables, JSON, logs split across writes, errors and their
hints. The secrets are chosen to slip through a naive mask: quotes of both kinds (repr
escapes them), newlines, Rich markup, non-ASCII, backslashes and tabs, a value that is a
substring of other values. Each holds markers (Qz1...) that must never be printed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from greenroom.cli import fleet_cmds, operate_cmds, options, timeline
from greenroom.cli.app import run
from greenroom.cli.output import MaskedConsole, output
from greenroom.config import Config
from greenroom.deploy.execute import DeployFailed, Outcome, StepRecord
from greenroom.deploy.reports import HistoryEntry, NginxInstance, ProxyStatus, RoutedApp
from greenroom.deploy.status import AppStatus
from greenroom.deploy.steps import Plan, PullImage, Step
from greenroom.errors import EngineError, GreenroomError
from greenroom.fleet import run as fleet_run
from greenroom.fleet import views as fleet_views
from greenroom.secrets import MASK

SECRETS = {
    "S_QUOTES": "Tok'en\"Qz1",
    "S_NEWLINE": "Qz2a\nQz2b",
    "S_MARKUP": "[bold]Qz3[/bold]",
    "S_UNICODE": "pässQz4ö",
    "S_BACKSLASH": "Qz5\\x\tQz5t",
    "S_SPLIT": "Qz6-split-across-writes",
    "S_SUB": "Qz7-sub",  # also inside the image name and an environment value
}
MARKERS = ("Qz1", "Qz2a", "Qz2b", "Qz3", "Qz4", "Qz5", "Qz5t", "Qz6", "Qz7")

CONFIG = """\
apps:
  web:
    image: registry.example/Qz7-sub-app:1
    port: 8000
    command: ["sh", "-c", "run --token '${S_QUOTES}'"]
    environment:
      DATABASE_URL: postgres://app:${S_QUOTES}@db/app
      NOTE: prefix-${S_SUB}-suffix
    secrets:
""" + "".join(f"      {name}: ${{{name}}}\n" for name in SECRETS)

CONFIG += """\
  api:
    image: api:1
    port: 8000
"""


def forms(secret: str) -> list[str]:
    """The ways code tends to put a value in a message."""
    return [
        secret,
        repr(secret),
        repr(f"x{secret}\"y'"),  # repr of a longer string holding both kinds of quote
        ascii(secret),
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        shlex.quote(secret),
        shlex.join(["sh", "-c", f"echo {secret}"]),
        quote(secret, safe=""),
        f"[{secret}]",
    ]


LEAK = " | ".join(f for s in SECRETS.values() for f in forms(s))


def assert_no_secret(text: str) -> None:
    for marker in MARKERS:
        assert marker not in text, f"{marker} leaked in:\n{text}"


def _outcome(action: str = "deploy", ok: bool = True) -> Outcome:
    plan = _plan(action)
    record = StepRecord("PullImage", f"pull {LEAK}", 0.0, 0.1, "ok" if ok else "failed", detail=LEAK)
    return Outcome(plan, [record], ok=ok, error="" if ok else LEAK, logs={"web-blue-1": LEAK}, total=0.1)


def _plan(action: str = "deploy") -> Plan:
    steps: tuple[Step, ...] = (PullImage(LEAK),)
    return Plan("web", action, f"d1 {LEAK}", steps, notes=(f"note {LEAK}",))


def _failed() -> DeployFailed:
    # Unmasked on purpose: the CLI must mask even what the library forgot to.
    return DeployFailed(
        f"health gate failed {LEAK}",
        outcome=_outcome(ok=False),
        hint=f"Docker's health log: {LEAK}",
        where=LEAK,
    )


class FakeDockerHost:
    """Greenroom's surface as the CLI uses it, leaking secrets wherever it can."""

    fail_deploy = False

    def __init__(self, cfg: Config, *, host: str | None = None, reporter: Any = None) -> None:
        self.cfg = cfg
        self.reporter = reporter
        self.release = "run"
        self.engine = SimpleNamespace(
            host=f"ssh://{LEAK}", info=SimpleNamespace(version="27.0"), close=lambda: None, call_timeout=15.0
        )
        self.proxy = SimpleNamespace(spec=SimpleNamespace(name="greenroom-proxy"))

    @classmethod
    def factory(cls, cfg: Config, **kw: Any) -> Callable[[Any], FakeDockerHost]:
        """As fleet/hosts.docker_host_for: the runner's greenroom per host."""
        reporter = kw.get("reporter", lambda name: None)
        return lambda host: cls(cfg, reporter=reporter(host.name))

    def take_lock(self, app: str) -> object:
        return object()

    def give_back_lock(self, taken: object) -> None:
        pass

    def _report(self) -> None:
        if self.reporter is not None:
            step = PullImage(LEAK)
            self.reporter.started(1, 1, step)
            self.reporter.progress(LEAK)
            self.reporter.finished(StepRecord("PullImage", step.describe(), 0.0, 0.1, "ok", LEAK))

    def plan(self, app: str, image: str | None = None) -> Plan:
        return _plan()

    def deploy(self, app: str, image: str | None = None, *, locked: bool = False) -> Outcome:
        self._report()
        if self.fail_deploy or app == "api":
            raise _failed()
        return _outcome()

    def rollback_plan(self, app: str, to: str | None) -> Plan:
        return _plan("rollback")

    def rollback(self, app: str, to: str | None, *, locked: bool = False) -> Outcome:
        return _outcome("rollback")

    def status(self) -> tuple[Any, list[AppStatus]]:
        row = AppStatus("web", "d1", "blue", LEAK, LEAK, "1/1", False, True, (LEAK,), (LEAK,))
        state = SimpleNamespace(proxy=SimpleNamespace(name=LEAK, running=True), proxy_generation=LEAK)
        return state, [row]

    def logs(self, app: str, *, tail: int = 100) -> dict[str, str]:
        return {"web-blue-1": f"{LEAK}\nsecond line {LEAK}\n"}

    def follow(self, app: str, *, tail: int = 10) -> Iterator[str]:
        text = f"start\n{LEAK}\nend {SECRETS['S_SPLIT']}"
        for secret in SECRETS.values():  # every secret split across two writes
            text += f"\nbefore {secret} after"
        text += "\n"
        step = 5
        for i in range(0, len(text), step):
            yield text[i : i + step]

    def history(self, app: str) -> list[HistoryEntry]:
        return [HistoryEntry("deploy", LEAK, False, LEAK, 1.0, LEAK, LEAK, ((LEAK, 0.5, LEAK),))]

    def maintenance(self, app: str, on: bool) -> Outcome:
        if not on:
            raise RuntimeError(f"a bug {LEAK}")
        return _outcome("maintenance")

    def repair(self, app: str) -> Outcome:
        return _outcome("repair")

    def unlock(self, app: str, force: bool = False) -> Any:
        raise EngineError(f"cannot unlock {LEAK}", hint=f"try {LEAK}", where=LEAK)

    def proxy_status(self) -> ProxyStatus:
        return ProxyStatus(
            name=LEAK,
            image=LEAK,
            exists=True,
            running=True,
            generation=LEAK,
            expected_generation=LEAK,
            pools=1,
            layout=LEAK,
            nginx=(NginxInstance(LEAK, True, 8099),),
            published=(LEAK,),
            networks=(LEAK,),
            routed={"web": RoutedApp(LEAK, (LEAK,), True, (LEAK,))},
            gateway=LEAK,
            problems=(LEAK,),
        )

    def proxy_reboot(self, *, recreate: bool = False) -> Outcome:
        return _outcome("proxy-reboot")


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for module in (options, operate_cmds):
        monkeypatch.setattr(module, "DockerHost", FakeDockerHost)
    monkeypatch.setattr(fleet_run, "docker_host_for", FakeDockerHost.factory)
    monkeypatch.setattr(fleet_cmds, "docker_host_for", FakeDockerHost.factory)
    monkeypatch.setattr(fleet_views, "docker_host_for", FakeDockerHost.factory)
    monkeypatch.setattr(FakeDockerHost, "fail_deploy", False)
    path = tmp_path / "greenroom.yml"
    path.write_text(CONFIG)
    return path


COMMANDS = [
    ["config", "check"],
    ["config", "check", "--json"],
    ["deploy", "web"],
    ["deploy", "web", "--json"],
    ["deploy", "web", "--dry-run"],
    ["-q", "deploy", "web"],
    ["deploy", "--parallel", "2"],
    ["deploy", "--parallel", "2", "--json"],
    ["plan"],
    ["rollback", "web"],
    ["rollback", "web", "--dry-run"],
    ["rollback", "web", "--json"],
    ["status"],
    ["status", "--json"],
    ["logs", "web"],
    ["logs", "web", "-f"],
    ["history", "web"],
    ["history", "web", "--json"],
    ["maintenance", "on", "web"],
    ["maintenance", "off", "web"],  # a bug: the traceback
    ["repair", "--json"],
    ["repair"],
    ["unlock", "web"],
    ["proxy", "status"],
    ["proxy", "status", "--json"],
    ["proxy", "reboot"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_command_prints_a_secret(
    args: list[str], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run([*args, "--file", str(config_file)])
    out, err = capsys.readouterr()
    assert_no_secret(out + err)
    assert MASK in out + err  # the fake leaked, and it was masked
    failing = args[0] == "unlock" or "--parallel" in args or "off" in args
    assert code == (1 if failing else 0), out + err


@pytest.mark.parametrize("args", [["deploy", "web"], ["deploy", "web", "--json"]])
def test_a_failed_deploy_prints_no_secret(
    args: list[str], config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeDockerHost.fail_deploy = True
    assert run([*args, "-f", str(config_file)]) == 1
    out, err = capsys.readouterr()
    assert_no_secret(out + err)
    assert "error:" in err
    assert "hint: Docker's health log: " in err
    assert "last logs of web-blue-1:" in err


def test_json_output_stays_json(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["history", "web", "--json", "-f", str(config_file)]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["action"] == "deploy"
    assert MASK in entry["error"]


def test_values_that_embed_a_secret_are_shown_masked(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["config", "check", "--json", "-f", str(config_file)]) == 0
    web = json.loads(capsys.readouterr().out)["apps"]["web"]
    assert web["environment"] == {
        "DATABASE_URL": f"postgres://app:{MASK}@db/app",
        "NOTE": f"prefix-{MASK}-suffix",
    }
    assert web["command"] == ["sh", "-c", f"run --token '{MASK}'"]
    assert web["image"] == f"registry.example/{MASK}-app:1"
    assert web["secrets"] == dict.fromkeys(SECRETS, MASK)


def test_followed_logs_are_masked_by_line_and_nothing_is_lost(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["logs", "web", "-f", "--file", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("start\n")
    assert f"end {MASK}\n" in out
    assert out.count(f"before {MASK} after\n") == len(SECRETS)


def test_the_progress_reporter_masks_on_a_terminal() -> None:
    output.start()
    output.add_secrets(SECRETS.values())
    console = MaskedConsole(output, force_terminal=True, width=60, color_system="truecolor")
    reporter = timeline.StepReporter(console)
    with console.capture() as captured:
        reporter.started(1, 1, PullImage(LEAK))
        reporter.progress(LEAK)
        reporter.finished(StepRecord("PullImage", PullImage(LEAK).describe(), 0.0, 0.1, "ok", LEAK))
    assert_no_secret(captured.get())
    assert MASK in captured.get()


def test_errors_before_any_config_are_printed_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    output.start()
    code = run(["config", "check", "-f", "/nonexistent/[bold]x[/bold].yml"])
    assert code == 2
    assert "[bold]x[/bold].yml" in capsys.readouterr().err  # no markup parsed in messages


def test_a_library_error_is_masked_at_the_sink(capsys: pytest.CaptureFixture[str]) -> None:
    output.start()
    output.add_secrets(SECRETS.values())
    output.error(GreenroomError(LEAK, hint=LEAK, where=LEAK))
    output.echo(LEAK)
    output.json({LEAK: [LEAK, {"k": LEAK}]})
    output.out.print(LEAK, {"k": LEAK})
    out, err = capsys.readouterr()
    assert_no_secret(out + err)


def test_quiet_prints_only_the_result_line(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--quiet", "deploy", "web", "--file", str(config_file)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("✓ deploy web d1 ") and out.endswith(" in 0.10s\n")
    assert out.count("\n") == 1
    assert run(["deploy", "web", "--file", str(config_file)]) == 0
    out, err = capsys.readouterr()
    assert "✓ PullImage" not in out and "make sure image" in err  # progress without --quiet
    assert "┃ step" in out  # and the timeline


def test_quiet_keeps_errors(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FakeDockerHost.fail_deploy = True
    assert run(["-q", "deploy", "web", "--file", str(config_file)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("last logs of web-blue-1:")
    assert "error: " in err
    assert "make sure image" not in err  # no progress
