"""Pure diagnosis of a container's default gateway: what is, what Docker would do, what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address

from greenroom.engine.model import ContainerInfo, NetworkInfo, Observation
from greenroom.gateway.routes import Route, RouteTable, format_route
from greenroom.gateway.rules import (
    Endpoint,
    EngineRules,
    Gateway,
    Sandbox,
    predict_connect,
)

UNKNOWN = "?"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" | "warning" | "info"
    message: str
    fix: str


@dataclass(frozen=True)
class NetworkRow:
    name: str
    internal: bool
    priority: int
    gateway4: str
    gateway6: str
    addresses: tuple[str, ...]
    default4: bool
    default6: bool


@dataclass(frozen=True)
class ConnectPreview:
    network: str
    before: Gateway
    after: Gateway
    moved: bool
    ports_move: bool


@dataclass(frozen=True)
class Report:
    container: str
    container_id: str
    engine: str
    networks: tuple[NetworkRow, ...]
    actual: Gateway | None
    route4: str
    route6: str
    predicted: Gateway
    published: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default=())
    preview: ConnectPreview | None = None

    @property
    def agrees(self) -> bool | None:
        if self.actual is None:
            return None
        return self.actual.v4 == self.predicted.v4 and (
            self.actual.v6 is None or self.actual.v6 == self.predicted.v6
        )


def endpoints_of(container: ContainerInfo, networks: dict[str, NetworkInfo]) -> list[Endpoint]:
    return [a.endpoint(networks.get(a.network)) for a in container.attachments]


def network_of_route(route: Route | None, container: ContainerInfo, table: RouteTable) -> str | None:
    """Which of the container's networks a route leaves by (by gateway address, then by device)."""
    if route is None:
        return None
    if route.gateway is not None:
        for att in container.attachments:
            iface = att.ipv4 if isinstance(route.gateway, IPv4Address) else att.ipv6
            if iface is not None and route.gateway in iface.network:
                return att.network
    for subnet in table.iface_networks().get(route.iface, []):
        for att in container.attachments:
            for iface in (att.ipv4, att.ipv6):
                if iface is not None and iface.network == subnet:
                    return att.network
    return UNKNOWN


def actual_gateway(container: ContainerInfo, table: RouteTable) -> Gateway:
    return Gateway(
        network_of_route(table.egress(4), container, table),
        network_of_route(table.egress(6), container, table),
    )


def _hand_routes(table: RouteTable) -> bool:
    """Routes Docker never makes: half-default pairs (0.0.0.0/1 and 128.0.0.0/1)."""
    return any(r.gateway is not None and 0 < r.destination.prefixlen <= 1 for r in table.routes)


def _held_by_name(rules: EngineRules, box: Sandbox, holder: str | None) -> list[str]:
    """Networks that lose to the gateway holder only because of their name."""
    if holder is None:
        return []
    win = next(e for e in box.endpoints if e.network == holder)
    rivals = []
    for other in box.endpoints:
        if other.network == holder or not (other.gw4 or other.gw6):
            continue
        renamed = replace(other, network="\x00" + other.network)
        if rules.less(win, other) and rules.less(renamed, win):
            rivals.append(other.network)
    return rivals


def diagnose(obs: Observation, rules: EngineRules, *, if_connect: NetworkInfo | None = None) -> Report:
    c = obs.container
    eps = endpoints_of(c, obs.networks)
    box = Sandbox.joined(rules, eps)
    predicted = box.gateway()
    table = obs.routes
    actual = actual_gateway(c, table) if table is not None else None
    findings: list[Finding] = []

    if actual is not None and table is not None and actual.v4 != predicted.v4:
        how = (
            "half-default routes set inside the container"
            if _hand_routes(table)
            else "a route Docker did not set"
        )
        findings.append(
            Finding(
                "routes-changed",
                "error",
                f"the default route leaves by {actual.v4 or 'nothing'} ({how}); Docker's own rules "
                f"give it to {predicted.v4 or 'nothing'}: the change is lost on the next restart",
                "make the wanted network win by Docker's rules instead: GwPriority (engine >= 28), "
                "or make the other networks --internal; then restart the container",
            )
        )
        if c.published:
            findings.append(
                Finding(
                    "ports-split",
                    "error",
                    f"published ports ({', '.join(c.published)}) are bound on Docker's gateway "
                    f"endpoint ({predicted.v4}) but replies leave by {actual.v4}: connections "
                    "through them can break",
                    "put the routes back (restart the container) and fix the gateway by Docker's rules",
                )
            )

    holder = actual.v4 if actual is not None and actual.v4 != UNKNOWN else predicted.v4
    rivals = _held_by_name(rules, box, holder)
    if rivals and len(eps) > 1:
        hint = (
            "give it a higher GwPriority than the rest (engine >= 28)"
            if rules.gw_priority
            else "make the networks that only carry proxy traffic --internal"
        )
        findings.append(
            Finding(
                "held-by-name",
                "warning",
                f"the gateway stays on {holder} only because its name sorts before "
                f"{', '.join(rivals)}: a network sorting earlier would take it"
                + (" (and the published ports)" if c.published else ""),
                hint,
            )
        )

    preview = None
    if if_connect is not None:
        if c.attachment(if_connect.name) is not None:
            preview = ConnectPreview(if_connect.name, predicted, predicted, False, False)
        else:
            change = predict_connect(box, if_connect.endpoint())
            before = actual if actual is not None and actual.v4 != UNKNOWN else change.before
            preview = ConnectPreview(
                if_connect.name,
                before,
                change.after,
                before != change.after,
                bool(c.published) and before.v4 != change.after.v4,
            )

    rows = []
    for att in c.attachments:
        net = obs.networks.get(att.network)
        rows.append(
            NetworkRow(
                name=att.network,
                internal=bool(net and net.internal),
                priority=att.priority,
                gateway4=att.gateway4,
                gateway6=att.gateway6,
                addresses=tuple(str(a) for a in (att.ipv4, att.ipv6) if a is not None),
                default4=actual is not None and actual.v4 == att.network,
                default6=actual is not None and actual.v6 == att.network,
            )
        )
    return Report(
        container=c.name,
        container_id=c.short_id,
        engine=rules.label,
        networks=tuple(rows),
        actual=actual,
        route4=format_route(table.egress(4)) if table else "",
        route6=format_route(table.egress(6)) if table else "",
        predicted=predicted,
        published=c.published,
        findings=tuple(findings),
        preview=preview,
    )


def unreadable(report: Report, reason: Exception) -> Report:
    """`report` (made without routes) of a container whose routes could not be read."""
    finding = Finding(
        "routes-unreadable",
        "warning",
        f"its routes could not be read: {reason}",
        f"run `greenroom routes {report.container}` again; if it persists, check that the "
        "helper image can run on this engine (--helper-image)",
    )
    return replace(report, findings=(*report.findings, finding))
