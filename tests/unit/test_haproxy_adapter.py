"""The HAProxy adapter on a scripted runtime API and a fake clock (seconds are simulated)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from greenroom.engine.ssh_command import SshTarget
from greenroom.errors import LoadBalancerError
from greenroom.lb.haproxy import HAProxy, SshSocketApi, TcpApi
from tests.unit.fake_clock import FakeClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "haproxy"
STAT_HEADER = "# pxname,svname,qcur,qmax,scur,status,weight,type\n"


def stat(sessions: int, queued: int = 0) -> str:
    return STAT_HEADER + f"web,app-1,{queued},0,{sessions},DRAIN,1,2\nweb,app-2,0,0,3,UP,1,2\n\n"


class ScriptedApi:
    display = "haproxy 10.0.0.5:9999"

    def __init__(self, reply: Callable[[str], str]) -> None:
        self.reply = reply
        self.sent: list[str] = []

    def send(self, command: str) -> str:
        self.sent.append(command)
        return self.reply(command)


def test_drain_and_ready_send_one_command_each() -> None:
    api = ScriptedApi(lambda c: "\n")
    proxy = HAProxy(api, FakeClock())
    proxy.drain("web", "app-1")
    proxy.ready("web", "app-1")
    assert api.sent == ["set server web/app-1 state drain", "set server web/app-1 state ready"]


def test_wait_idle_polls_until_no_session_is_left() -> None:
    replies = iter([stat(2), stat(1), stat(0, queued=1), stat(0)])
    clock = FakeClock()
    proxy = HAProxy(ScriptedApi(lambda c: next(replies)), clock)
    done = proxy.wait_idle("web", "app-1", timeout=5, interval=0.1)
    assert done.idle and done.server == "app-1"
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1])


def test_wait_idle_past_its_timeout_names_the_server_and_its_sessions() -> None:
    clock = FakeClock()
    proxy = HAProxy(ScriptedApi(lambda c: stat(4)), clock)
    with pytest.raises(LoadBalancerError) as info:
        proxy.wait_idle("web", "app-1", timeout=2, interval=0.5)
    err = info.value
    assert err.where == "haproxy 10.0.0.5:9999"
    assert "web/app-1 still has 4 session(s)" in err.message and "after 2s" in err.message
    assert "drain_timeout" in err.hint and "set server web/app-1 state ready" in err.hint
    assert clock.elapsed() == pytest.approx(2)  # the last look is at the deadline, not past it


def replies_of_a_haproxy(command: str) -> str:
    if command == "show backend":
        return "# name\nweb\napi\n"
    if command.startswith("show servers state web"):
        return (FIXTURES / "servers-state-draining.txt").read_text().replace(" web ", " web ")
    if command.startswith("set server web/"):
        return "No such server.\n"
    if command.startswith("set server"):
        return "No such backend.\n"
    return "Unknown command: '" + command + "'\n"


def test_an_unknown_backend_lists_the_known_ones() -> None:
    proxy = HAProxy(ScriptedApi(replies_of_a_haproxy), FakeClock())
    with pytest.raises(LoadBalancerError) as info:
        proxy.drain("wbe", "app-1")
    assert info.value.message == "HAProxy has no backend 'wbe' (No such backend.)"
    assert "HAProxy's backends: web, api" in info.value.hint


def test_an_unknown_server_lists_the_backends_servers() -> None:
    proxy = HAProxy(ScriptedApi(replies_of_a_haproxy), FakeClock())
    with pytest.raises(LoadBalancerError) as info:
        proxy.ready("web", "app-1")
    assert info.value.message == "backend 'web' has no server 'app-1'"
    assert "its servers: e28, e20" in info.value.hint


def test_a_socket_below_level_admin_says_so() -> None:
    proxy = HAProxy(ScriptedApi(lambda c: "Permission denied\n"), FakeClock())
    with pytest.raises(LoadBalancerError) as info:
        proxy.drain("web", "app-1")
    assert "Permission denied" in info.value.message and "level admin" in info.value.hint


def test_a_bad_name_is_refused_before_anything_is_sent() -> None:
    api = ScriptedApi(lambda c: "")
    with pytest.raises(LoadBalancerError, match="invalid HAProxy server name"):
        HAProxy(api, FakeClock()).drain("web", "a;shutdown")
    assert api.sent == []


def test_tcp_addresses() -> None:
    assert TcpApi.parse("[fd00::5]:9999").display == "haproxy [fd00::5]:9999"
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        TcpApi.parse("lb-1")


class FakeRunner:
    def __init__(self, returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.result = (returncode, stdout, stderr)
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        code, out, err = self.result
        return subprocess.CompletedProcess(argv, code, out, err)


def ssh_api(runner: FakeRunner) -> SshSocketApi:
    return SshSocketApi(SshTarget.parse("ssh://ops@lb-1:2222"), "/run/haproxy/admin.sock", runner=runner)


def test_over_ssh_the_users_ssh_runs_socat_on_the_lb_host() -> None:
    runner = FakeRunner(stdout="\n")
    HAProxy(ssh_api(runner), FakeClock()).drain("web", "app-1")
    [(argv, kwargs)] = runner.calls
    assert argv[0] == "ssh" and "BatchMode=yes" in argv
    assert argv[argv.index("-l") + 1] == "ops" and argv[argv.index("-p") + 1] == "2222"
    assert argv[-3:] == ["--", "lb-1", "socat - UNIX-CONNECT:/run/haproxy/admin.sock"]
    assert kwargs["input"] == "set server web/app-1 state drain\n"
    assert kwargs["start_new_session"] is True


def test_ssh_config_and_program_come_from_the_same_variables_as_engines() -> None:
    api = SshSocketApi.of(
        "lb-1", "/run/h.sock", environ={"GREENROOM_SSH": "ssh -v", "GREENROOM_SSH_CONFIG": "/etc/x"}
    )
    assert api.argv()[:4] == ["ssh", "-v", "-F", "/etc/x"]
    assert api.display == "haproxy ssh://lb-1:/run/h.sock"


@pytest.mark.parametrize(
    ("code", "stderr", "says"),
    [
        (
            255,
            "No ED25519 host key is known for lb-1 and you have requested strict checking.\n"
            "Host key verification failed.",
            "host key",
        ),
        (127, "bash: line 1: socat: command not found", "socat is not installed on lb-1"),
        (
            1,
            '2026/01/01 socat[7] E connect(5, AF=1 "/run/haproxy/admin.sock", 25): No such file or directory',
            "no HAProxy admin socket at /run/haproxy/admin.sock on lb-1",
        ),
        (1, "socat[7] E connect(...): Permission denied", "may not open /run/haproxy/admin.sock"),
        (
            255,
            "ssh: connect to host lb-1 port 2222: Connection timed out",
            "cannot reach HAProxy's runtime API",
        ),
    ],
)
def test_ssh_failures_say_what_to_do(code: int, stderr: str, says: str) -> None:
    with pytest.raises(LoadBalancerError) as info:
        HAProxy(ssh_api(FakeRunner(code, "", stderr)), FakeClock()).ready("web", "app-1")
    assert says in info.value.message
    assert info.value.where == "haproxy ssh://ops@lb-1:2222:/run/haproxy/admin.sock"
    assert info.value.hint
