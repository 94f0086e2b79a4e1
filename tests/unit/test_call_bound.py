"""The bound on each engine call (engine/bound.py, engine/calls.py): a call that overruns it
names the host hung and every later call fails at once without being sent; long calls are
judged by a ping; fleet hosts are named with their engine: line; the config validates it.
The SDK's exceptions are raised by hand: no engine, no sleeping."""

from __future__ import annotations

from pathlib import Path

import docker.errors
import pytest
import requests.exceptions
import urllib3.exceptions

from greenroom.config.load import load_config
from greenroom.engine.bound import CallBound, HostLabel
from greenroom.engine.calls import Calls
from greenroom.errors import ConfigError, EngineError, EngineHung, EngineUnreachable, Locked, NotFound

E3 = HostLabel("ssh://gr-e3", "e3", "hosts.e3.engine")
LOCAL = HostLabel("unix:///var/run/docker.sock", None, "engine.host")


def calls(label: HostLabel = E3, *, seconds: float = 4, ping_ok: bool = True) -> tuple[Calls, list[float]]:
    pings: list[float] = []

    def ping(limit: float) -> None:
        pings.append(limit)
        if not ping_ok:
            raise requests.exceptions.ReadTimeout("Read timed out.")

    return Calls(label.address, CallBound(seconds, label), ping), pings


def test_a_call_that_overruns_names_the_host_and_later_calls_are_never_sent() -> None:
    c, _ = calls()
    with pytest.raises(EngineHung) as first, c("create container shop-v2"):
        raise requests.exceptions.ReadTimeout("UnixHTTPConnectionPool: Read timed out. (read timeout=4)")
    err = first.value
    assert err.message == "host e3 did not answer within 4 s (create container shop-v2)"
    assert err.where == "ssh://gr-e3"
    assert "hosts.e3.engine: ssh://gr-e3" in err.hint and "hosts.e3.call_timeout (now 4s)" in err.hint
    assert "is dockerd running? set DOCKER_HOST" not in err.hint
    sent = []
    with (
        pytest.raises(EngineHung, match=r"remove shop-v2: not attempted, host e3 is not"),
        c("remove shop-v2"),
    ):
        sent.append("remove")
    assert sent == []  # the undo does not wait a bound per call again


def test_timeouts_wrapped_by_requests_or_urllib3_count_too() -> None:
    c, _ = calls()
    pool = urllib3.HTTPConnectionPool("localhost")
    timeout = urllib3.exceptions.ReadTimeoutError(pool, "/x", "Read timed out.")
    wrapped = requests.exceptions.ConnectionError(timeout)
    with pytest.raises(EngineHung), c("list containers"):
        raise wrapped
    c, _ = calls()
    with pytest.raises(EngineHung), c("connect"):
        raise TimeoutError("timed out")  # a raw socket read (log streams, the TLS handshake)


def test_a_long_call_out_of_its_own_time_is_hung_only_when_a_ping_fails_too() -> None:
    c, pings = calls(ping_ok=True)
    with pytest.raises(EngineError, match=r"no result within 30 s") as slow, c("wait for helper", long=30):
        raise requests.exceptions.ReadTimeout("Read timed out.")
    assert not isinstance(slow.value, EngineHung) and c.bound.stopped is None and pings == [4]
    c, _ = calls(ping_ok=False)
    with (
        pytest.raises(EngineHung, match=r"did not answer within 19 s \(stop shop-v1\)"),
        c("stop shop-v1", long=19),
    ):
        raise requests.exceptions.ReadTimeout("Read timed out.")


def test_an_engine_not_there_keeps_its_words_with_the_fleet_or_the_single_engine_hint() -> None:
    c, _ = calls()
    with pytest.raises(EngineUnreachable) as fleet, c("connect"):
        raise requests.exceptions.ConnectionError("Connection refused")
    assert not isinstance(fleet.value, EngineHung) and c.bound.stopped is None
    assert "is host e3 up" in fleet.value.hint and "(hosts.e3.engine) says ssh://gr-e3" in fleet.value.hint
    c, _ = calls(LOCAL)
    with pytest.raises(EngineUnreachable, match="cannot reach") as single, c("connect"):
        raise requests.exceptions.ConnectionError("Connection refused")
    assert single.value.hint.startswith("is dockerd running?")
    with pytest.raises(NotFound), c("container x"):
        raise docker.errors.NotFound("No such container: x")


def test_a_host_given_up_for_another_reason_fails_every_later_call_with_it() -> None:
    c, _ = calls()
    c.bound.stop(Locked("shop: this command stopped working on ssh://gr-e3: its lock is gone"))
    with pytest.raises(Locked, match="its lock is gone"), c("start shop-v2"):
        pass


def test_call_timeout_is_validated_for_the_engine_and_each_host(tmp_path: Path) -> None:
    path = tmp_path / "greenroom.yml"
    path.write_text(
        "engine: {call_timeout: 500ms}\n"
        "hosts:\n"
        "  - {name: a, engine: 'unix:///a.sock', call_timeout: 11m}\n"
        "  - {name: b, engine: 'unix:///b.sock', call_timeout: 5s}\n"
        "apps:\n  web: {image: 'web:1', port: 8000}\n"
    )
    with pytest.raises(ConfigError) as bad:
        load_config(path, environ={})
    assert "engine.call_timeout: must be at least 1s" in str(bad.value)
    assert "hosts.0.call_timeout: must be at most 10m" in str(bad.value)
    path.write_text(path.read_text().replace("500ms", "20s").replace("11m", "null"))
    cfg = load_config(path, environ={})
    assert cfg.engine.call_timeout == 20 and [h.call_timeout for h in cfg.hosts] == [None, 5]
