"""HAProxy's runtime API adapter against Debian's HAProxy in the test bed's gr-lb host.

Each test starts its own HAProxy (tests/lb.py) whose backend's servers are tiny HTTP
servers in the engine hosts' namespaces (e28 and e20), and reaches its runtime API over
the unix socket, over TCP, and over SSH (the bed's sshd on e3, which shares this
machine's filesystem and so the socket: `ssh gr-e3 socat - UNIX-CONNECT:...`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from greenroom.engine.ssh_command import SSH_CONFIG_ENV
from greenroom.errors import LoadBalancerError
from greenroom.lb.haproxy import HAProxy, RuntimeApi, SshSocketApi, TcpApi, UnixSocketApi
from tests.bed import load_description
from tests.lb import OwnHaproxy, Traffic, free_ports, haproxy, http_server

DESC = load_description()
pytestmark = pytest.mark.skipif("lb" not in DESC, reason="no load balancer host: scripts/testbed up-lb")
HOSTS = {e["name"]: e for e in DESC["engines"]}


@dataclass
class Servers:
    """One HTTP server per engine host, each stoppable and restartable on its port."""

    ports: dict[str, int]
    running: dict[str, contextlib.ExitStack] = field(default_factory=dict)

    def target(self, name: str) -> str:
        return f"{HOSTS[name]['address']}:{self.ports[name]}"

    def start(self, name: str) -> None:
        stack = contextlib.ExitStack()
        host = HOSTS[name]
        stack.enter_context(http_server(host["netns"], host["address"], self.ports[name], name))
        self.running[name] = stack

    def stop(self, name: str) -> None:
        self.running.pop(name).close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    ports = {name: free_ports(h["netns"], h["address"], 1)[0] for name, h in HOSTS.items()}
    s = Servers(ports)
    try:
        for name in HOSTS:
            s.start(name)
        yield s
    finally:
        for name in list(s.running):
            s.stop(name)


@pytest.fixture
def lb(tmp_path: Path, servers: Servers) -> Iterator[OwnHaproxy]:
    with haproxy(tmp_path / "lb", "web", {name: servers.target(name) for name in HOSTS}) as h:
        yield h


def api(kind: str, h: OwnHaproxy) -> RuntimeApi:
    if kind == "unix":
        return UnixSocketApi(h.socket)
    if kind == "tcp":
        return TcpApi.parse(h.admin)
    if "remote" not in DESC:
        pytest.skip("no remote host e3 for ssh: scripts/testbed up-e3")
    ssh = DESC["remote"]["ssh"]
    return SshSocketApi.of(ssh["alias"], h.socket, environ={SSH_CONFIG_ENV: ssh["config"]})


@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_drain_wait_idle_and_ready_under_load_fail_no_request(
    kind: str, lb: OwnHaproxy, servers: Servers
) -> None:
    proxy = HAProxy(api(kind, lb))
    traffic = Traffic(lb.address, lb.port).start()
    try:
        for name in HOSTS:
            traffic.wait_for(name, 20)
        proxy.drain("web", "e28")
        assert proxy.state("web", "e28").draining
        idle = proxy.wait_idle("web", "e28", timeout=10)
        assert idle.sessions == 0 and idle.status == "DRAIN"
        # drained and idle: its server can go away without a request noticing
        servers.stop("e28")
        before = traffic.answered().get("e20", 0)
        traffic.wait_for("e20", before + 200)
        servers.start("e28")
        proxy.ready("web", "e28")
        assert proxy.state("web", "e28").admin_state == "ready"
        traffic.wait_for("e28", traffic.answered()["e28"] + 50)
    finally:
        traffic.stop()
    assert traffic.failures == [], traffic.summary()


@pytest.mark.parametrize("kind", ["unix", "tcp", "ssh"])
def test_every_transport_drains_reads_and_readies(kind: str, lb: OwnHaproxy) -> None:
    proxy = HAProxy(api(kind, lb))
    assert [s.server for s in proxy.servers("web")] == list(HOSTS)
    proxy.drain("web", "e20")
    assert proxy.state("web", "e20").admin_state == "drain"
    assert proxy.wait_idle("web", "e20", timeout=5).idle
    proxy.ready("web", "e20")
    assert proxy.state("web", "e20").admin_state == "ready"


def test_an_unknown_backend_or_server_is_a_clear_error(lb: OwnHaproxy) -> None:
    proxy = HAProxy(api("unix", lb))
    with pytest.raises(LoadBalancerError) as info:
        proxy.drain("nosuch", "e28")
    text = str(info.value)
    assert lb.socket in text and "no backend 'nosuch'" in text and "backends: web" in text
    with pytest.raises(LoadBalancerError) as info:
        proxy.drain("web", "app-9")
    text = str(info.value)
    assert "backend 'web' has no server 'app-9'" in text and "e28, e20" in text
    assert "load_balancer.haproxy.servers" in text
    with pytest.raises(LoadBalancerError, match="no server 'app-9'"):
        proxy.wait_idle("web", "app-9", timeout=1)


def test_nothing_listening_is_a_clear_error(tmp_path: Path, lb: OwnHaproxy) -> None:
    with pytest.raises(LoadBalancerError, match="no socket there") as info:
        HAProxy(UnixSocketApi(str(tmp_path / "missing.sock"))).drain("web", "e28")
    assert "missing.sock" in str(info.value) and "(for server web/e28)" in str(info.value)
    port = free_ports(DESC["lb"]["netns"], lb.address, 1)[0]
    with pytest.raises(LoadBalancerError, match="refused") as info:
        HAProxy(TcpApi(lb.address, port, timeout=2)).ready("web", "e28")
    assert f"{lb.address}:{port}" in str(info.value)


def test_a_session_that_outlives_the_drain_timeout_is_named(lb: OwnHaproxy, servers: Servers) -> None:
    """A request the server holds keeps the drain from ending: the error says how many."""
    proxy = HAProxy(api("tcp", lb))
    stuck = subprocess.Popen(  # a request the server holds for 30 s
        [sys.executable, "-c", SLOW_CLIENT, lb.address, str(lb.port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stuck.stdout is not None and stuck.stdout.readline().strip() == "sent"
        deadline = time.monotonic() + 10
        while sum(proxy.stat("web", n).sessions for n in HOSTS) == 0:
            assert time.monotonic() < deadline, "the held request never reached a server"
            time.sleep(0.02)
        busy = next(n for n in HOSTS if proxy.stat("web", n).sessions > 0)
        proxy.drain("web", busy)
        with pytest.raises(LoadBalancerError) as info:
            proxy.wait_idle("web", busy, timeout=0.5)
        assert f"web/{busy} still has 1 session(s)" in str(info.value)
        assert "drain_timeout" in str(info.value)
    finally:
        stuck.kill()
        stuck.wait()


SLOW_CLIENT = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
print("sent", flush=True)
time.sleep(60)
"""
