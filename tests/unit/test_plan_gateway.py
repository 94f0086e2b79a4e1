"""The plan shows the gateway decision of every attach step, made from the observed state:
the GwPriority it will send (Docker 28) or why none is needed (20.10), or it refuses before
anything is done."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from greenroom.cli.render import plan_data
from greenroom.config import Config, load_config
from greenroom.deploy.plan import plan_deploy, plan_proxy_reboot, plan_rollback
from greenroom.deploy.state import AppState
from greenroom.deploy.steps import AttachFront, AttachNetworks, ProxyJoin
from greenroom.engine.model import Attachment
from greenroom.errors import GatewayWouldMove, NotFound
from greenroom.gateway.rules import EngineRules
from greenroom.proxy.model import Routed, proxy_spec
from tests.unit.test_plan import (
    CTX,
    E20,
    E28,
    YAML,
    container,
    host,
    live_state,
    network,
    proxy_container,
)

ENGINES = pytest.mark.parametrize("rules", [E20, E28], ids=["e20", "e28"])


def config(tmp_path: Path, extra: str = "") -> Config:
    f = tmp_path / "greenroom.yml"
    f.write_text(YAML + extra)
    return load_config(f, environ={})


@ENGINES
def test_a_first_deploy_says_what_each_attach_sends(rules: EngineRules, tmp_path: Path) -> None:
    cfg = config(tmp_path, "    replicas: 2\n")
    plan = plan_deploy(
        cfg, proxy_spec(cfg), host(cfg, home=False, rules=rules), "web", None, CTX, config_hash="h"
    )
    join = next(s for s in plan.steps if isinstance(s, ProxyJoin))
    attach = next(s for s in plan.steps if isinstance(s, AttachFront))
    assert join.gateway.container == "greenroom-proxy" and join.gateway.network == "gr-web-front"
    assert join.gateway.before.v4 == "greenroom-proxy"  # a new holder: its home network only
    assert [d.container for d in attach.gateway] == list(attach.containers)
    assert {d.before.v4 for d in attach.gateway} == {"gr-web-back"}
    if rules.gw_priority:
        assert join.gateway.priority == -1 and {d.priority for d in attach.gateway} == {-1}
        assert "with GwPriority -1: the gateway stays on gr-web-back" in attach.describe()
    else:
        assert join.gateway.priority is None and {d.priority for d in attach.gateway} == {None}
        assert "with no GwPriority: engine 20.10.24 has none" in attach.describe()
        assert "gr-web-front is internal: sorts after the non-internal gr-web-back" in attach.describe()
    # said once for alike replicas
    assert attach.describe().count("GwPriority") == 1
    data = plan_data(plan)
    steps = {s["step"]: s for s in data["steps"]}
    sent = [g["priority"] for g in steps["AttachFront"]["gateway"]]
    assert sent == [-1, -1] if rules.gw_priority else sent == [None, None]
    assert steps["ProxyJoin"]["gateway"][0]["before"] == {"v4": "greenroom-proxy", "v6": None}


@ENGINES
def test_extra_network_that_sorts_after_the_back_one(rules: EngineRules, tmp_path: Path) -> None:
    cfg = config(tmp_path, "    networks: [zz-redis]\n")
    state = host(cfg, home=False, rules=rules, extra=(network("zz-redis", "10.99.0.0/24"),))
    step = next(
        s
        for s in plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h").steps
        if isinstance(s, AttachNetworks)
    )
    (decision,) = step.gateway
    assert decision.priority == (-1 if rules.gw_priority else None)
    if not rules.gw_priority:
        assert "zz-redis sorts after gr-web-back by name" in decision.why


@ENGINES
def test_extra_network_that_sorts_first_is_refused_on_20_10_before_anything(
    rules: EngineRules, tmp_path: Path
) -> None:
    cfg = config(tmp_path, "    networks: [aa-redis]\n")
    state = host(cfg, home=False, rules=rules, extra=(network("aa-redis", "10.99.0.0/24"),))
    if rules.gw_priority:
        plan = plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")
        step = next(s for s in plan.steps if isinstance(s, AttachNetworks))
        assert step.gateway[0].priority == -1
        # the front attach is decided on top of the extra network's endpoint
        attach = next(s for s in plan.steps if isinstance(s, AttachFront))
        assert attach.gateway[0].priority == -1 and attach.gateway[0].before.v4 == "gr-web-back"
        return
    with pytest.raises(GatewayWouldMove) as info:
        plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")
    assert (
        "would move its default route from gr-web-back to aa-redis on engine 20.10.24" in info.value.message
    )
    assert "--internal" in info.value.hint and "upgrade the engine" in info.value.hint
    assert info.value.exit_code == 3


def test_a_dual_stack_extra_network_is_refused_on_28_5(tmp_path: Path) -> None:
    cfg = config(tmp_path, "    networks: [zz-dual]\n")
    dual = dataclasses.replace(network("zz-dual", "10.99.0.0/24"), ipv6=True)
    dual = dataclasses.replace(dual, subnets=(*dual.subnets, *network("x", "fd00:9::/64").subnets))
    state = host(cfg, home=False, rules=E28, extra=(dual,))
    with pytest.raises(GatewayWouldMove, match="moby #51999"):
        plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")


def test_a_missing_extra_network_is_named_at_plan_time(tmp_path: Path) -> None:
    cfg = config(tmp_path, "    networks: [nowhere]\n")
    with pytest.raises(NotFound, match="network nowhere does not exist"):
        plan_deploy(cfg, proxy_spec(cfg), host(cfg, home=False), "web", None, CTX, config_hash="h")


@ENGINES
def test_a_running_proxy_is_decided_on_its_attachments(rules: EngineRules, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    holder = proxy_container("gr-api-front")
    prio = 10 if rules.gw_priority else 0
    holder = dataclasses.replace(
        holder,
        attachments=(
            Attachment("greenroom-proxy", "h", None, None, "10.213.1.1", "", prio),
            *holder.attachments,
        ),
    )
    api = AppState("api", None, network("gr-api-front", "10.213.2.64/29", internal=True), (), Routed("api"))
    state = host(cfg, proxy=holder, others={"api": api}, rules=rules)
    plan = plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")
    (join,) = [s for s in plan.steps if isinstance(s, ProxyJoin)]
    assert join.gateway.before.v4 == "greenroom-proxy"
    assert join.gateway.priority == (-1 if rules.gw_priority else None)


@ENGINES
def test_rollback_decides_on_the_stopped_releases_networks(rules: EngineRules, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    # a stopped container reports no gateway; its back network still gives one when it starts
    stopped = container("web-green-d0-0", "d0", "2026-01-02", running=False, color="green", version="web:0")
    stopped = dataclasses.replace(
        stopped, attachments=tuple(dataclasses.replace(a, gateway4="") for a in stopped.attachments)
    )
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"), stopped
    )
    state = host(cfg, st, proxy=proxy_container("gr-web-front"), rules=rules)
    plan = plan_rollback(cfg, proxy_spec(cfg), state, "web", None, CTX)
    attach = next(s for s in plan.steps if isinstance(s, AttachFront))
    assert attach.gateway[0].before.v4 == "gr-web-back"
    assert attach.gateway[0].priority == (-1 if rules.gw_priority else None)


@ENGINES
def test_a_rebooted_proxy_that_is_new_rejoins_as_decided(rules: EngineRules, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    apps = {
        n: AppState(n, None, network(f"gr-{n}-front", sub, internal=True), (), Routed(n))
        for n, sub in (("api", "10.213.2.64/29"), ("shop", "10.213.3.64/29"))
    }
    plan = plan_proxy_reboot(cfg, proxy_spec(cfg), host(cfg, others=apps, rules=rules))
    joins = [s for s in plan.steps if isinstance(s, ProxyJoin)]
    assert [j.network for j in joins] == ["gr-api-front", "gr-shop-front"]
    assert {j.gateway.priority for j in joins} == ({-1} if rules.gw_priority else {None})
    assert {j.gateway.before.v4 for j in joins} == {"greenroom-proxy"}
