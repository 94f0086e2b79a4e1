"""The planner is pure: (config, observed state) -> steps. These tests build the observed
state by hand and check the plan step by step."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from greenroom import labels
from greenroom.config import Config, load_config
from greenroom.deploy.plan import (
    Context,
    plan_deploy,
    plan_maintenance,
    plan_proxy_reboot,
    plan_rollback,
)
from greenroom.deploy.pools import of_front, proxy_address
from greenroom.deploy.state import AppState, HostState, group_releases
from greenroom.deploy.steps import (
    AttachFront,
    AttachNetworks,
    Confirm,
    CreateRelease,
    Drain,
    EnsureNetwork,
    EnsureProxy,
    HealthGate,
    ProxyAction,
    ProxyJoin,
    PullImage,
    RemoveRelease,
    StartRelease,
    StopRelease,
    Switch,
)
from greenroom.engine.model import Attachment, ContainerInfo, NetworkInfo
from greenroom.errors import ConfigError, DeployError
from greenroom.gateway.rules import EngineRules
from greenroom.proxy.model import proxy_spec
from greenroom.proxy.pod import Routed

YAML = """
proxy:
  ports: ["80:80"]
apps:
  web:
    image: example/web:1
    port: 8000
    hosts: [web.example.com]
    retain: 1
    healthcheck: {path: /up, interval: 200ms}
