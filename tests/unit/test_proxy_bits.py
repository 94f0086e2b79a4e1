"""Pure pieces of the proxy, probe and drain: rendering, parsing, judging."""

from __future__ import annotations

import re

import pytest

from greenroom.deploy.probe import GateProgress, judge
from greenroom.deploy.steps import ProbeSpec
from greenroom.proxy.admin import AdminReach
from greenroom.proxy.pod import Routed, confirm_targets
from greenroom.proxy.render import ProxySettings, files, generation, render
from greenroom.sockets import in_flight_to, mentioning, parse_tcp

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 8200D50A:C350 8300D50A:1F40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 8200D50A:C352 8300D50A:1F40 02 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 8200D50A:C354 8300D50A:1F40 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1
   4: 8200D50A:C356 8400D50A:1F40 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 0000000000000000FFFF00008200D50A:C358 0000000000000000FFFF00008300D50A:1F40 01 0
"""


def test_in_flight_counts_open_and_opening_connections_to_the_targets() -> None:
    socks = parse_tcp(TCP) + parse_tcp(TCP6)
    assert str(socks[1].local) == "10.213.0.130" and socks[1].remote_port == 8000
    # established + SYN_SENT (a retried connect) + the IPv4-mapped one; not TIME_WAIT, not others
    assert in_flight_to(socks, {("10.213.0.131", 8000)}) == 3
    assert in_flight_to(socks, {("10.213.0.132", 8000)}) == 1
    assert in_flight_to(socks, {("10.213.0.133", 8000)}) == 0


def test_only_lines_that_can_be_the_targets_are_parsed() -> None:
    text = TCP + TCP6
    for target, count in (
        (("10.213.0.131", 8000), 3),
        (("10.213.0.132", 8000), 1),
        (("10.213.0.131", 80), 0),
    ):
        kept = mentioning(text, {target})
        assert in_flight_to(parse_tcp(kept), {target}) == count
        assert len(kept.splitlines()) <= 4  # the header, the listener and the others are skipped
    v6 = "   0: 00000000000000000000000001000000:C358 000080FE00000000FF0000020100FFFE:1F40 01 0"
    assert mentioning(v6, {("fe80::200:ff:feff:1", 8000)}) == v6


def test_probe_lines_are_judged() -> None:
    http = ProbeSpec("http", 8000, "/health", 200)
    assert judge("10.0.0.2:8000 200", http) == ("10.0.0.2:8000", "HTTP 200", True)
    assert judge("10.0.0.2:8000 503", http) == ("10.0.0.2:8000", "HTTP 503", False)
    assert judge("10.0.0.2:8000 000", http) == ("10.0.0.2:8000", "no answer", False)
    assert judge("garbage", http) is None
    tcp = ProbeSpec("tcp", 8000)
    assert judge("10.0.0.2:8000 ok", tcp) == ("10.0.0.2:8000", "ok", True)
    progress = GateProgress()
    for ok in (True, True, False, True, True, True):
        progress.record("a", "x", ok)
    progress.record("b", "x", True)
    assert progress.passes == {"a": 3, "b": 1}
    assert progress.done(["a"], 3) and not progress.done(["a", "b"], 3)


def test_confirm_needs_every_answer_from_the_new_targets() -> None:
    new = ("10.213.0.131:8000",)
    assert confirm_targets([(200, "10.213.0.131:8000")] * 3, new, 200) is None
    assert "not the new version" in (confirm_targets([(200, "10.213.0.130:8000")], new, 200) or "")
    assert "answered 500" in (confirm_targets([(500, "10.213.0.131:8000")], new, 200) or "")
    assert confirm_targets([(404, "10.213.0.131:8000")], new, None) is None


def test_rendered_config_has_no_routing_and_a_generation() -> None:
    conf = render(ProxySettings(listen=8080))
    assert "listen 8080 default_server" in conf
    assert "js_shared_dict_zone zone=greenroom" in conf
    # no routing: it is in the dict; without pools no upstream block either
    assert not re.search(r"^\s*upstream\s", conf, re.M)
    assert generation(ProxySettings(listen=80)) != generation(ProxySettings(listen=8080))
    assert set(files(ProxySettings())) == {
        "nginx.conf",
        "greenroom.js",
        "greenroom-maintenance.html",
        "pools.txt",
        "tls.js",
    }
    for admin in (8099, 8098):  # the two instance slots' admin ports
        with pytest.raises(ValueError, match="collides"):
            ProxySettings(listen=admin)
    with pytest.raises(ValueError, match="port number"):
        ProxySettings(listen=0)


def test_routed_state_round_trips() -> None:
    r = Routed("web", ("10.0.0.2:80",), ("a.example",), True, "green", "d1", "web:2", ("d0", "d1"))
    import json

    assert Routed.from_json(json.loads(r.to_json())) == r


class _CurlEngine:
    """Stands in for the engine's exec only: answers what curl printed."""

    host = "unix:///fake.sock"
    is_local = False

    def __init__(self, output: str, code: int = 0) -> None:
        self.output, self.code = output, code
        self.commands: list[list[str]] = []

    def exec(self, container: str, command: list[str], *, runs: float = 0.0) -> tuple[int, str]:
        self.commands.append(command)
        return self.code, self.output


