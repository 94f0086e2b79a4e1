"""Perform a plan's attach steps exactly as decided: the GwPriority each step carries
(or none), after checking that its decision still holds, then verified in the routes."""

from __future__ import annotations

from greenroom.deploy.steps import AttachFront, AttachNetworks, ProxyJoin
from greenroom.engine.protocol import Engine
from greenroom.errors import DeployError
from greenroom.gateway.connect import connect_as_decided


def perform_attach(engine: Engine, step: ProxyJoin | AttachFront | AttachNetworks, helper_image: str) -> str:
    match step:
        case ProxyJoin():
            res = connect_as_decided(engine, step.gateway, ipv4=step.address, helper_image=helper_image)
            return f"{_sent(res.plan.priority)}; proxy gateway on {res.gateway.describe()}"
        case AttachNetworks():
            for decision in step.gateway:
                connect_as_decided(engine, decision, helper_image=helper_image)
            return f"{_sent(*(d.priority for d in step.gateway))}; gateways verified"
        case AttachFront():
            for name, addr, decision in zip(step.containers, step.addresses, step.gateway, strict=True):
                res = connect_as_decided(engine, decision, (step.app,), ipv4=addr, helper_image=helper_image)
                if not res.verified:
                    raise DeployError(f"{name} is not running: cannot verify its gateway", where=engine.host)
            return f"{_sent(*(d.priority for d in step.gateway))}; gateways verified"


def _sent(*priorities: int | None) -> str:
    said = sorted({"no GwPriority" if p is None else f"GwPriority {p}" for p in priorities})
    return "sent " + ", ".join(said)