"""
E28 = EngineRules.of("28.5.2", "1.51")
E20 = EngineRules.of("20.10.24", "1.41")
CTX = Context("d-new", "2026-11-26T13:00:00+00:00", "me@here")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    f = tmp_path / "greenroom.yml"
    f.write_text(YAML)
    return load_config(f, environ={})


def network(name: str, subnet: str, internal: bool = False) -> NetworkInfo:
    return NetworkInfo(name, name, "bridge", internal, False, (ipaddress.ip_network(subnet),))


def container(
    name: str,
    deploy: str,
    at: str,
    *,
    running: bool,
    front_ip: str | None = None,
    color: str = "blue",
    version: str = "web:1",
) -> ContainerInfo:
    atts = [
        Attachment("gr-web-back", "b", ipaddress.IPv4Interface("10.213.0.70/26"), None, "10.213.0.65", "", 10)
    ]
    if front_ip:
        atts.append(
            Attachment("gr-web-front", "f", ipaddress.IPv4Interface(f"{front_ip}/29"), None, "", "", -1)
        )
    return ContainerInfo(
        id=name * 4,
        name=name,
        running=running,
        pid=1,
        network_mode="gr-web-back",
        attachments=tuple(atts),
        published=(),
        labels={
            labels.APP: "web",
            labels.DEPLOY: deploy,
            labels.DEPLOYED_AT: at,
            labels.COLOR: color,
            labels.VERSION: version,
            labels.REPLICA: "0",
            labels.ROLE: labels.ROLE_APP,
        },
    )


def proxy_container(*fronts: str) -> ContainerInfo:
    atts = tuple(Attachment(f, f, None, None, "", "", -1) for f in fronts)
    return ContainerInfo("p" * 64, "greenroom-proxy", True, 2, "greenroom-proxy", atts, ())


def host(
    cfg: Config,
    app: AppState | None = None,
    *,
    proxy: ContainerInfo | None = None,
    home: bool = True,
    others: dict[str, AppState] | None = None,
    rules: EngineRules = E28,
    extra: tuple[NetworkInfo, ...] = (),
) -> HostState:
    apps = {"web": app} if app else {}
    apps.update(others or {})
    nets = [n for a in apps.values() for n in (a.back, a.front) if n is not None]
    home_net = network("greenroom-proxy", "10.213.1.0/26") if home else None
    # a current proxy: its config pools every app's front addresses on the app's port
    pooled: set[str] = set()
    for name, a in apps.items():
        if a.front is not None and name in cfg.apps:
            pooled |= of_front(ipaddress.IPv4Network(a.front.subnets[0]), (cfg.apps[name].port or 0,))
    gen = proxy_spec(cfg).generation(tuple(sorted(pooled)))
    return HostState(
        "unix:///test.sock",
        proxy,
        gen if proxy else None,
        home_net,
        apps,
        tuple(nets + ([home_net] if home_net else []) + list(extra)),
        proxy_pools=frozenset(pooled) if proxy else frozenset(),
        rules=rules,
    )


def live_state(
    *containers: ContainerInfo, routed_deploy: str | None = "d1", went_live: tuple[str, ...] = ()
) -> AppState:
    routed = Routed(
        "web", ("10.213.0.130:8000",), ("web.example.com",), False, "blue", routed_deploy, "web:1", went_live
    )
    return AppState(
        "web",
        network("gr-web-back", "10.213.0.64/26"),
        network("gr-web-front", "10.213.0.128/29", internal=True),
        group_releases(list(containers)),
        routed if routed_deploy else None,
    )


def kinds(plan: object) -> list[str]:
    return [type(s).__name__ for s in plan.steps]  # type: ignore[attr-defined]


def test_first_deploy_builds_everything_in_order(cfg: Config) -> None:
    plan = plan_deploy(cfg, proxy_spec(cfg), host(cfg, home=False), "web", None, CTX, config_hash="h")
    assert kinds(plan) == [
        "EnsureNetwork",
        "EnsureNetwork",
        "EnsureNetwork",
        "EnsureProxy",
        "ProxyJoin",
        "PullImage",
        "CreateRelease",
        "HealthGate",
        "AttachFront",
        "Switch",
        "Confirm",
    ]
    nets = [s for s in plan.steps if isinstance(s, EnsureNetwork)]
    subnets = [ipaddress.ip_network(n.subnet) for n in nets]
    pool = ipaddress.ip_network("10.213.0.0/16")
    assert all(s.subnet_of(pool) for s in subnets)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    assert [n.internal for n in nets] == [False, False, True]  # home, back, front (internal)
    front = subnets[2]
    join = next(s for s in plan.steps if isinstance(s, ProxyJoin))
    attach = next(s for s in plan.steps if isinstance(s, AttachFront))
    assert join.address == str(proxy_address(front))  # type: ignore[arg-type]
    assert attach.addresses[0] != join.address
    create = next(s for s in plan.steps if isinstance(s, CreateRelease))
    spec = create.specs[0]
    assert spec.network == "gr-web-back" and create.color == "blue"
    assert spec.labels[labels.DEPLOY] == "d-new" and spec.labels[labels.CONFIG] == "h"
    gate = next(s for s in plan.steps if isinstance(s, HealthGate))
    assert gate.probe.path == "/up" and gate.probe.interval == 0.2
    switch = next(s for s in plan.steps if isinstance(s, Switch))
    assert switch.previous is None and switch.routed.color == "blue"
    assert switch.routed.targets == (f"{attach.addresses[0]}:8000",)
    confirm = next(s for s in plan.steps if isinstance(s, Confirm))
    assert confirm.host == "web.example.com" and confirm.path == "/up"


def test_host_routes_are_never_shadowed(cfg: Config) -> None:
    ctx = Context("d", "t", "u", (ipaddress.ip_network("10.213.0.0/24"),))
    plan = plan_deploy(cfg, proxy_spec(cfg), host(cfg, home=False), "web", None, ctx, config_hash="h")
    for s in plan.steps:
        if isinstance(s, EnsureNetwork):
            assert not ipaddress.ip_network(s.subnet).overlaps(ipaddress.ip_network("10.213.0.0/24"))


def test_next_deploy_flips_color_drains_stops_and_prunes(cfg: Config) -> None:
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"),
        container("web-green-d0-0", "d0", "2026-01-02", running=False, color="green"),
        container("web-blue-dz-0", "dz", "2026-01-01", running=False),
    )
    state = host(cfg, st, proxy=proxy_container("gr-web-front"))
    plan = plan_deploy(cfg, proxy_spec(cfg), state, "web", "example/web:2", CTX, config_hash="h")
    assert kinds(plan) == [
        "PullImage",
        "CreateRelease",
        "HealthGate",
        "AttachFront",
        "Switch",
        "Confirm",
        "Drain",
        "StopRelease",
        "RemoveRelease",
        "RemoveRelease",
    ]
    create = next(s for s in plan.steps if isinstance(s, CreateRelease))
    assert create.color == "green" and create.specs[0].image == "example/web:2"
    attach = next(s for s in plan.steps if isinstance(s, AttachFront))
    assert "10.213.0.131" not in attach.addresses and "10.213.0.130" not in attach.addresses
    stop = next(s for s in plan.steps if isinstance(s, StopRelease))
    assert stop.deploy == "d1"
    removed = [s.deploy for s in plan.steps if isinstance(s, RemoveRelease)]
    assert removed == ["d0", "dz"]  # retain: 1 keeps only d1 (stopped now)
    switch = next(s for s in plan.steps if isinstance(s, Switch))
    assert switch.previous is not None and switch.previous.deploy == "d1"


def test_repair_after_an_interrupted_deploy(cfg: Config) -> None:
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-02", running=True, front_ip="10.213.0.131"),
        container("web-green-d2-0", "d2", "2026-01-03", running=True, color="green"),  # never live
        container("web-green-d0-0", "d0", "2026-01-01", running=True, color="green"),  # was live
        went_live=("d0", "d1"),
    )
    state = host(cfg, st, proxy=proxy_container("gr-web-front"))
    plan = plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")
    head = plan.steps[:3]
    assert isinstance(head[0], Drain) and head[0].containers == ("web-green-d0-0",)
    assert isinstance(head[1], StopRelease) and head[1].deploy == "d0"
    assert isinstance(head[2], RemoveRelease) and head[2].deploy == "d2"
    assert plan.notes


def test_first_deploy_interrupted_before_the_switch_is_removed(cfg: Config) -> None:
    st = live_state(container("web-blue-d1-0", "d1", "2026-01-02", running=True), routed_deploy=None)
    plan = plan_deploy(
        cfg,
        proxy_spec(cfg),
        host(cfg, st, proxy=proxy_container("gr-web-front")),
        "web",
        None,
        CTX,
        config_hash="h",
    )
    assert isinstance(plan.steps[0], RemoveRelease) and plan.steps[0].deploy == "d1"


def test_front_network_that_is_not_internal_is_refused(cfg: Config) -> None:
    st = live_state()
    st = AppState("web", st.back, network("gr-web-front", "10.213.0.128/29", internal=False), (), None)
    with pytest.raises(DeployError, match="not internal"):
        plan_deploy(cfg, proxy_spec(cfg), host(cfg, st), "web", None, CTX, config_hash="h")


def test_new_proxy_rejoins_every_routed_app(cfg: Config) -> None:
    other = AppState(
        "api",
        network("gr-api-back", "10.213.2.0/26"),
        network("gr-api-front", "10.213.2.64/29", internal=True),
        (),
        Routed("api", ("10.213.2.67:80",)),
    )
    plan = plan_deploy(
        cfg, proxy_spec(cfg), host(cfg, others={"api": other}), "web", None, CTX, config_hash="h"
    )
    joins = [s for s in plan.steps if isinstance(s, ProxyJoin)]
    assert [j.network for j in joins] == ["gr-web-front", "gr-api-front"]
    assert joins[1].address == "10.213.2.66"
    assert any(isinstance(s, EnsureProxy) and s.action is ProxyAction.CREATE for s in plan.steps)
    reboot = plan_proxy_reboot(cfg, proxy_spec(cfg), host(cfg, others={"api": other}))
    assert kinds(reboot) == ["EnsureProxy", "ProxyJoin"]


def test_rollback_picks_the_newest_older_release(cfg: Config) -> None:
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"),
        container("web-green-d0-0", "d0", "2026-01-02", running=False, color="green", version="web:0"),
        container("web-blue-dz-0", "dz", "2026-01-01", running=False, version="web:z"),
    )
    state = host(cfg, st, proxy=proxy_container("gr-web-front"))
    plan = plan_rollback(cfg, proxy_spec(cfg), state, "web", None, CTX)
    assert plan.deploy == "d0"
    assert kinds(plan) == [
        "StartRelease",
        "HealthGate",
        "AttachFront",
        "Switch",
        "Confirm",
        "Drain",
        "StopRelease",
    ]
    assert plan_rollback(cfg, proxy_spec(cfg), state, "web", "web:z", CTX).deploy == "dz"
    with pytest.raises(ConfigError, match="no retained release") as info:
        plan_rollback(cfg, proxy_spec(cfg), state, "web", "web:9", CTX)
    assert "d0 (web:0)" in info.value.hint
    start = plan.steps[0]
    assert isinstance(start, StartRelease) and start.containers == ("web-green-d0-0",)


def test_maintenance_switches_and_drains(cfg: Config) -> None:
    st = live_state(container("web-blue-d1-0", "d1", "2026-01-03", running=True, front_ip="10.213.0.131"))
    plan = plan_maintenance(cfg, host(cfg, st, proxy=proxy_container("gr-web-front")), "web", True)
    assert kinds(plan) == ["Switch", "Drain"]
    switch = plan.steps[0]
    assert isinstance(switch, Switch) and switch.routed.maintenance
    off = plan_maintenance(cfg, host(cfg, st, proxy=proxy_container("gr-web-front")), "web", False)
    assert kinds(off) == ["Switch"]
    with pytest.raises(ConfigError, match="not deployed"):
        plan_maintenance(cfg, host(cfg), "web", True)


def test_extra_networks_are_attached_before_the_gate(cfg: Config, tmp_path: Path) -> None:
    f = tmp_path / "g2.yml"
    f.write_text(YAML + "    networks: [redis-net]\n")
    cfg2 = load_config(f, environ={})
    state = host(cfg2, home=False, extra=(network("redis-net", "10.99.0.0/24"),))
    plan = plan_deploy(cfg2, proxy_spec(cfg2), state, "web", None, CTX, config_hash="h")
    names = kinds(plan)
    assert names.index("AttachNetworks") == names.index("CreateRelease") + 1
    step = next(s for s in plan.steps if isinstance(s, AttachNetworks))
    assert step.networks == ("redis-net",)
    assert isinstance(plan.steps[names.index("PullImage")], PullImage)


def test_a_release_newer_than_the_live_one_after_a_rollback_is_kept(cfg: Config) -> None:
    st = live_state(
        container("web-blue-d1-0", "d1", "2026-01-02", running=True, front_ip="10.213.0.131"),
        container("web-green-d2-0", "d2", "2026-01-03", running=False, color="green"),  # rolled back from
        went_live=("d1", "d2", "d1"),
    )
    plan = plan_deploy(
        cfg,
        proxy_spec(cfg),
        host(cfg, st, proxy=proxy_container("gr-web-front")),
        "web",
        None,
        CTX,
        config_hash="h",
    )
    assert not any(isinstance(s, RemoveRelease) and "never" in s.reason for s in plan.steps)
    switch = next(s for s in plan.steps if isinstance(s, Switch))
    assert switch.routed.went_live == ("d2", "d1", "d-new")


def test_no_plan_without_the_proxys_routing_state(cfg: Config) -> None:
    st = live_state(container("web-blue-d1-0", "d1", "2026-01-02", running=True, front_ip="10.213.0.131"))
    state = dataclasses.replace(host(cfg, st, proxy=proxy_container("gr-web-front")), routed_ok=False)
    with pytest.raises(DeployError, match="routing state could not be read"):
        plan_deploy(cfg, proxy_spec(cfg), state, "web", None, CTX, config_hash="h")
    with pytest.raises(DeployError, match="routing state"):
        plan_maintenance(cfg, state, "web", True)


def test_a_proxy_reboot_recreates_a_holder_missing_a_port_of_proxy_ports_only_when_asked(
    tmp_path: Path,
) -> None:
    from greenroom.errors import DeployError
    from greenroom.proxy.model import LAYOUT, unpublished

    f = tmp_path / "ports.yml"
    f.write_text('proxy: {ports: ["80:80", "443:443"]}\napps:\n  web: {image: "web:1", port: 8000}\n')
    cfg = load_config(f, environ={})
    other = AppState(
        "api",
        network("gr-api-back", "10.213.2.0/26"),
        network("gr-api-front", "10.213.2.64/29", internal=True),
        (),
        Routed("api", ("10.213.2.67:80",)),
    )
    old = dataclasses.replace(
        proxy_container("gr-api-front"),
        labels={LAYOUT: "pod"},
        published=("0.0.0.0:80->80/tcp", "[::]:80->80/tcp"),
    )
    spec = proxy_spec(cfg)
    assert [str(p) for p in unpublished(spec.ports, old.published)] == ["443:443"]
    assert unpublished(spec.ports, (*old.published, "0.0.0.0:443->443/tcp")) == ()
    state = host(cfg, proxy=old, others={"api": other})
    with pytest.raises(DeployError, match="does not publish 443:443") as err:
        plan_proxy_reboot(cfg, spec, state)
    assert "--recreate" in (err.value.hint or "")
    plan = plan_proxy_reboot(cfg, spec, state, recreate=True)
    assert kinds(plan) == ["EnsureProxy", "ProxyJoin"]  # the new holder rejoins every routed app
    ensure = plan.steps[0]
    assert isinstance(ensure, EnsureProxy) and ensure.action is ProxyAction.RECREATE
    assert "publish 443:443" in ensure.describe()
    # a holder with every port: rebooted as before, nothing to rejoin
    current = dataclasses.replace(old, published=(*old.published, "0.0.0.0:443->443/tcp"))
    assert kinds(plan_proxy_reboot(cfg, spec, host(cfg, proxy=current, others={"api": other}))) == [
        "EnsureProxy"
    ]
