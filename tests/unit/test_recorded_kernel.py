"""Parsers fed the real answers of the kernel and the engines, recorded on the test bed
(scripts/record-fixtures kernel): sock_diag netlink replies, /proc/net/tcp{,6},
`GET /containers/json` and the proxy client's curl batches."""

from __future__ import annotations

import dataclasses

import pytest

from greenroom.engine.model import parse_container, parse_container_summary
from greenroom.proxy.admin import curl_command, parse_curl_replies
from greenroom.sockets import IN_FLIGHT, Socket, in_flight_to, mentioning, parse_diag, parse_tcp
from tests.fixtures import ENGINES, load


def dump(chunks: list[str]) -> tuple[list[Socket], bool]:
    """Every socket of one recorded dump, and whether the kernel's DONE was read."""
    out: list[Socket] = []
    for chunk in chunks:
        found, done = parse_diag(bytes.fromhex(chunk))
        out.extend(found)
        if done:
            return out, True
    return out, False


@pytest.mark.parametrize("engine", ENGINES)
def test_sock_diag_replies_list_the_connections_the_container_holds(engine: str) -> None:
    doc = load(engine, "sockets")
    server, client, port = doc["server"], doc["client"], doc["server"]["port"]
    v4, done4 = dump(doc["diag"]["2"])
    v6, done6 = dump(doc["diag"]["10"])
    assert done4 and done6
    # the client holds three: to the server's IPv4 address, the same by its IPv4-mapped form
    # from an IPv6 socket (reported as plain IPv4), and to its IPv6 address
    assert in_flight_to(v4 + v6, {(server["ipv4"], port)}) == 2
    assert in_flight_to(v4, {(server["ipv4"], port)}) == 1
    assert in_flight_to(v6, {(server["ipv6"], port)}) == 1
    assert {str(s.local) for s in v4 + v6} == {client["ipv4"], client["ipv6"]}
    assert all(s.state in IN_FLIGHT for s in v4 + v6)  # the kernel filtered by state


@pytest.mark.parametrize("engine", ENGINES)
def test_sock_diag_and_proc_net_tcp_agree(engine: str) -> None:
    doc = load(engine, "sockets")
    diag = dump(doc["diag"]["2"])[0] + dump(doc["diag"]["10"])[0]
    table = [s for s in parse_tcp(doc["tcp"]) + parse_tcp(doc["tcp6"]) if s.state in IN_FLIGHT]
    assert sorted(map(str, diag)) == sorted(map(str, table))
    assert len(table) == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_only_the_lines_of_the_targets_are_kept(engine: str) -> None:
    doc = load(engine, "sockets")
    text = doc["tcp"] + doc["tcp6"]
    server, port = doc["server"], doc["server"]["port"]
    for target, count in (
        ((server["ipv4"], port), 2),
        ((server["ipv6"], port), 1),
        ((server["ipv4"], 80), 0),
    ):
        kept = mentioning(text, {target})
        assert len(kept.splitlines()) == count
        assert in_flight_to(parse_tcp(kept), {target}) == count


@pytest.mark.parametrize("engine", ENGINES)
def test_a_refused_dump_is_an_error(engine: str) -> None:
    [chunk] = load(engine, "sockets")["refused"]
    with pytest.raises(OSError, match="sock_diag dump refused") as info:
        parse_diag(bytes.fromhex(chunk))
    assert info.value.errno == 22  # EINVAL: no such address family


@pytest.mark.parametrize("engine", ENGINES)
def test_containers_json_summaries_match_their_inspect(engine: str) -> None:
    doc = load(engine, "containers")
    assert len(doc["containers_json"]) == 4
    for raw in doc["containers_json"]:
        summary = parse_container_summary(raw)
        full = parse_container(doc["inspect"][raw["Id"]])
        assert summary.pid == 0  # the listing has none
        # nor, on 20.10, the aliases (nothing plans with them), nor the start time (the lock's
        # lease reads it from an inspect)
        bare = tuple(dataclasses.replace(a, aliases=()) for a in full.attachments)
        assert full.created and full.started
        assert dataclasses.replace(
            full, pid=0, attachments=bare, created="", started=""
        ) == dataclasses.replace(
            summary, attachments=tuple(dataclasses.replace(a, aliases=()) for a in summary.attachments)
        ), summary.name
    running = {
        parse_container_summary(raw).name[:-6]: parse_container_summary(raw).running
        for raw in doc["containers_json"]
    }
    assert running == {"server": True, "client": True, "web": True, "stopped": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_curl_batches_as_the_engine_returned_them(engine: str) -> None:
    answered, refused = load(engine, "curl")["batches"]
    for batch in (answered, refused):
        assert batch["command"] == curl_command(
            "GET", batch["port"], batch["paths"], {"Host": "web.test"}, None, 2.0
        )
    replies = parse_curl_replies(answered["output"])
    assert [r.status for r in replies] == [200, 200, 200]
    assert '"healthy": true' in replies[1].body and '"/no-such-path"' in replies[2].body
    assert all(r.upstream == "" for r in replies)  # the app sets no upstream header; the proxy does
    # a closed port: curl's errors on stderr interleave with the marks, each request still
    # reads as one reply with no answer
    assert refused["exit"] == 7
    assert [r.status for r in parse_curl_replies(refused["output"])] == [0, 0, 0]
