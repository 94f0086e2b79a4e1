"""The remote drain's table watch: one helper, its stream cut anywhere, answers never stale."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from greenroom.clock import SystemClock
from greenroom.engine.net_watch import MARKER, TableWatch, watch_script
from greenroom.errors import RouteReadError
from greenroom.sockets import ESTABLISHED, target_keys

TARGET = ("10.0.0.5", 8000)
# one line of /proc/net/tcp: 10.0.0.9:40000 -> 10.0.0.5:8000, ESTABLISHED
LINE = "   0: 0900000A:9C40 0500000A:1F40 01 00000000:00000000 00:00000000 00000000     0 0 1 1"


class FakeHost:
    """An engine whose helper prints `table` again and again, as the real loop does, each
    one cut in two mid-line, until `ended` is set or the helper is removed."""

    host = "ssh://fake"

    def __init__(self) -> None:
        self.table = ""
        self.ended = False
        self.started: list[tuple[str, list[str], str]] = []
        self.removed: list[str] = []

    def start_helper(self, image: str, command: list[str], *, network_mode: str) -> str:
        self.started.append((image, command, network_mode))
        return "helper-1"

    def follow_logs(self, container: str, *, tail: int = 100) -> Iterator[str]:
        assert container == "helper-1" and tail == 0
        while not self.ended and not self.removed:
            text = (self.table + "\n" if self.table else "") + MARKER + "\n"
            yield text[:7]
            yield text[7:]

    def remove(self, container: str) -> None:
        self.removed.append(container)


def test_the_script_greps_only_the_targets_in_the_namespace() -> None:
    script = watch_script(target_keys({TARGET, ("10.0.0.6", 80)}), 0.05)
    assert "-e 0500000A:1F40" in script and "-e 0600000A:0050" in script
    assert "/proc/net/tcp /proc/net/tcp6" in script and MARKER in script and "sleep 0.05" in script


def test_one_helper_for_the_whole_watch_and_it_is_removed() -> None:
    host = FakeHost()
    host.table = LINE
    with TableWatch(host, "proxy-id", {TARGET}, "busybox", SystemClock()) as watch:
        found = watch.sockets(timeout=5)
        host.table = ""  # the connection closed: the next answer must say so
        again = watch.sockets(timeout=5)
    assert len(host.started) == 1 and host.started[0][2] == "container:proxy-id"
    assert host.removed == ["helper-1"]
    assert [(s.remote, s.remote_port, s.state) for s in found] == [
        (IPv4Address("10.0.0.5"), 8000, ESTABLISHED)
    ]
    assert again == []


def test_a_stream_that_ends_is_an_error_naming_the_engine() -> None:
    host = FakeHost()
    host.ended = True
    watch = TableWatch(host, "proxy-id", {TARGET}, "busybox", SystemClock())
    with watch, pytest.raises(RouteReadError) as err:
        watch.sockets(timeout=5)
    assert "ssh://fake" in str(err.value) and "stopped coming" in str(err.value)


class SilentHost(FakeHost):
    def follow_logs(self, container: str, *, tail: int = 100) -> Iterator[str]:
        while not self.removed:
            yield ""


def test_no_table_in_time_is_an_error() -> None:
    host = SilentHost()
    watch = TableWatch(host, "proxy-id", {TARGET}, "busybox", SystemClock())
    with watch, pytest.raises(RouteReadError, match=r"within 0\.05s"):
        watch.sockets(timeout=0.05)
