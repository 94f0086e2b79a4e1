"""Taking a host out of the load balancer and putting it back, around its work.

With HAProxy: `set server BACKEND/SERVER state drain` on every configured backend, wait
until the server has no session left (at most drain_timeout), do the work, then
`state ready`, whatever the work's outcome (a failed deploy left the old version serving:
the host serves again). With hooks: `before_host`, the work, `after_host`. Without a load
balancer the work runs as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from greenroom.clock import Clock
from greenroom.config.balancer import HaproxyConfig, HooksConfig, LoadBalancerConfig
from greenroom.lb.haproxy import HAProxy, RuntimeApi, SshSocketApi, TcpApi, UnixSocketApi
from greenroom.lb.hooks import HookContext, run_hook


def runtime_api(cfg: HaproxyConfig) -> RuntimeApi:
    if cfg.address is not None:
        return TcpApi.parse(cfg.address, cfg.timeout)
    assert cfg.socket is not None
    if cfg.ssh is not None:
        return SshSocketApi.of(cfg.ssh, cfg.socket, cfg.timeout)
    return UnixSocketApi(cfg.socket, cfg.timeout)


@dataclass
class Handoff:
    """One load balancer's hand-off for the hosts of a rollout."""

    cfg: LoadBalancerConfig | None
    clock: Clock
    secrets: Iterable[str] = ()
    said: list[str] = field(default_factory=list)  # what was done, for the report

    @property
    def active(self) -> bool:
        return self.cfg is not None

    def _haproxy(self, cfg: HaproxyConfig) -> HAProxy:
        return HAProxy(runtime_api(cfg), self.clock)

    @contextlib.contextmanager
    def around(self, host: str, *, action: str, app: str = "", version: str = "") -> Iterator[None]:
        """The host out of the load balancer while inside; back in on the way out."""
        if self.cfg is None:
            yield
            return
        if self.cfg.haproxy is not None:
            with self._drained(self.cfg.haproxy, host):
                yield
            return
        assert self.cfg.hooks is not None
        with self._hooked(self.cfg.hooks, host, action, app, version):
            yield

    @contextlib.contextmanager
    def _drained(self, cfg: HaproxyConfig, host: str) -> Iterator[None]:
        lb = self._haproxy(cfg)
        server = cfg.server(host)
        drained: list[str] = []
        try:
            for backend in cfg.backend:
                lb.drain(backend, server)
                drained.append(backend)
            start = self.clock.monotonic()
            for backend in cfg.backend:
                lb.wait_idle(backend, server, cfg.drain_timeout)
            self.said.append(
                f"{host}: drained {server} at {lb.where} in {self.clock.monotonic() - start:.2f}s"
            )
            yield
        finally:
            for backend in drained:
                lb.ready(backend, server)  # a failure here says so: the host stays out
            if drained:
                self.said.append(f"{host}: {server} ready again")

    @contextlib.contextmanager
    def _hooked(self, cfg: HooksConfig, host: str, action: str, app: str, version: str) -> Iterator[None]:
        before = cfg.before_host
        if before is not None:
            ctx = HookContext(host, "before_host", action, app, version)
            run_hook(before, ctx, timeout=cfg.timeout, secrets=self.secrets, clock=self.clock)
            self.said.append(f"{host}: before_host done")
        try:
            yield
        finally:
            if cfg.after_host is not None:
                ctx = HookContext(host, "after_host", action, app, version)
                run_hook(cfg.after_host, ctx, timeout=cfg.timeout, secrets=self.secrets, clock=self.clock)
                self.said.append(f"{host}: after_host done")
