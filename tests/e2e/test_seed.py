"""The seed's failure, end to end, on both engines (../shared/seed/docker-default-routes.txt).

A container on `app_stage_internal` holds a long-lived TCP connection to an echo server
on another test host, through its default gateway, on an engine host with strict
reverse-path filtering. Plain `docker network connect app_stage` moves the gateway and
the connection goes silent (if that half stops failing, the test bed proves nothing);
`greenroom connect` keeps it echoing. Every failure case runs beside a control.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest

from tests.bed import BedEngine, Scratch, greenroom, uid
from tests.e2e.peers import ECHO_CLIENT, HostClient, echo_server, tally, wait_for_echoes

WATCH = 10.5  # seconds the connection must keep echoing after the attach


def port_for(tag: str) -> int:
    return 30000 + int(tag, 16) % 20000


@pytest.fixture
def strict_rp_filter(bed: BedEngine) -> None:
    for key in ("all", "default"):
        value = bed.in_netns("sysctl", "-n", f"net.ipv4.conf.{key}.rp_filter").stdout.strip()
        assert value == "1", f"the test bed's host {bed.name} must filter strictly ({key}={value})"


@contextlib.contextmanager
def loose_rp_filter(bed: BedEngine) -> Iterator[None]:
    keys = ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter")
    bed.in_netns("sysctl", "-qw", *(f"{k}=0" for k in keys))
    try:
        yield
    finally:
        bed.in_netns("sysctl", "-qw", *(f"{k}=1" for k in keys))


def start_client(bed: BedEngine, box: Scratch, name: str, network: str, port: int) -> Callable[[], str]:
    box.run(
        name,
        network,
        image=bed.base_image,
        command=["python3", "-u", "-c", ECHO_CLIENT, bed.ext_address, str(port)],
    )

    def read_log() -> str:
        return bytes(box.client.api.logs(name)).decode()

    wait_for_echoes(read_log)
    return read_log


def test_plain_connect_silences_the_connection(bed: BedEngine, box: Scratch, strict_rp_filter: None) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    port = port_for(t)
    with echo_server(bed.ext_netns, bed.ext_address, port):
        victim = start_client(bed, box, f"victim{t}", back, port)
        control = start_client(bed, box, f"control{t}", back, port)
        attach = time.time()
        box.connect(f"victim{t}", front)
        time.sleep(WATCH)
        hit, ok = tally(victim()).after(attach + 1.5), tally(control()).after(attach + 1.5)
    assert len(ok.echo) >= 30 and not ok.silent, "control: the test bed itself is broken"
    assert not hit.echo, "the seed's failure no longer reproduces: the test bed proves nothing"
    assert hit.silent and not hit.closed  # open, but nothing comes back


def test_the_cause_is_reverse_path_filtering(bed: BedEngine, box: Scratch) -> None:
    """Control of the control: with loose filtering the same attach does not kill it."""
    t = uid()
    with loose_rp_filter(bed):
        back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
        port = port_for(t)
        with echo_server(bed.ext_netns, bed.ext_address, port):
            victim = start_client(bed, box, f"victim{t}", back, port)
            attach = time.time()
            box.connect(f"victim{t}", front)
            time.sleep(4)
            after = tally(victim()).after(attach + 1.5)
    assert len(after.echo) >= 8
    assert not after.silent


def test_greenroom_connect_keeps_the_connection(bed: BedEngine, box: Scratch, strict_rp_filter: None) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    port = port_for(t)
    with echo_server(bed.ext_netns, bed.ext_address, port):
        client = start_client(bed, box, f"app{t}", back, port)
        if bed.gw_priority:
            target = front
        else:
            # 20.10 has no GwPriority: the non-internal front network is refused...
            res = greenroom("connect", f"app{t}", front, host=bed.host)
            assert res.returncode == 3, res.stderr
            assert "--internal" in res.stderr
            # ...and the fix it names, an internal front network, works
            target = box.network(f"{t}_app_stage_front", internal=True)
        attach = time.time()
        res = greenroom("connect", f"app{t}", target, host=bed.host)
        assert res.returncode == 0, res.stderr
        time.sleep(WATCH)
        after = tally(client()).after(attach)
    assert len(after.echo) >= 40
    assert not after.silent and not after.closed
    assert max(after.echo) - attach >= 10


def _published_server(bed: BedEngine, box: Scratch, name: str, network: str, port: int) -> None:
    from tests.e2e.peers import ECHO_SERVER

    box.run(
        name,
        network,
        image=bed.base_image,
        ports={7000: port},
        command=["python3", "-u", "-c", ECHO_SERVER, "0.0.0.0", "7000"],
    )
    deadline = time.monotonic() + 20
    while "listening" not in bytes(box.client.api.logs(name)).decode():
        assert time.monotonic() < deadline, "echo server did not start"
        time.sleep(0.2)


def test_published_port_connection_survives_greenroom_connect(
    bed: BedEngine, box: Scratch, strict_rp_filter: None
) -> None:
    t = uid()
    back, front = box.network(f"{t}_app_stage_internal"), box.network(f"{t}_app_stage")
    target = front if bed.gw_priority else box.network(f"{t}_app_stage_front", internal=True)
    safe_port, plain_port = port_for(t), port_for(t) + 1
    _published_server(bed, box, f"safe{t}", back, safe_port)
    _published_server(bed, box, f"plain{t}", back, plain_port)
    safe, plain = HostClient(bed.address, safe_port), HostClient(bed.address, plain_port)
    try:
        time.sleep(1.5)
        attach = time.time()
        res = greenroom("connect", f"safe{t}", target, host=bed.host)
        assert res.returncode == 0, res.stderr
        box.connect(f"plain{t}", front)  # the control: plain connect, the gateway moves
        time.sleep(WATCH)
    finally:
        safe.close()
        plain.close()
    kept, lost = safe.result.after(attach), plain.result.after(attach + 1.5)
    assert len(kept.echo) >= 40
    assert not kept.silent and not kept.closed
    assert not lost.echo, "plain connect did not disturb the published port: control failed"
