"""What `status` and `proxy status` say about one host: each app's row, the proxy's state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from greenroom import labels
from greenroom.config import Config
from greenroom.deploy.releases import repair
from greenroom.deploy.reports import NginxInstance, ProxyStatus, RoutedApp
from greenroom.deploy.state import AppState, HostState
from greenroom.engine.host_access import HostAccess
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError
from greenroom.gateway.doctor import actual_gateway
from greenroom.proxy.model import current, is_pod, unpublished
from greenroom.proxy.protocol import ProxyApi


@dataclass(frozen=True)
class AppStatus:
    app: str
    deploy: str | None
    color: str | None
    version: str | None
    since: str | None
    replicas: str
    maintenance: bool
    gateway_ok: bool | None
    retained: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())
    staged: str | None = None  # a staged color: "green 2512061830ab (v2) at 10%"


def app_status(
    st: AppState, cfg: Config, engine: Engine, access: HostAccess, unreadable: str = ""
) -> AppStatus:
    """One app's row. When the proxy's routing could not be read (`unreadable` says
    why), what is live is unknown: the row says so rather than "not deployed"."""
    live = st.live
    problems: list[str] = []
    if unreadable:
        problems.append(
            f"routing unreadable: {unreadable} (the next deploy, `greenroom repair {st.name}` "
            "or `greenroom proxy reboot` starts a new nginx)"
        )
    leftovers = repair(st, cfg.apps[st.name]) if st.name in cfg.apps and not unreadable else []
    if leftovers:
        problems.append(f"an interrupted command left work: run `greenroom repair {st.name}`")
    if st.routed is not None and live is None:
        problems.append(f"the proxy routes to {st.routed.deploy}, whose containers are gone")
    gateway_ok: bool | None = None
    if live is not None:
        gateway_ok = True
        for c in live.containers:
            if not c.info.running:
                problems.append(f"{c.name} is not running")
                gateway_ok = False
                continue
            try:
                info = engine.container(c.name)  # a full inspect: the pid, for /proc
                table = access.routes(info)
            except GreenroomError as exc:
                problems.append(f"{c.name}: routes unreadable ({exc.message})")
                continue
            if actual_gateway(info, table).v4 != labels.back_network(st.name):
                problems.append(f"{c.name}: default route is not on {labels.back_network(st.name)}")
                gateway_ok = False
    running = sum(1 for c in (live.containers if live else ()) if c.info.running)
    total = len(live.containers) if live else 0
    return AppStatus(
        app=st.name,
        deploy=live.deploy if live else None,
        color=live.color if live else None,
        version=live.version if live else None,
        since=live.deployed_at if live else None,
        replicas=f"{running}/{total}",
        maintenance=bool(st.routed and st.routed.maintenance),
        gateway_ok=gateway_ok,
        retained=tuple(
            f"{r.deploy} ({r.version})" for r in st.releases if live is None or r.deploy != live.deploy
        ),
        problems=tuple(problems),
        staged=_staged(st),
    )


def _staged(st: AppState) -> str | None:
    sg = st.routed.staged if st.routed else None
    if sg is None:
        return None
    rel = st.release(sg.deploy)
    up = "" if rel is not None and rel.running else ", its containers are not running"
    return f"{sg.color} {sg.deploy} ({sg.version}) at {sg.weight:g}%{up}"


def proxy_status(state: HostState, proxy: ProxyApi, access: HostAccess) -> ProxyStatus:
    c = state.proxy
    expected = proxy.spec.generation(tuple(sorted(state.proxy_pools)))
    status = ProxyStatus(
        name=proxy.spec.name,
        image=proxy.spec.image,
        exists=c is not None,
        running=bool(c and c.running),
        generation=state.proxy_generation,
        expected_generation=expected,
        pools=len(state.proxy_pools),
        layout="pod" if c is not None and is_pod(c) else "single container (older greenroom)",
        nginx=tuple(NginxInstance(i.name, i.running, i.admin_port) for i in proxy.instances()),
        published=tuple(c.published) if c else (),
        networks=tuple(a.network for a in c.attachments) if c else (),
    )
    if c is None or not c.running:
        problem = "the proxy is not running: `greenroom proxy reboot` (or any deploy) starts it"
        return replace(status, problems=(problem,))
    problems: list[str] = []
    if is_pod(c) and current(proxy.instances()) is None:
        problems.append(
            "no nginx runs in the proxy: the next deploy (or `greenroom proxy reboot`) starts one"
        )
    elif not state.routed_ok:
        problems.append(
            "its routing state could not be read: the next deploy (or `greenroom proxy reboot`) "
            "starts a new nginx"
        )
    if not is_pod(c):
        problems.append(
            "made by an older greenroom: the next deploy recreates it as a pod (its port closes once)"
        )
    elif state.proxy_generation != expected:
        problems.append("its nginx config is not the current one: the next deploy applies it")
    missing = unpublished(proxy.spec.ports, c.published) if is_pod(c) else ()
    if missing:
        problems.append(
            f"it does not publish {', '.join(map(str, missing))} of proxy.ports (a proxy keeps the ports "
            "it was created with): `greenroom proxy reboot --recreate`"
        )
    routed = {
        name: RoutedApp(st.routed.deploy, st.routed.targets, st.routed.maintenance, st.routed.hosts)
        for name, st in state.apps.items()
        if st.routed is not None
    }
    gateway = None
    try:
        gateway = actual_gateway(c, access.routes(c)).v4
        if gateway != proxy.spec.network:
            problems.append(f"its default route is on {gateway}, not {proxy.spec.network}")
    except GreenroomError as exc:
        problems.append(f"routes unreadable: {exc.message}")
    return replace(status, routed=routed, gateway=gateway, problems=tuple(problems))
