"""The library's front door: observe -> plan -> execute for each command, under the lock."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import secrets as pyrandom
import threading
from collections.abc import Iterator
from typing import Any

from greenroom.clock import Clock, SystemClock
from greenroom.config import Config, config_hash, secret_values
from greenroom.deploy import lock
from greenroom.deploy.execute import Executor, Outcome, Reporter, StepHook
from greenroom.deploy.interrupt import sigterm_interrupts
from greenroom.deploy.observe import observe_host
from greenroom.deploy.plan import (
    Context,
    plan_deploy,
    plan_maintenance,
    plan_proxy_reboot,
    plan_repair,
    plan_rollback,
    tentative,
)
from greenroom.deploy.release import plan_release
from greenroom.deploy.reports import HistoryEntry, ProxyStatus
from greenroom.deploy.state import HostState
from greenroom.deploy.status import AppStatus, app_status, proxy_status
from greenroom.deploy.steps import EnsureNetwork, EnsureProxy, Plan, ProxyJoin
from greenroom.engine.client import DockerEngine
from greenroom.engine.host_access import HostAccess
from greenroom.engine.protocol import Engine
from greenroom.errors import DeployFailed, GreenroomError, SubnetOverlap
from greenroom.gateway.routes import IPNetwork, parse_ipv4
from greenroom.identity import user_at_host
from greenroom.proxy.model import is_pod, proxy_spec
from greenroom.proxy.pod import PROXY_IMAGE_HINT, Proxy
from greenroom.proxy.protocol import ProxyApi
from greenroom.secrets import Masker

ATTEMPTS = 8  # plans of one deploy, when parallel ones keep taking its subnets


class DockerHost:
    def __init__(
        self,
        cfg: Config,
        *,
        host: str | None = None,
        clock: Clock | None = None,
        reporter: Reporter | None = None,
        engine: Engine | None = None,
        proxy: ProxyApi | None = None,
        cancel: threading.Event | None = None,
        step_hook: StepHook | None = None,
    ) -> None:
        """`engine` and `proxy` default to the real adapters of the config (the unit tests
        pass fakes); `cancel`, once set, interrupts this greenroom's runs (parallel deploys);
        `step_hook` is asked before each step of its deploys (hosts switching together)."""
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.engine: Engine = engine or DockerEngine.from_config(cfg.engine, host)
        self.proxy: ProxyApi = proxy or Proxy(
            self.engine, proxy_spec(cfg), self.clock, direct=cfg.engine.direct
        )
        self.cancel = cancel
        self.step_hook = step_hook
        self.reporter = reporter
        self.helper_image = cfg.engine.helper_image
        self.secrets = tuple(secret_values(cfg))
        self.masker = Masker(self.secrets)
        self._host_routes: tuple[IPNetwork, ...] | None = None
        self.access = HostAccess(self.engine, direct=cfg.engine.direct, helper_image=self.helper_image)
        self.release = "run"  # the release command: "run" once per image, "rerun", "skip" (done)

    def _ensure_proxy_image(self) -> None:
        self.engine.ensure_image(self.proxy.spec.image, hint=PROXY_IMAGE_HINT)

    # -- observing -------------------------------------------------------------------

    def observe(self) -> HostState:
        return observe_host(self.engine, self.proxy, list(self.cfg.apps))

    def observe_healed(self) -> HostState:
        """For commands that change things: when the proxy's holder runs but no nginx
        answers in its namespace (the holder was restarted alone, leaving the instance in
        the old namespace, or the instance is gone), start a new instance first. The
        routing state lives in the proxy's volume: the new instance serves it as it was."""
        state = self.observe()
        if state.proxy is not None and state.proxy.running and is_pod(state.proxy) and not state.routed_ok:
            self._execute(plan_proxy_reboot(self.cfg, self.proxy.spec, state))
            state = self.observe()
        return state

    def host_routes(self) -> tuple[IPNetwork, ...]:
        """The engine host's own routes, so greenroom's subnets never shadow them."""
        if self._host_routes is None:
            text = self.engine.run_helper(self.helper_image, ["cat", "/proc/net/route"], network_mode="host")
            self._host_routes = tuple(r.destination for r in parse_ipv4(text) if r.destination.prefixlen > 0)
        return self._host_routes

    def context(self, plan_needs_networks: bool, *, dry_run: bool = False) -> Context:
        """What a plan needs besides config and state. A dry run changes nothing on the
        engine: it runs no helper, so the host's routes are not read (see TENTATIVE)."""
        now = self.clock.now()
        deploy_id = now.strftime("%y%m%d%H%M%S") + pyrandom.token_hex(2)
        routes = self.host_routes() if plan_needs_networks and not dry_run else ()
        return Context(
            deploy_id,
            now.isoformat(timespec="seconds"),
            user_at_host(),
            routes,
        )

    def _needs_networks(self, state: HostState, app: str) -> bool:
        st = state.app(app)
        return state.home is None or st.back is None or st.front is None

    # -- commands --------------------------------------------------------------------

    def plan(self, app: str, image: str | None = None) -> Plan:
        """The steps a deploy would run now, changing nothing on the engine: no lock, no
        pull, no helper container, no proxy healed."""
        state = self.observe()
        needs = self._needs_networks(state, app)
        plan = self._plan_on(state, app, image, self.context(needs, dry_run=True))
        return tentative(plan) if needs else plan

    def _plan(self, app: str, image: str | None) -> Plan:
        state = self.observe_healed()
        return self._plan_on(state, app, image, self.context(self._needs_networks(state, app)))

    def _plan_on(self, state: HostState, app: str, image: str | None, ctx: Context) -> Plan:
        digest = config_hash(self.cfg.app(app))
        return plan_deploy(
            self.cfg, self.proxy.spec, state, app, image, ctx, config_hash=digest, release=self.release
        )

    def _locked(self, app: str, *, held: bool = False) -> contextlib.AbstractContextManager[object]:
        """APP's lock while inside; nothing to take when the caller `held` it already."""
        if held:
            return contextlib.nullcontext()
        return lock.locked(self.engine, app, self.proxy.spec.image, self.clock)

    def take_lock(self, app: str) -> lock.Lock:
        """Take APP's lock on this engine (the fleet takes every host's before any deploy)."""
        return lock.acquire(self.engine, app, self.proxy.spec.image, self.clock)

    def give_back_lock(self, taken: lock.Lock) -> None:
        lock.give_back(self.engine, taken)

    def deploy(self, app: str, image: str | None = None, *, locked: bool = False) -> Outcome:
        """Deploy APP (IMAGE: another version than the config's). `locked`: the caller holds
        APP's lock on this engine already."""
        self.cfg.app(app)
        self._ensure_proxy_image()
        with sigterm_interrupts(), self._locked(app, held=locked):
            for attempt in range(1, ATTEMPTS + 1):
                plan = self._plan(app, image)
                try:
                    return self._execute(plan)
                except DeployFailed as exc:
                    # another greenroom took the subnet we planned (networks come first in
                    # a plan: nothing else was done yet): observe again and re-plan
                    if attempt == ATTEMPTS or not isinstance(exc.__cause__, SubnetOverlap):
                        raise
                    self._host_routes = None
                    self.clock.sleep(pyrandom.randbelow(100 * attempt) / 1000)  # out of step with the others
            raise AssertionError("unreachable")

    def run_release(self, app: str, image: str | None = None, *, locked: bool = False) -> Outcome:
        """Only APP's release command (a fleet runs it on one host before any host deploys)."""
        with sigterm_interrupts(), self._locked(app, held=locked):
            st = self.observe()
            ctx = self.context(self._needs_networks(st, app))
            return self._execute(plan_release(self.cfg, self.proxy.spec, st, app, image, ctx, self.release))

    def touches_proxy(self, app: str, image: str | None = None) -> bool:
        """Whether a deploy now would create, upgrade or reload the proxy (asked without
        changing anything)."""
        return any(isinstance(s, EnsureProxy) for s in self.plan(app, image).steps)

    def prepare(self, app: str, image: str | None = None) -> Outcome | None:
        """Only a deploy's infrastructure (its networks, the proxy's create, upgrade or
        reload, the proxy's joins), when it touches the proxy; None when it would not. A
        fleet runs this host by host, each out of the load balancer, before switching every
        host together. The caller holds APP's lock."""
        self.cfg.app(app)
        self._ensure_proxy_image()
        with sigterm_interrupts():
            plan = self._plan(app, image)
            infra = tuple(
                itertools.takewhile(
                    lambda s: isinstance(s, EnsureNetwork | EnsureProxy | ProxyJoin), plan.steps
                )
            )
            if not any(isinstance(s, EnsureProxy) for s in infra):
                return None
            return self._execute(dataclasses.replace(plan, action="prepare", deploy=None, steps=infra))

    def rollback_plan(self, app: str, to: str | None = None) -> Plan:
        """The steps a rollback would run now, changing nothing: no lock, no pull, no helper,
        no proxy healed."""
        self.cfg.app(app)
        state = self.observe()
        needs = self._needs_networks(state, app)
        plan = plan_rollback(self.cfg, self.proxy.spec, state, app, to, self.context(needs, dry_run=True))
        return tentative(plan) if needs else plan

    def rollback(self, app: str, to: str | None = None, *, locked: bool = False) -> Outcome:
        self.cfg.app(app)
        self._ensure_proxy_image()
        with sigterm_interrupts(), self._locked(app, held=locked):
            state = self.observe_healed()
            plan = plan_rollback(
                self.cfg, self.proxy.spec, state, app, to, self.context(self._needs_networks(state, app))
            )
            return self._execute(plan)

    def maintenance(self, app: str, on: bool) -> Outcome:
        self._ensure_proxy_image()
        with sigterm_interrupts(), self._locked(app):
            return self._execute(plan_maintenance(self.cfg, self.observe_healed(), app, on))

    def repair(self, app: str) -> Outcome:
        self._ensure_proxy_image()
        with sigterm_interrupts(), self._locked(app):
            return self._execute(plan_repair(self.cfg, self.observe_healed(), app))

    def proxy_reboot(self, *, recreate: bool = False) -> Outcome:
        """`recreate`: a holder without every port of proxy.ports is recreated with them."""
        self._ensure_proxy_image()
        # the EnsureProxy step takes the proxy's lock
        return self._execute(plan_proxy_reboot(self.cfg, self.proxy.spec, self.observe(), recreate=recreate))

    def proxy_status(self) -> ProxyStatus:
        return proxy_status(self.observe(), self.proxy, self.access)

    def unlock(self, app: str, force: bool = False) -> lock.Holder | None:
        """Release APP's lock: only one greenroom created, and unless forced only one whose
        holder is provably gone (raises Locked otherwise)."""
        return lock.release(self.engine, app, force=force)

    def _execute(self, plan: Plan) -> Outcome:
        ex = Executor(
            self.engine,
            self.proxy,
            self.clock,
            helper_image=self.helper_image,
            probe_direct=self.cfg.engine.direct,
            secrets=self.secrets,
            reporter=self.reporter,
            cancel=self.cancel,
            step_hook=self.step_hook,
        )
        started = self.clock.now().isoformat(timespec="seconds")
        try:
            outcome = ex.run(plan)
        except DeployFailed as exc:
            self._record(plan, exc.outcome, started)
            raise
        self._record(plan, outcome, started)
        return outcome

    def _record(self, plan: Plan, outcome: Outcome, started: str) -> None:
        if not plan.steps or all(isinstance(s, EnsureNetwork) for s in plan.steps):
            return
        entry: dict[str, Any] = {
            "action": plan.action,
            "deploy": plan.deploy,
            "ok": outcome.ok,
            "started": started,
            "duration": round(outcome.total, 3),
            "by": user_at_host(),
            "error": self.masker.text(outcome.error),
            "steps": [[r.step, round(r.duration, 3), r.status] for r in outcome.records],
        }
        try:
            c = self.proxy.container()
            if c is not None and c.running:
                self.proxy.record(plan.app, entry)
        except GreenroomError:
            pass  # history is best effort: the deploy's own result stands

    # -- reading -----------------------------------------------------------------------

    def status(self) -> tuple[HostState, list[AppStatus]]:
        state = self.observe()
        unreadable = "" if state.routed_ok else state.routed_error or "the proxy did not answer"
        rows = [
            app_status(state.app(name), self.cfg, self.engine, self.access, unreadable)
            for name in sorted(state.apps)
        ]
        return state, rows

    def history(self, app: str) -> list[HistoryEntry]:
        self.cfg.app(app)
        return [HistoryEntry.from_json(doc) for doc in self.proxy.history(app)]

    def logs(self, app: str, *, tail: int = 100) -> dict[str, str]:
        st = self.observe().app(app)
        live = st.live
        if live is None:
            return {}
        return {c.name: self.masker.text(self.engine.logs(c.name, tail=tail)) for c in live.containers}

    def follow(self, app: str, *, tail: int = 10) -> Iterator[str]:
        st = self.observe().app(app)
        if st.live is None:
            return
        for c in st.live.containers[:1]:
            yield from self.masker.lines(self.engine.follow_logs(c.name, tail=tail, patient=True))
