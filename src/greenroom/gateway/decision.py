"""Pure: how to attach a container to a network without moving its default gateway.

decide_attach() takes the container's endpoints and the network and says which
GwPriority to send (engines >= 28), or why the attach is safe without one (the engine's
order already puts the network after the gateway's), or refuses with the reason and
the fixes. `greenroom connect` decides with it at once; the deploy planner decides with
it from the observed state, so that `plan` shows each decision; the executor sends
exactly what was decided, after checking (recheck) that the decision still holds on
what it observes then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from greenroom.engine.model import ContainerInfo, NetworkInfo
from greenroom.gateway.rules import Endpoint, EngineRules, Gateway, Sandbox, predict_connect


@dataclass(frozen=True)
class AttachDecision:
    """One container joining one network: what to send and why the gateway stays."""

    container: str
    network: str
    priority: int | None  # the GwPriority to send; None: send none
    before: Gateway
    after: Gateway
    why: str  # why the gateway stays (or that it may move)
    refusal: str = ""
    fixes: tuple[str, ...] = field(default=())

    @property
    def moves(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if self.refusal:
            return f"refused: {self.refusal}"
        send = f"GwPriority {self.priority}" if self.priority is not None else "no GwPriority"
        return f"{send}: {self.why}"


def modelled_endpoints(container: ContainerInfo, networks: Mapping[str, NetworkInfo]) -> list[Endpoint]:
    """The container's endpoints as its networks define them (a stopped container reports
    no gateways, but gets them again when it starts); its own attachment when the network
    is unknown."""
    out = []
    for att in container.attachments:
        net = networks.get(att.network)
        out.append(net.endpoint(att.priority) if net is not None else att.endpoint(None))
    return out


def _keeps(before: Gateway, after: Gateway) -> bool:
    return after.v4 == before.v4 and (before.v6 is None or after.v6 == before.v6)


def _why_below(holder: Endpoint, ep: Endpoint) -> str:
    """The first of the engine's ordering rules that puts `ep` after the gateway's endpoint."""
    if not (ep.gw4 or ep.gw6):
        return f"{ep.network} is internal: no gateway on it"
    if ep.priority != holder.priority:
        return f"GwPriority {ep.priority} ranks {ep.network} after {holder.priority} of {holder.network}"
    if ep.gwbridge != holder.gwbridge:
        return f"{ep.network} sorts last"
    if ep.internal != holder.internal:
        return f"{ep.network} is internal: sorts after the non-internal {holder.network}"
    if ep.gateway_count != holder.gateway_count or ep.gw6 != holder.gw6:
        return f"{ep.network} has fewer gateways than {holder.network}"
    return f"{ep.network} sorts after {holder.network} by name"


def _why(rules: EngineRules, box: Sandbox, target: Endpoint, before: Gateway) -> str:
    holder = next((e for e in box.endpoints if e.network == before.v4), None)
    if holder is None:
        return "the container has no default route to move"
    reason = _why_below(holder, target)
    if not rules.gw_priority:
        return f"engine {rules.label} has none; the order keeps the gateway on {holder.network} ({reason})"
    return f"the gateway stays on {holder.network} ({reason})"


def decide_attach(
    rules: EngineRules,
    container: str,
    endpoints: Sequence[Endpoint],
    network: NetworkInfo,
    *,
    actual: Gateway | None = None,
    allow_move: bool = False,
) -> AttachDecision:
    """`actual`: the gateway read from the container's routes, when known (it wins over
    the model's). Engines with GwPriority get a negative one, the first that keeps the
    gateway; older engines get none, and the attach is refused if the order would move it."""
    box = Sandbox.joined(rules, endpoints)
    before = actual if actual is not None else box.gateway()
    priority: int | None = None
    candidates: list[int | None] = [None]
    if rules.gw_priority:
        lowest = min((e.priority for e in box.endpoints), default=0)
        candidates = [-1, min(lowest, 0) - 1]
    after = before
    target = network.endpoint()
    for candidate in candidates:
        change = predict_connect(box, network.endpoint(candidate or 0))
        after, priority = change.after, candidate
        target = next(e for e in change.sandbox.endpoints if e.network == network.name)
        if _keeps(before, after):
            break
    decided = AttachDecision(container, network.name, priority, before, after, "")
    if not decided.moves:
        return replace(decided, why=_why(rules, box, target, before))
    if allow_move:
        return replace(
            decided, why=f"moves the default route from {before.describe()} to {after.describe()} (allowed)"
        )
    fixes = [
        f"create the network --internal (it can then never take the gateway): "
        f"docker network create --internal {network.name}"
    ]
    if not rules.gw_priority:
        fixes.append(f"rename it so it sorts after {before.v4}, e.g. zz_{network.name}")
        fixes.append("upgrade the engine to 28 or later, where GwPriority keeps the gateway")
    reason = (
        f"connecting {container} to {network.name} would move its default route from "
        f"{before.describe()} to {after.describe()} on engine {rules.label}"
    )
    if rules.gw_priority and network.has_ipv6 and rules.dual_stack_takes_both:
        reason += (
            " (engine < 29.4.1: a dual-stack network takes the IPv4 route whatever its "
            "GwPriority, moby #51999)"
        )
        fixes.append("create the network without IPv6")
    return AttachDecision(container, network.name, priority, before, after, reason, reason, tuple(fixes))


def recheck(
    decision: AttachDecision,
    rules: EngineRules,
    container: ContainerInfo,
    networks: Mapping[str, NetworkInfo],
    network: NetworkInfo,
    actual: Gateway | None,
) -> str | None:
    """None when the decision still holds on what is observed now: the same GwPriority,
    and the gateway where it was planned. Networks other greenrooms attached meanwhile
    (parallel deploys) do not matter unless they change that. Else: what changed."""
    if container.attachment(decision.network) is not None:
        return f"{container.name} is already on {decision.network}"
    if actual is not None and not _keeps(decision.before, actual):
        return (
            f"its default route leaves by {actual.describe()}, not by {decision.before.describe()} "
            f"as planned (`greenroom routes {container.name}` shows why)"
        )
    now = decide_attach(
        rules, container.name, modelled_endpoints(container, networks), network, actual=actual
    )
    if now.refusal:
        return now.refusal
    if (now.priority, now.before, now.after) != (decision.priority, decision.before, decision.after):
        return (
            f"it would now decide {now.describe()!r} with the default route on {now.before.describe()} "
            f"(planned on {decision.before.describe()})"
        )
    return None