def test_one_curl_answers_a_batch_of_requests_through_the_engine() -> None:
    from greenroom.proxy.admin import ProxyClient

    out = (
        '{"a": 1}\n--greenroom-reply 200 10.0.0.2:8000\n'
        "curl: (7) Failed to connect\n--greenroom-reply 000 \n"
        "gen1\n--greenroom-reply 200 \n"
    )
    engine = _CurlEngine(out, code=7)
    client = ProxyClient(engine, "proxy", direct=True)  # type: ignore[arg-type]
    replies = client.fetch("GET", 80, ["/a", "/b", "/c"], headers={"Host": "x.test"})
    assert [(r.status, r.upstream) for r in replies] == [(200, "10.0.0.2:8000"), (0, ""), (200, "")]
    assert replies[0].body == '{"a": 1}' and replies[2].body == "gen1"
    assert client.last_mode is AdminReach.EXEC  # a remote engine: no namespace to enter
    cmd = engine.commands[0]
    assert cmd[-3:] == ["http://127.0.0.1:80/a", "http://127.0.0.1:80/b", "http://127.0.0.1:80/c"]
    assert "Host: x.test" in cmd


def test_a_short_curl_answer_is_an_error_naming_the_proxy() -> None:
    from greenroom.errors import ProxyError
    from greenroom.proxy.admin import ProxyClient

    client = ProxyClient(_CurlEngine("sh: curl: not found\n", code=127), "proxy")  # type: ignore[arg-type]
    with pytest.raises(ProxyError, match=r"answered 0 of 2 requests \(exit 127\)") as info:
        client.fetch("GET", 8099, ["/greenroom/state", "/greenroom/generation"])
    assert info.value.where == "unix:///fake.sock proxy"


class _LosingEngine(_CurlEngine):
    """Loses curl's whole output the first `lost` times (exit 0), then answers."""

    def __init__(self, output: str, lost: int) -> None:
        super().__init__(output)
        self.lost = lost

    def exec(self, container: str, command: list[str], *, runs: float = 0.0) -> tuple[int, str]:
        self.commands.append(command)
        if self.lost:
            self.lost -= 1
            return 0, ""
        return 0, self.output


def test_curl_output_lost_on_the_way_is_asked_again_once_and_then_named() -> None:
    from greenroom.errors import ProxyError
    from greenroom.proxy.admin import ProxyClient

    ok = '{"blue": 1}\n--greenroom-reply 200 \n'
    engine = _LosingEngine(ok, lost=1)
    client = ProxyClient(engine, "proxy")  # type: ignore[arg-type]
    assert [r.status for r in client.fetch("POST", 8099, ["/greenroom/app/shop"], body="{}")] == [200]
    assert len(engine.commands) == 2
    engine = _LosingEngine(ok, lost=2)
    client = ProxyClient(engine, "proxy")  # type: ignore[arg-type]
    with pytest.raises(ProxyError, match=r"none of curl's output .* lost on the way back, twice") as info:
        client.fetch("GET", 8099, ["/greenroom/state"])
    assert "ssh or TLS" in (info.value.hint or "") and len(engine.commands) == 2
    engine = _LosingEngine(ok, lost=1)
    client = ProxyClient(engine, "proxy")  # type: ignore[arg-type]
    with pytest.raises(ProxyError, match=r"not sent again: it may have been done"):
        client.fetch("POST", 8099, ["/greenroom/history/shop"], body="{}", idempotent=False)
    assert len(engine.commands) == 1
