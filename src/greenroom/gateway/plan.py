"""Pure: the gateway decision of every attach step, made from the observed state, so that
`plan` shows it and the executor sends exactly it (connect.connect_as_decided).

A container's endpoints are known before it exists: a new release joins only its back
network (with its spec's GwPriority), a new proxy holder only its home network; each
attach a plan makes before another is taken into account for the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import ip_network

from greenroom.deploy.state import HostState
from greenroom.deploy.steps import EnsureNetwork
from greenroom.engine.model import ContainerInfo, ContainerSpec, NetworkInfo
from greenroom.errors import GatewayWouldMove, NotFound
from greenroom.gateway.decision import AttachDecision, decide_attach, modelled_endpoints
from greenroom.gateway.rules import Endpoint


def network_info(state: HostState, name: str, planned: Iterable[EnsureNetwork] = ()) -> NetworkInfo:
    """A network as observed, or as a step of the plan will create it."""
    for net in state.networks:
        if net.name == name:
            return net
    for step in planned:
        if step.name == name:
            return NetworkInfo("", step.name, "bridge", step.internal, False, (ip_network(step.subnet),))
    raise NotFound(
        f"network {name} does not exist on {state.engine_host}",
        where=state.engine_host,
        hint=f"create it first (--internal if it only carries traffic between containers): "
        f"docker network create --internal {name}",
    )


def observed_endpoints(state: HostState, container: ContainerInfo, skip: str = "") -> list[Endpoint]:
    """A container's endpoints as its networks define them (`skip`: one the plan detaches)."""
    networks = {n.name: n for n in state.networks}
    return [e for e in modelled_endpoints(container, networks) if e.network != skip]


def spec_endpoints(state: HostState, spec: ContainerSpec, planned: Iterable[EnsureNetwork]) -> list[Endpoint]:
    """The endpoint a container created from `spec` starts with."""
    return [network_info(state, spec.network, planned).endpoint(spec.gw_priority or 0)]


def decide(
    state: HostState, container: str, endpoints: list[Endpoint], network: NetworkInfo
) -> AttachDecision:
    """Decide one attach and add the endpoint it makes to `endpoints`; refuse (before
    anything is done) when it would move the gateway."""
    decision = decide_attach(state.rules, container, endpoints, network)
    if decision.refusal:
        raise GatewayWouldMove(
            decision.refusal, where=f"{state.engine_host} {container}", hint="; ".join(decision.fixes)
        )
    endpoints.append(network.endpoint(decision.priority or 0))
    return decision


def decide_each(
    state: HostState,
    containers: Sequence[str],
    endpoints: Sequence[list[Endpoint]],
    networks: Sequence[NetworkInfo],
) -> tuple[AttachDecision, ...]:
    """For each container (with its endpoints, updated), each network in order."""
    return tuple(
        decide(state, name, eps, net)
        for name, eps in zip(containers, endpoints, strict=True)
        for net in networks
    )
