"""`greenroom connect`: a `docker network connect` that does not move the default gateway.

plan_connect() is pure: from what was observed it decides (gateway_decision.py) the
GwPriority to send, or refuses with the reason and the fixes. safe_connect() carries the plan
out, reads the real routes afterwards and, if the gateway moved anyway, detaches again
and fails loudly. connect_as_decided() carries out a decision a deploy's plan made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from greenroom.engine.host_access import HostAccess
from greenroom.engine.model import NetworkInfo
from greenroom.engine.observe import Observation, observe
from greenroom.engine.protocol import Engine
from greenroom.errors import ConfigError, GatewayMoved, GatewayWouldMove
from greenroom.gateway.decision import AttachDecision, decide_attach, recheck
from greenroom.gateway.doctor import UNKNOWN, actual_gateway, endpoints_of
from greenroom.gateway.rules import EngineRules, Gateway


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

    @classmethod
    def of(cls, d: AttachDecision, aliases: Sequence[str] = (), fixes: Sequence[str] = ()) -> ConnectPlan:
        return cls(
            d.container, d.network, tuple(aliases), d.priority, d.before, d.after, d.refusal, tuple(fixes)
        )


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
    decision = decide_attach(
        rules, c.name, endpoints_of(c, obs.networks), network, actual=_known(obs), allow_move=allow_move
    )
    fixes = (
        (*decision.fixes, "or pass --allow-gateway-move if that is what you want") if decision.refusal else ()
    )
    return ConnectPlan.of(decision, aliases, fixes)


def _known(obs: Observation) -> Gateway | None:
    """The gateway the container's routes show, when they were read and name a network."""
    if obs.routes is None:
        return None
    real = actual_gateway(obs.container, obs.routes)
    return real if real.v4 != UNKNOWN else None


def safe_connect(
    engine: Engine,
    container: str,
    network: str,
    aliases: Sequence[str] = (),
    *,
    allow_move: bool = False,
    routes_via: str = "auto",
    helper_image: str | None = None,
) -> ConnectResult:
    obs = observe(engine, container, routes_via=routes_via, helper_image=helper_image)
    net = engine.network(network)
    plan = plan_connect(obs, engine.info.rules, net, aliases, allow_move=allow_move)
    if plan.refusal:
        raise GatewayWouldMove(
            plan.refusal, where=f"{engine.host} {obs.container.name}", hint="; ".join(plan.fixes)
        )
    expected = plan.after if allow_move else plan.before
    return _attach_and_verify(
        engine, obs, net, plan, expected, routes_via=routes_via, helper_image=helper_image
    )


def connect_as_decided(
    engine: Engine,
    decision: AttachDecision,
    aliases: Sequence[str] = (),
    *,
    ipv4: str | None = None,
    helper_image: str | None = None,
) -> ConnectResult:
    """Carry out a decision made earlier (a deploy's plan): first check that what it was
    made on still holds, else refuse rather than act on a stale decision; then send
    exactly the decided GwPriority, and verify the gateway in the container's routes."""
    where = f"{engine.host} {decision.container}"
    if decision.refusal:
        raise GatewayWouldMove(decision.refusal, where=where, hint="; ".join(decision.fixes))
    obs = observe(engine, decision.container, helper_image=helper_image)
    net = engine.network(decision.network)
    changed = recheck(decision, engine.info.rules, obs.container, obs.networks, net, _known(obs))
    if changed:
        raise GatewayWouldMove(
            f"not attaching {decision.network} to {decision.container}: the plan decided "
            f"{decision.describe()!r}, but {changed}",
            where=where,
            hint="nothing was attached; run the command again: it plans afresh from what it finds",
        )
    plan = ConnectPlan.of(decision, aliases)
    return _attach_and_verify(engine, obs, net, plan, decision.before, helper_image=helper_image, ipv4=ipv4)


def _attach_and_verify(
    engine: Engine,
    obs: Observation,
    net: NetworkInfo,
    plan: ConnectPlan,
    expected: Gateway,
    *,
    routes_via: str = "auto",
    helper_image: str | None = None,
    ipv4: str | None = None,
) -> ConnectResult:
    """Attach with the plan's GwPriority; when the container runs, read its routes: if the
    gateway is not `expected`, detach again and fail loudly."""
    engine.connect_network(
        obs.container.id, net.id, aliases=plan.aliases, gw_priority=plan.priority, ipv4=ipv4
    )
    if not obs.container.running:
        return ConnectResult(plan, verified=False, gateway=plan.after)
    table = HostAccess(engine, helper_image=helper_image).routes(
        engine.container(obs.container.id), via=routes_via
    )
    now = actual_gateway(engine.container(obs.container.id), table)
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
