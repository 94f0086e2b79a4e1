"""The EnsureProxy step: create, rebuild or reconfigure the host's proxy, under the proxy's
lock (another greenroom may be doing the same: two apps' first deploys on a new host)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from greenroom import labels
from greenroom.clock import Clock, poll_until
from greenroom.deploy import lock, pools
from greenroom.deploy.steps import EnsureProxy, ProxyAction
from greenroom.engine.protocol import Engine
from greenroom.errors import Locked, ProxyError
from greenroom.proxy.model import current, is_pod
from greenroom.proxy.pod import PROXY_IMAGE_HINT
from greenroom.proxy.protocol import ProxyApi

PROXY_LOCK_WAIT = 60.0  # seconds to wait for another greenroom's proxy create or reload


def ensure_proxy(engine: Engine, proxy: ProxyApi, clock: Clock, step: EnsureProxy) -> str:
    """Under the proxy's lock, waiting for it: another greenroom may be creating or
    reconfiguring the same proxy (two apps' first deploys on a new host)."""
    if step.action is not ProxyAction.RECONFIGURE:
        engine.ensure_image(proxy.spec.image, hint=PROXY_IMAGE_HINT)
    with _proxy_lock(engine, proxy, clock):
        holder = proxy.container()
        if step.action is ProxyAction.RECREATE and holder is not None and holder.running and is_pod(holder):
            return proxy.recreate(step.pools)
        if holder is None or not holder.running or not is_pod(holder):
            if holder is not None:
                if holder.labels.get(labels.MANAGED) != "true":
                    raise ProxyError(
                        f"a container named {holder.name} exists and greenroom did not create it",
                        where=engine.host,
                        hint="rename or remove it, or give greenroom's proxy another name (proxy.name)",
                    )
                engine.remove(holder.id)  # stopped, or an older greenroom's layout
            proxy.create(step.pools)
            return f"generation {proxy.spec.generation(step.pools)}"
        if step.action is ProxyAction.REBUILD or current(proxy.instances(refresh=True)) is None:
            return proxy.reboot(step.pools)
        live = proxy.pools_live()
        if set(step.pools) <= live and proxy.generation_live() == proxy.spec.generation(tuple(sorted(live))):
            return "already current (applied by another greenroom)"
        # one reload for every app whose front network exists by now (apps deployed in
        # parallel): theirs then find their pools live and skip their own
        fronts = [(n, ()) for n in engine.networks() if n.labels.get(labels.ROLE) == labels.ROLE_FRONT]
        want = pools.merged(step.pools, step.seen, live | set(pools.wanted(fronts, None)))
        return proxy.apply_config(want)


@contextlib.contextmanager
def _proxy_lock(engine: Engine, proxy: ProxyApi, clock: Clock) -> Iterator[None]:
    image = proxy.spec.image
    held: list[Locked] = []

    def take() -> lock.Lock | None:
        try:
            return lock.acquire(engine, lock.PROXY, image, clock)
        except Locked as exc:
            held[:] = [exc]
            return None

    taken = poll_until(clock, take, timeout=PROXY_LOCK_WAIT, interval=0.05, cap=0.5)
    if taken is None:
        raise held[-1]
    try:
        yield
    finally:
        lock.give_back(engine, taken)
