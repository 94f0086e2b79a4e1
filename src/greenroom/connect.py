"""`greenroom connect`: a `docker network connect` that does not move the default gateway.

plan_connect() is pure: from what was observed it decides the GwPriority to send, or
refuses with the reason and the fixes. connect() carries the plan out, reads the real
routes afterwards and, if the gateway moved anyway, detaches again and fails loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from greenroom.doctor import UNKNOWN, actual_gateway, endpoints_of
from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import NetworkInfo
from greenroom.engine.observe import Observation, observe
from greenroom.engine.protocol import Engine
from greenroom.errors import ConfigError, GatewayMoved, GatewayWouldMove
from greenroom.gateway import EngineRules, Gateway, Sandbox, predict_connect


@dataclass(frozen=True)
class ConnectPlan:
    container: str
    network: str
    aliases: tuple[str, ...]
    priority: int | None
    before: Gateway
    after: Gateway
    refusal: str = ""
    fixes: tuple[str, ...] = field(default=())

    @property
    def moves(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class ConnectResult:
    plan: ConnectPlan
    verified: bool
    gateway: Gateway


def plan_connect(
    obs: Observation,
    rules: EngineRules,
    network: NetworkInfo,
    aliases: Sequence[str] = (),
    *,
    allow_move: bool = False,
) -> ConnectPlan:
    c = obs.container
    if c.attachment(network.name) is not None:
        raise ConfigError(
            f"container {c.name} is already connected to network {network.name}",
            hint=f"nothing to do; `greenroom routes {c.name}` shows its gateway",
        )
    eps = endpoints_of(c, obs.networks)
    box = Sandbox.joined(rules, eps)
    before = box.gateway()
    if obs.routes is not None:
        real = actual_gateway(c, obs.routes)
        if real.v4 != UNKNOWN:
            before = real
    priority: int | None = None
    candidates: list[int | None] = [None]
    if rules.gw_priority:
        lowest = min((e.priority for e in eps), default=0)
        candidates = [-1, min(lowest, 0) - 1]
    after = before
    for candidate in candidates:
        after = predict_connect(box, network.endpoint(candidate or 0)).after
        priority = candidate
        if after.v4 == before.v4 and (before.v6 is None or after.v6 == before.v6):
            break
    plan = ConnectPlan(c.name, network.name, tuple(aliases), priority, before, after)
    if not plan.moves or allow_move:
        return plan
    fixes = [
        f"create the network --internal (it can then never take the gateway): "
        f"docker network create --internal {network.name}"
    ]
    if not rules.gw_priority:
        fixes.append(f"rename it so it sorts after {before.v4}, e.g. zz_{network.name}")
        fixes.append("upgrade the engine to 28 or later, where GwPriority keeps the gateway")
    reason = (
        f"connecting {c.name} to {network.name} would move its default route from "
        f"{before.describe()} to {after.describe()} on engine {rules.label}"
    )
    if rules.gw_priority and network.has_ipv6 and rules.dual_stack_takes_both:
        reason += (
            " (engine < 29.4.1: a dual-stack network takes the IPv4 route whatever its "
            "GwPriority, moby #51999)"
        )
        fixes.append("create the network without IPv6")
    fixes.append("or pass --allow-gateway-move if that is what you want")
    return ConnectPlan(c.name, network.name, tuple(aliases), priority, before, after, reason, tuple(fixes))


def connect(
    engine: Engine,
    container: str,
    network: str,
    aliases: Sequence[str] = (),
    *,
    allow_move: bool = False,
    routes_via: str = "auto",
    helper_image: str | None = None,
    ipv4: str | None = None,
) -> ConnectResult:
    obs = observe(engine, container, routes_via=routes_via, helper_image=helper_image)
    net = engine.network(network)
    plan = plan_connect(obs, engine.info.rules, net, aliases, allow_move=allow_move)
    if plan.refusal:
        raise GatewayWouldMove(
            plan.refusal, where=f"{engine.host} {obs.container.name}", hint="; ".join(plan.fixes)
        )
    engine.connect(obs.container.id, net.id, aliases=aliases, gw_priority=plan.priority, ipv4=ipv4)
    if not obs.container.running:
        return ConnectResult(plan, verified=False, gateway=plan.after)
    table = HostAccess(engine, helper_image=helper_image).routes(
        engine.container(obs.container.id), via=routes_via
    )
    now = actual_gateway(engine.container(obs.container.id), table)
    expected = plan.after if allow_move else plan.before
    if now.v4 != expected.v4 or (expected.v6 is not None and now.v6 != expected.v6):
        engine.disconnect(obs.container.id, net.id)
        raise GatewayMoved(
            f"after connecting {obs.container.name} to {net.name} the default route left by "
            f"{now.describe()} instead of {expected.describe()}; disconnected it again",
            where=f"{engine.host} {obs.container.name}",
            hint="please report this with `greenroom routes --json` output: the engine did "
            "not follow its own rules",
        )
    return ConnectResult(plan, verified=True, gateway=now)
