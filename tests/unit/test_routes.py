from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import ContainerInfo, parse_container
from greenroom.errors import RouteReadError
from greenroom.gateway.routes import (
    format_route,
    parse_ipv4,
    parse_ipv6,
    parse_tables,
)
from tests.fixtures import ENGINES, STAGES, load


def ip_route_default(text: str, version: int) -> tuple[str, str] | None:
    """(gateway, dev) of the `default via X dev Y` line of `ip route` output."""
    m = re.search(r"^default via (\S+) dev (\S+)", text, re.M)
    return (m.group(1), m.group(2)) if m else None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stage", STAGES)
def test_parsers_agree_with_ip_route_on_recorded_samples(engine: str, stage: str) -> None:
    doc = load(engine, stage)
    table = parse_tables(doc["route"], doc["ipv6_route"])
    for version, text in ((4, doc["ip_route"]), (6, doc["ip6_route"])):
        expected = ip_route_default(text, version)
        default = table.default(version)
        if expected is None:
            assert default is None
        else:
            assert default is not None
            assert (str(default.gateway), default.iface) == expected
    # every connected IPv4 subnet `ip route` shows is parsed, on the same device
    for m in re.finditer(r"^(\d+\.\d+\.\d+\.\d+/\d+) dev (\S+) scope link", doc["ip_route"], re.M):
        assert ipaddress.ip_network(m.group(1)) in table.iface_networks()[m.group(2)]


def test_half_default_routes_win_over_the_default() -> None:
    doc = load("e28", "3-hand-repaired")
    table = parse_tables(doc["route"], doc["ipv6_route"])
    default, egress = table.default(4), table.egress(4)
    assert default is not None
    assert egress is not None
    assert default.iface == "eth1"  # Docker's default route...
    assert egress.iface == "eth0"  # ...but traffic leaves by the hand-made /1 routes
    assert egress.destination.prefixlen == 1


def test_ipv6_reject_local_and_multicast_routes_are_skipped() -> None:
    doc = load("e28", "2-front-attached")
    routes = parse_ipv6(doc["ipv6_route"])
    assert all(r.iface != "lo" and not r.destination.is_multicast for r in routes)
    assert sum(r.is_default for r in routes) == 1


class _Engine:
    """Stands in for the engine: local or not, and a helper container that answers `text`."""

    def __init__(self, *, is_local: bool, text: str = "") -> None:
        self.is_local = is_local
        self.text = text
        self.helpers: list[tuple[str, list[str], str]] = []

    def run_helper(self, image: str, command: list[str], *, network_mode: str) -> str:
        self.helpers.append((image, command, network_mode))
        return self.text


def _proc(tmp_path: Path, doc: dict[str, Any]) -> ContainerInfo:
    net = tmp_path / "4242" / "net"
    net.mkdir(parents=True)
    (tmp_path / "4242" / "cgroup").write_text("12:memory:/gr-e20/" + "a" * 64 + "\n")
    (net / "route").write_text(doc["route"])
    return dataclasses.replace(parse_container(doc["container"]), id="a" * 64, pid=4242)


def test_local_proc_files_only_for_the_right_container(tmp_path: Path) -> None:
    doc = load("e20", "2-front-attached")
    mine = _proc(tmp_path, doc)
    engine = _Engine(is_local=True)
    access = HostAccess(engine, proc=tmp_path)  # type: ignore[arg-type]
    found = access.net_files(mine, ("route", "ipv6_route"), via="proc")
    assert found == {"route": doc["route"], "ipv6_route": ""}
    assert access.routes(mine).default(4) is not None and not engine.helpers
    other = dataclasses.replace(mine, id="b" * 64)
    with pytest.raises(RouteReadError, match="not readable here"):
        access.net_files(other, ("route",), via="proc")


def test_one_place_decides_direct_or_through_the_engine(tmp_path: Path) -> None:
    doc = load("e20", "2-front-attached")
    mine = _proc(tmp_path, doc)
    helper_text = doc["route"] + "--greenroom-file--\n" + doc["ipv6_route"] + "--greenroom-file--\n"
    for is_local, direct, via, helper in (
        (True, True, "auto", False),
        (True, False, "auto", True),  # engine.direct: false
        (True, False, "proc", False),  # asked for explicitly
        (True, True, "engine", True),
        (False, True, "auto", True),  # a remote engine: its pids mean nothing here
    ):
        engine = _Engine(is_local=is_local, text=helper_text)
        access = HostAccess(engine, direct=direct, helper_image="busybox:test", proc=tmp_path)  # type: ignore[arg-type]
        assert access.reaches_in == (is_local and direct)
        table = access.routes(mine, via=via)
        assert table == parse_tables(doc["route"], doc["ipv6_route"] if helper else "")
        assert bool(engine.helpers) == helper, (is_local, direct, via)
        if helper:
            [(image, _, mode)] = engine.helpers
            assert image == "busybox:test" and mode == f"container:{mine.id}"
    stopped = dataclasses.replace(mine, running=False)
    with pytest.raises(RouteReadError, match="not running"):
        HostAccess(_Engine(is_local=True), proc=tmp_path).routes(stopped)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("eth0 00000000 010011AC 0003 0 0 0 00000000 0 0 0\n", "header"),
        ("Iface Destination\neth0 00000000\n", "fields"),
        ("Iface Destination\neth0 zz000000 010011AC 0003 0 0 0 00000000 0 0 0\n", "malformed"),
    ],
)
def test_malformed_ipv4_text_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(RouteReadError, match=message):
        parse_ipv4(text)


def test_malformed_ipv6_text_is_a_clear_error() -> None:
    with pytest.raises(RouteReadError, match="line 1 has 3 fields"):
        parse_ipv6("a b c\n")


def _le(addr: ipaddress.IPv4Address) -> str:
    return int(addr).to_bytes(4, "little").hex().upper()


@given(
    net=st.builds(
        lambda a, p: ipaddress.IPv4Network((a, p), strict=False),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    ),
    gw=st.one_of(st.none(), st.integers(1, 2**32 - 1).map(ipaddress.IPv4Address)),
    metric=st.integers(0, 2**16),
)
def test_ipv4_parser_round_trip(
    net: ipaddress.IPv4Network, gw: ipaddress.IPv4Address | None, metric: int
) -> None:
    flags = 0x1 | (0x2 if gw else 0)
    line = (
        f"eth0\t{_le(net.network_address)}\t{_le(gw or ipaddress.IPv4Address(0))}\t{flags:04X}"
        f"\t0\t0\t{metric}\t{_le(net.netmask)}\t0\t0\t0"
    )
    [route] = parse_ipv4("Iface\tDestination\tGateway\n" + line)
    assert route.destination == net
    assert route.gateway == gw
    assert route.metric == metric
    assert format_route(route).startswith(str(net))
