"""Seeing the fleet: every host's status at once, version drift, the load balancer's view.

Each host is asked in parallel; a host that does not answer within its connect_timeout
(reaching it) plus READ_WAIT (reading it) is reported by name and does not hold the
others' answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from greenroom.config import Config
from greenroom.config.fleet import FleetHost
from greenroom.deploy.host import DockerHost
from greenroom.deploy.status import AppStatus
from greenroom.errors import GreenroomError
from greenroom.fleet.handoff import runtime_api
from greenroom.fleet.hosts import docker_host_for, is_sole, reach
from greenroom.lb.haproxy import HAProxy

READ_WAIT = 30.0
T = TypeVar("T")


@dataclass
class HostView:
    host: str
    engine: str
    apps: list[AppStatus] = field(default_factory=list)
    proxy_running: bool = False
    error: str = ""  # unreachable, or could not be read
    balancer: str = ""  # the load balancer's state of this host's server(s): ready, drain, maint
    docker: str = ""  # the engine's version
    proxy: str = ""  # the proxy's name
    generation: str = ""  # the proxy's nginx.conf generation


@dataclass
class FleetView:
    hosts: list[HostView]
    balancer_error: str = ""

    def drift(self) -> dict[str, dict[str, str]]:
        """Apps whose live version differs between hosts: app -> host -> version."""
        versions: dict[str, dict[str, str]] = {}
        for h in self.hosts:
            for a in h.apps:
                versions.setdefault(a.app, {})[h.host] = a.version or "not deployed"
        return {app: seen for app, seen in versions.items() if len(set(seen.values())) > 1}

    def staged(self) -> dict[str, dict[str, str]]:
        """Apps with a staged color on some host: app -> host -> what is staged there
        (`deploy/status.py`'s words, "" where nothing is), for every host that answered."""
        seen: dict[str, dict[str, str]] = {}
        for h in self.hosts:
            for a in h.apps:
                seen.setdefault(a.app, {})[h.host] = a.staged or ""
        return {app: hosts for app, hosts in seen.items() if any(hosts.values())}


def each_host(
    cfg: Config,
    hosts: list[FleetHost],
    ask: Callable[[DockerHost], T],
    make: Callable[[FleetHost], DockerHost] | None = None,
) -> dict[str, T | GreenroomError]:
    """`ask` of every host at once; a host that fails or does not answer in time is an error."""
    services, unreachable = reach(cfg, hosts, make or docker_host_for(cfg))
    out: dict[str, T | GreenroomError] = {u.host: u.error for u in unreachable}
    guard = threading.Lock()

    def one(name: str, g: DockerHost) -> None:
        try:
            found: T | GreenroomError = ask(g)
        except GreenroomError as exc:
            found = exc
        with guard:
            out[name] = found

    threads = {n: threading.Thread(target=one, args=(n, g), daemon=True) for n, g in services.items()}
    for t in threads.values():
        t.start()
    for name, t in threads.items():
        t.join(READ_WAIT)
        with guard:
            if name not in out:
                out[name] = GreenroomError(f"no answer within {READ_WAIT:g}s", where=f"host {name}")
    for g in services.values():
        g.engine.close()
    return {h.name: out[h.name] for h in hosts}


def fleet_status(cfg: Config, only: str | None = None) -> FleetView:
    hosts = [h for h in cfg.hosts if only is None or h.name == only]

    def ask(g: DockerHost) -> HostView:
        state, rows = g.status()
        running = bool(state.proxy and state.proxy.running)
        view = HostView("", g.engine.host, rows, running, docker=g.engine.info.version)
        view.proxy, view.generation = g.proxy.spec.name, state.proxy_generation or ""
        return view

    found = each_host(cfg, hosts, ask)
    views = []
    for h in hosts:
        got = found[h.name]
        address = h.engine or f"context {h.context}"
        if isinstance(got, GreenroomError) and is_sole(cfg):
            raise got  # a fleet of one fails as its engine did
        if isinstance(got, GreenroomError):
            views.append(HostView(h.name, address, error=str(got)))
        else:
            got.host = h.name
            views.append(got)
    view = FleetView(views)
    lb = cfg.load_balancer
    if lb is not None and lb.haproxy is not None:
        try:
            api = HAProxy(runtime_api(lb.haproxy))
            states = {(s.backend, s.server): s for b in lb.haproxy.backend for s in api.servers(b)}
            for v in views:
                server = lb.haproxy.server(v.host)
                mine = [s for (b, name), s in states.items() if name == server]
                v.balancer = (
                    ", ".join(
                        sorted(
                            {"maint" if s.maintenance else "drain" if s.draining else "ready" for s in mine}
                        )
                    )
                    or "not in the backend"
                )
        except GreenroomError as exc:
            view.balancer_error = str(exc)
    return view
