"""HAProxy's runtime API text: commands, and replies recorded from Debian's HAProxy 2.6."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenroom.lb import haproxy_text as text
from greenroom.lb.haproxy_text import Admin, ReplyError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "haproxy"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_commands() -> None:
    assert text.set_state("web", "app-1", "drain") == "set server web/app-1 state drain"
    assert text.set_state("be_http.v2", "srv:1", "ready") == "set server be_http.v2/srv:1 state ready"
    assert text.show_stat("web") == "show stat web 4 -1"
    assert text.show_servers_state("web") == "show servers state web"


@pytest.mark.parametrize("bad", ["", "web; shutdown", "a b", "web\nshow", "x/y", "é"])
def test_names_that_would_change_the_command_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid HAProxy"):
        text.set_state(bad, "s", "drain")
    with pytest.raises(ValueError, match="invalid HAProxy server"):
        text.set_state("web", bad, "drain")


def test_servers_state_of_drained_and_maintained_servers() -> None:
    states = {s.server: s for s in text.parse_servers_state(recorded("servers-state.txt"))}
    assert list(states) == ["e28", "e20", "e3"]
    e28, e20, e3 = states["e28"], states["e20"], states["e3"]
    assert (e28.backend, e28.address, e28.port, e28.admin) == ("greenroom", "10.77.0.11", 80, Admin.FDRAIN)
    assert e28.draining and not e28.maintenance and e28.admin_state == "drain"
    assert e20.maintenance and e20.admin_state == "maint"
    assert e3.admin_state == "ready" and e3.operational == "stopped"
    running = text.parse_servers_state(recorded("servers-state-draining.txt"))
    assert [(s.server, s.operational, s.admin_state) for s in running] == [
        ("e28", "running", "drain"),
        ("e20", "running", "ready"),
    ]


def test_stat_lines_give_sessions_and_status() -> None:
    busy = {s.server: s for s in text.parse_stat(recorded("stat-draining-busy.txt"))}
    assert busy["e28"].sessions == 1 and busy["e28"].status == "DRAIN" and not busy["e28"].idle
    assert busy["e20"].idle and busy["e20"].status == "no check"
    down = {s.server: s.status for s in text.parse_stat(recorded("stat-drain-maint.txt"))}
    assert down == {"e28": "DOWN", "e20": "MAINT", "e3": "DOWN"}


def test_stat_of_everything_keeps_only_servers() -> None:
    servers = text.parse_stat(recorded("stat-all.txt"))
    assert [(s.backend, s.server) for s in servers] == [("greenroom", n) for n in ("e28", "e20", "e3")]


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("error-set-server-nosuch-x-state-drain.txt", "No such backend."),
        ("error-set-server-greenroom-x-state-drain.txt", "No such server."),
        ("error-show-servers-state-nosuch.txt", "Can't find backend."),
        ("error-show-stat-nosuch-4--1.txt", "No such proxy."),
        ("error-set-server-greenroom-e28-state-bogus.txt", "'set server <srv> state' expects"),
    ],
)
def test_errors_are_recognised(name: str, said: str) -> None:
    error = text.reply_error(recorded(name))
    assert error is not None and error.startswith(said)


def test_successes_are_not_errors() -> None:
    assert text.reply_error("\n") is None
    assert text.reply_error(recorded("servers-state.txt")) is None
    assert text.reply_error(recorded("stat-all.txt")) is None


def test_error_replies_do_not_parse_as_data() -> None:
    with pytest.raises(ReplyError, match="No such proxy"):
        text.parse_stat(recorded("error-show-stat-nosuch-4--1.txt"))
    with pytest.raises(ReplyError, match="Can't find backend"):
        text.parse_servers_state(recorded("error-show-servers-state-nosuch.txt"))


def test_backends_and_addresses() -> None:
    assert text.parse_backends(recorded("show-backend.txt")) == ["greenroom"]
    assert text.parse_tcp_address("10.0.0.5:9999") == ("10.0.0.5", 9999)
    assert text.parse_tcp_address("[fd00::5]:9999") == ("fd00::5", 9999)
    assert text.parse_tcp_address("lb-1.internal:9999") == ("lb-1.internal", 9999)
    for bad in ("10.0.0.5", ":9999", "h:0", "h:70000", "h:x"):
        with pytest.raises(ValueError, match="is not HOST:PORT"):
            text.parse_tcp_address(bad)
