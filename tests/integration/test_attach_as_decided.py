"""A decision made earlier (a deploy's plan) is carried out exactly: the GwPriority it
says, the gateway verified; when what it was made on changed meanwhile, nothing is
attached and the error says what changed. On the real engines."""

from __future__ import annotations

import pytest

from greenroom.engine.observe import observe
from greenroom.errors import GatewayWouldMove
from greenroom.gateway.connect import connect_as_decided
from greenroom.gateway.decision import AttachDecision, decide_attach, modelled_endpoints
from tests.bed import BedEngine, Scratch, uid


def decided(bed: BedEngine, cid: str, network: str) -> AttachDecision:
    engine = bed.engine()
    obs = observe(engine, cid)
    eps = modelled_endpoints(obs.container, obs.networks)
    return decide_attach(bed.rules, obs.container.name, eps, engine.network(network))


def test_the_decided_priority_is_sent_and_verified(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    home, front = box.network(f"zz{t}"), box.network(f"aa{t}", internal=True)
    cid = box.run(f"c{t}", home)
    decision = decided(bed, cid, front)
    assert decision.priority == (-1 if bed.gw_priority else None)
    result = connect_as_decided(bed.engine(), decision)
    assert result.verified and result.gateway.v4 == home
    sent = box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"][front].get("GwPriority")
    assert (sent or None) == decision.priority


def test_a_stale_decision_attaches_nothing(bed: BedEngine, box: Scratch) -> None:
    t = uid()
    home, front, rival = box.network(f"zz{t}"), box.network(f"aa{t}", internal=True), box.network(f"ab{t}")
    cid = box.run(f"c{t}", home)
    decision = decided(bed, cid, front)
    box.connect(cid, rival)  # after the plan: its name sorts first, it takes the gateway
    with pytest.raises(GatewayWouldMove) as info:
        connect_as_decided(bed.engine(), decision)
    assert f"leaves by {rival}, not by {home} as planned" in info.value.message
    assert "nothing was attached" in info.value.hint
    assert front not in box.client.api.inspect_container(cid)["NetworkSettings"]["Networks"]
