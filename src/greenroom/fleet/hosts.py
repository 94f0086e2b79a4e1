"""The fleet's hosts: which ones an app runs on, and a greenroom for each, reached in time.

A config without `hosts:` is a fleet of one host (`as_fleet`): the engine that --engine,
engine.host, DOCKER_HOST or the Docker context names. One host and many go through the
same runner, locks, report and --json; only the CLI prints a fleet of one more compactly.

Every host is reached in parallel, each within its `connect_timeout`: an engine that does
not answer is reported by name and never hangs the command (its attempt is left to finish
in the background; nothing has been done on it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from greenroom.clock import Clock
from greenroom.config import Config
from greenroom.config.fleet import FleetHost, placed
from greenroom.deploy.host import DockerHost
from greenroom.deploy.outcome import Reporter
from greenroom.engine.address import context_address
from greenroom.engine.bound import HostLabel
from greenroom.engine.client import DockerEngine
from greenroom.engine.tls import tls_material
from greenroom.errors import ConfigError, EngineUnreachable, GreenroomError

SOLE_HOST = "default"  # the name of a fleet of one's host (as Docker's "default" context)


class SoleHost(FleetHost):
    """The one host of a config without `hosts:`: its engine is resolved when it is opened
    (`engine` is --engine's address, else None: engine.host, DOCKER_HOST, the context)."""


def as_fleet(cfg: Config, engine: str | None = None) -> Config:
    """CFG as a fleet: its `hosts:`, or none listed, the one host its engine is (ENGINE, an
    address from --engine, overrides engine.host)."""
    if cfg.hosts:
        return cfg
    sole = SoleHost.model_construct(name=SOLE_HOST, engine=engine)
    return cfg.model_copy(update={"hosts": (sole,)})


def fleet_at(cfg: Config, at: str | None) -> tuple[Config, str | None]:
    """CFG as a fleet, and the one host of it to act on (None: every host). AT is what a
    command was told: with `hosts:`, a host's name; without, an engine's address (its fleet
    of one's engine)."""
    return (cfg, at) if cfg.hosts else (as_fleet(cfg, at), None)


def is_sole(cfg: Config) -> bool:
    """Whether CFG is a fleet of one made by `as_fleet` (no `hosts:` in the file)."""
    return len(cfg.hosts) == 1 and isinstance(cfg.hosts[0], SoleHost)


@dataclass(frozen=True)
class Unreachable:
    host: str
    error: GreenroomError


def placed_hosts(cfg: Config, app: str, only: str | None = None) -> tuple[FleetHost, ...]:
    """The hosts APP runs on, in rollout order; `only`: that one host (it must be one of them)."""
    hosts = placed(cfg.hosts, cfg.app(app).placement)
    if only is None:
        return hosts
    host_names(cfg, only)  # a host at all?
    picked = tuple(h for h in hosts if h.name == only)
    if not picked:
        raise ConfigError(
            f"host {only!r} does not run {app}",
            where="--host",
            hint=f"{app} runs on {', '.join(h.name for h in hosts) or 'no host'} (its placement picks them)",
        )
    return picked


def host_names(cfg: Config, only: str | None = None) -> tuple[str, ...]:
    """Every host (or `only`), for commands about the hosts rather than an app."""
    if only is not None and all(h.name != only for h in cfg.hosts):
        names = ", ".join(h.name for h in cfg.hosts) or "none"
        raise ConfigError(
            f"host {only!r} is not a host in hosts:", where="--host", hint=f"the hosts: {names}"
        )
    return tuple(h.name for h in cfg.hosts if only is None or h.name == only)


def open_engine(cfg: Config, host: FleetHost) -> DockerEngine:
    """The engine of one host: its address or Docker context, its TLS (else engine.tls)."""
    if isinstance(host, SoleHost):
        return DockerEngine.from_config(cfg.engine, host.engine)
    origin = f"hosts.{host.name}.engine"
    if host.context is not None:
        ep = context_address(host.context, os.environ)
        address, tls, origin = ep.host, ep.tls, f"hosts.{host.name}.context {host.context}"
    else:
        assert host.engine is not None
        address = host.engine
        if host.tls is not None:
            tls = tls_material(host.tls, f"hosts.{host.name}.tls")
        else:
            tls = tls_material(cfg.engine.tls, "engine.tls")
    return DockerEngine(
        address,
        tls=tls,
        insecure_plain_tcp=cfg.engine.insecure_plain_tcp,
        call_timeout=host.call_timeout or cfg.engine.call_timeout,
        name=host.name,
        origin=origin,
    )


def reach(
    cfg: Config,
    hosts: Sequence[FleetHost],
    make: Callable[[FleetHost], DockerHost],
) -> tuple[dict[str, DockerHost], list[Unreachable]]:
    """A greenroom per host, all reached at once, each within its connect_timeout."""
    found: dict[str, DockerHost] = {}
    failed: dict[str, GreenroomError] = {}
    lock = threading.Lock()

    def one(host: FleetHost) -> None:
        try:
            g = make(host)
        except GreenroomError as exc:
            with lock:
                failed[host.name] = exc
            return
        except Exception as exc:  # a bug must not pass as "unreachable"
            with lock:
                failed[host.name] = GreenroomError(f"unexpected {type(exc).__name__}: {exc}", where=host.name)
            return
        with lock:
            if host.name in failed:  # timed out meanwhile: nobody will use it
                g.engine.close()
            else:
                found[host.name] = g

    threads = {h.name: threading.Thread(target=one, args=(h,), daemon=True) for h in hosts}
    for t in threads.values():
        t.start()
    for host in hosts:
        threads[host.name].join(host.connect_timeout)
        with lock:
            if host.name not in found and host.name not in failed:
                failed[host.name] = _no_answer(host)
    unreachable = [Unreachable(h.name, failed[h.name]) for h in hosts if h.name in failed]
    return found, unreachable


def _no_answer(host: FleetHost) -> EngineUnreachable:
    if isinstance(host, SoleHost):
        address = host.engine or "the engine (engine.host, DOCKER_HOST or the Docker context)"
        return EngineUnreachable(
            f"the engine did not answer within {host.connect_timeout:g} s (connect)",
            where=address,
            hint=HostLabel(address).unreachable_hint(),
        )
    address = host.engine or f"context {host.context}"
    label = HostLabel(address, host.name, f"hosts.{host.name}.{'engine' if host.engine else 'context'}")
    return EngineUnreachable(
        f"host {host.name} did not answer within {host.connect_timeout:g} s (connect)",
        where=address,
        hint=f"{label.unreachable_hint()}; hosts.{host.name}.connect_timeout gives it longer",
    )


def docker_host_for(
    cfg: Config,
    *,
    clock: Clock | None = None,
    cancel: threading.Event | None = None,
    reporter: Callable[[str], Reporter | None] = lambda host: None,
) -> Callable[[FleetHost], DockerHost]:
    """The factory `reach` calls: a greenroom on the host's engine (`reporter` per host)."""

    def make(host: FleetHost) -> DockerHost:
        engine = open_engine(cfg, host)
        return DockerHost(cfg, engine=engine, clock=clock, cancel=cancel, reporter=reporter(host.name))

    return make
