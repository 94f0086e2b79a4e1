"""What greenroom observes of an engine, parsed from its JSON by pure functions."""

from __future__ import annotations

import io
import ipaddress
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface
from typing import Any

from greenroom.gateway.routes import IPNetwork, RouteTable
from greenroom.gateway.rules import Endpoint, EngineRules
from greenroom.ports import PortMapping

Json = Mapping[str, Any]


@dataclass(frozen=True)
class EngineInfo:
    host: str
    version: str
    api_version: str
    name: str = ""

    @property
    def rules(self) -> EngineRules:
        return EngineRules.of(self.version, self.api_version)


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    driver: str
    internal: bool
    ipv6: bool
    subnets: tuple[IPNetwork, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_ipv4(self) -> bool:
        return any(s.version == 4 for s in self.subnets) or not self.subnets

    @property
    def subnet4(self) -> IPv4Network | None:
        """Its IPv4 subnet (a front network's: the proxy and the apps have their addresses in it)."""
        return next((s for s in self.subnets if isinstance(s, IPv4Network)), None)

    @property
    def has_ipv6(self) -> bool:
        return self.ipv6 and any(s.version == 6 for s in self.subnets)

    def endpoint(self, priority: int = 0) -> Endpoint:
        """The endpoint a container would get by joining this network."""
        return Endpoint(
            network=self.name,
            internal=self.internal,
            gw4=self.has_ipv4,
            gw6=self.has_ipv6,
            priority=priority,
        )


@dataclass(frozen=True)
class Attachment:
    """A container's endpoint on one network, as the engine reports it."""

    network: str
    network_id: str
    ipv4: IPv4Interface | None
    ipv6: IPv6Interface | None
    gateway4: str
    gateway6: str
    priority: int
    aliases: tuple[str, ...] = ()

    def endpoint(self, network: NetworkInfo | None) -> Endpoint:
        return Endpoint(
            network=self.network,
            internal=network.internal if network else False,
            gw4=bool(self.gateway4),
            gw6=bool(self.gateway6),
            priority=self.priority,
        )


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    running: bool
    pid: int
    network_mode: str
    attachments: tuple[Attachment, ...]
    published: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = ""  # RFC 3339, the engine's clock ("" when the engine did not say)
    started: str = ""  # State.StartedAt: the last start, the engine's clock

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def attachment(self, network: str) -> Attachment | None:
        return next((a for a in self.attachments if a.network == network), None)


def _interface(address: str, prefix: int) -> IPv4Interface | IPv6Interface | None:
    if not address:
        return None
    return ipaddress.ip_interface(f"{address}/{prefix}")


def _attachments(settings: Json) -> tuple[Attachment, ...]:
    out = []
    for name, ep in sorted((settings.get("Networks") or {}).items()):
        v4 = _interface(ep.get("IPAddress") or "", ep.get("IPPrefixLen") or 0)
        v6 = _interface(ep.get("GlobalIPv6Address") or "", ep.get("GlobalIPv6PrefixLen") or 0)
        out.append(
            Attachment(
                network=name,
                network_id=ep.get("NetworkID") or "",
                ipv4=v4 if isinstance(v4, IPv4Interface) else None,
                ipv6=v6 if isinstance(v6, IPv6Interface) else None,
                gateway4=ep.get("Gateway") or "",
                gateway6=ep.get("IPv6Gateway") or "",
                priority=int(ep.get("GwPriority") or 0),
                aliases=tuple(ep.get("Aliases") or ()),
            )
        )
    return tuple(out)


def parse_container(doc: Json) -> ContainerInfo:
    state = doc.get("State") or {}
    settings = doc.get("NetworkSettings") or {}
    attachments = _attachments(settings)
    published = []
    for port, bindings in sorted((settings.get("Ports") or {}).items()):
        for b in bindings or ():
            published.append(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{port}")
    config = doc.get("Config") or {}
    return ContainerInfo(
        id=doc["Id"],
        name=(doc.get("Name") or "").lstrip("/"),
        running=bool(state.get("Running")),
        pid=int(state.get("Pid") or 0),
        network_mode=(doc.get("HostConfig") or {}).get("NetworkMode") or "",
        attachments=attachments,
        published=tuple(dict.fromkeys(published)),
        labels=dict(config.get("Labels") or {}),
        created=str(doc.get("Created") or ""),
        started=str(state.get("StartedAt") or ""),
    )


def parse_container_summary(doc: Json) -> ContainerInfo:
    """A container from `GET /containers/json` (no pid, no published-port details): enough
    for planning, one request for all containers instead of one inspect each."""
    names = doc.get("Names") or [""]
    return ContainerInfo(
        id=doc["Id"],
        name=str(names[0]).lstrip("/"),
        running=doc.get("State") == "running",
        pid=0,
        network_mode=(doc.get("HostConfig") or {}).get("NetworkMode") or "",
        attachments=_attachments(doc.get("NetworkSettings") or {}),
        published=tuple(
            f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p.get('Type', 'tcp')}"
            for p in doc.get("Ports") or ()
            if p.get("PublicPort")
        ),
        labels=dict(doc.get("Labels") or {}),
    )


def parse_network(doc: Json) -> NetworkInfo:
    subnets: list[IPNetwork] = []
    for cfg in (doc.get("IPAM") or {}).get("Config") or ():
        if cfg.get("Subnet"):
            subnets.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    return NetworkInfo(
        id=doc["Id"],
        name=doc["Name"],
        driver=doc.get("Driver") or "",
        internal=bool(doc.get("Internal")),
        ipv6=bool(doc.get("EnableIPv6")),
        subnets=tuple(subnets),
        labels=dict(doc.get("Labels") or {}),
    )


@dataclass(frozen=True)
class Health:
    """A container's Docker HEALTHCHECK status and the output of its last checks."""

    status: str  # starting | healthy | unhealthy
    log: tuple[str, ...] = ()  # oldest first


@dataclass(frozen=True)
class ContainerState:
    """Whether a container runs, how it ended, and its health (None: no HEALTHCHECK)."""

    running: bool
    exit_code: int | None = None
    error: str = ""
    health: Health | None = None
    status: str = ""  # created | running | restarting | exited | ...
    started_at: str = ""
    restarts: int = 0  # times the engine restarted it (restart policy)

    @property
    def exited_ok(self) -> bool:
        """It ran and exited 0 (a created container that never started did not)."""
        return self.status == "exited" and self.exit_code == 0


def parse_state(doc: Json) -> ContainerState:
    """The `State` of a container's inspect document."""
    state = doc.get("State") or {}
    health = state.get("Health")
    code = state.get("ExitCode")
    return ContainerState(
        running=bool(state.get("Running")),
        exit_code=int(code) if code is not None else None,
        error=str(state.get("Error") or ""),
        status=str(state.get("Status") or ""),
        started_at=str(state.get("StartedAt") or ""),
        restarts=int(doc.get("RestartCount") or 0),
        health=Health(
            str(health.get("Status")),
            tuple(str(e.get("Output", "")).strip() for e in health.get("Log") or ()),
        )
        if health is not None
        else None,
    )


@dataclass(frozen=True)
class ContainerSpec:
    """Everything greenroom creates a container from (engine-neutral)."""

    name: str
    image: str
    network: str
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    gw_priority: int | None = None
    aliases: tuple[str, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[str, ...] = ()
    restart: str = "unless-stopped"
    memory: int | None = None
    nano_cpus: int | None = None
    stop_timeout: int | None = None
    stop_signal: str | None = None
    sysctls: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False  # a terminal (greenroom run on a terminal)
    stdin_open: bool = False  # stdin kept open for an attached client, closed when it detaches


@dataclass(frozen=True)
class Observation:
    """A container as observed: its inspect data, its networks and its real routes."""

    container: ContainerInfo
    networks: dict[str, NetworkInfo]
    routes: RouteTable | None


def create_body(spec: ContainerSpec, *, gw_priority: bool) -> dict[str, Any]:
    """The Engine API's create body for a spec (GwPriority only where the engine has it)."""
    endpoint: dict[str, Any] = {}
    if spec.aliases:
        endpoint["Aliases"] = list(spec.aliases)
    if spec.gw_priority is not None and gw_priority:
        endpoint["GwPriority"] = spec.gw_priority
    host_config: dict[str, Any] = {
        "NetworkMode": spec.network,
        "RestartPolicy": {"Name": spec.restart},
        "Binds": list(spec.volumes),
        "PortBindings": {
            f"{p.container_port}/tcp": [{"HostIp": p.bind_ip, "HostPort": str(p.host_port)}]
            for p in spec.ports
        },
    }
    if spec.sysctls:
        host_config["Sysctls"] = dict(spec.sysctls)
    if spec.memory:
        host_config["Memory"] = spec.memory
    if spec.nano_cpus:
        host_config["NanoCpus"] = spec.nano_cpus
    body: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Labels": dict(spec.labels),
        "ExposedPorts": {f"{p.container_port}/tcp": {} for p in spec.ports},
        "HostConfig": host_config,
    }
    if not spec.network.startswith("container:"):  # joining another's namespace: no endpoint
        body["NetworkingConfig"] = {"EndpointsConfig": {spec.network: endpoint}}
    if spec.command is not None:
        body["Cmd"] = list(spec.command)
    if spec.stop_timeout is not None:
        body["StopTimeout"] = spec.stop_timeout
    if spec.stop_signal:
        body["StopSignal"] = spec.stop_signal
    if spec.tty or spec.stdin_open:
        body.update(Tty=spec.tty, OpenStdin=spec.stdin_open, StdinOnce=spec.stdin_open)
    return body


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")


def rfc3339(text: str) -> datetime | None:
    """An engine timestamp (nanoseconds, Z or an offset) as an aware datetime; None for an
    empty one or Docker's zero time (0001-01-01, "never")."""
    found = _RFC3339.fullmatch(text.strip())
    if found is None or text.startswith("0001-"):
        return None
    fraction = (found[2] or ".0")[:7]
    zone = "+00:00" if found[3] == "Z" else found[3]
    return datetime.fromisoformat(f"{found[1]}{fraction}{zone}").astimezone(UTC)


def tar_of(directory: str, files: Mapping[str, bytes], *, mtime: int, mode: int = 0o644) -> bytes:
    """A tar archive of `files` under `directory` (its folders included), for put_archive at /."""
    buf = io.BytesIO()
    base = directory.strip("/")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parts = base.split("/")
        for i in range(1, len(parts) + 1):
            info = tarfile.TarInfo("/".join(parts[:i]))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = mtime
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size = len(data)
            info.mode = mode
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
