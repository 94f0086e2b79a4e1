"""Pure: what the proxy is made of, and the routing state it keeps (no engine here).

The proxy is a *pod* of containers sharing one network namespace:
- the holder (the proxy's own name): a process that only sleeps; it owns the namespace,
  the published ports, the home network (the default gateway) and an attachment to every
  app's front network. It is never replaced to change nginx, so the ports never close.
- one nginx *instance* (NAME-nginx-1 or -2), joined to the holder's namespace
  (`--network container:NAME`), listening with `reuseport`. A reboot or an upgrade starts
  the other slot's instance beside it on the same port, waits until it answers, retires
  the old one's keep-alive connections, and stops it gracefully (SIGQUIT): with
  `net.ipv4.tcp_migrate_req=1` even connections queued on its listener move over.
Each slot has its own admin port (127.0.0.1), so greenroom always knows which instance
it talks to; the public listener is shared.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from greenroom import labels
from greenroom.config import Config
from greenroom.engine.model import ContainerInfo, ContainerSpec
from greenroom.ports import PortMapping
from greenroom.proxy import render

STATE_VOLUME_SUFFIX = "-state"
ROLE_NGINX = "proxy-nginx"
ROLE_PORT_CHECK = "proxy-port-check"
LAYOUT = labels.PREFIX + "proxy_layout"  # on the holder: "pod"
OF_PROXY = labels.PREFIX + "proxy"  # on an instance: its holder's name
SLOT = labels.PREFIX + "slot"
STARTED = labels.PREFIX + "started"  # on an instance: ns since the epoch, orders instances
# pid 1 ignores signals it has no handler for: trap them (the official nginx image's
# STOPSIGNAL is SIGQUIT; the holder's spec asks for SIGTERM, this covers both)
HOLDER_COMMAND = ("sh", "-c", 'trap "exit 0" TERM INT QUIT; while :; do sleep 86400 & wait $!; done')
INSTANCE_STOP_TIMEOUT = 30  # seconds an old instance may finish its requests and streams


@dataclass(frozen=True)
class Staged:
    """A color started, gated and attached beside the live one: reachable with the preview
    header or cookie (or on a preview host), and by `weight` percent of the clients."""

    deploy: str
    color: str
    version: str
    targets: tuple[str, ...]
    weight: float = 0.0  # percent of the clients, 0 to 100 (0: preview only)
    header: str = ""  # a request with this header (any value) goes to the staged color
    cookie: str = ""  # likewise a request with this cookie
    hosts: tuple[str, ...] = ()  # preview host names: every request to them
    sticky: str = ""  # the header whose value picks a client's bucket (else a cookie, else its address)
    canary_cookie: str = ""  # the cookie the proxy sets to keep a client's bucket

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Staged:
        return cls(
            deploy=str(doc.get("deploy", "")),
            color=str(doc.get("color", "")),
            version=str(doc.get("version", "")),
            targets=tuple(doc.get("targets") or ()),
            weight=float(doc.get("weight") or 0),
            header=str(doc.get("header") or ""),
            cookie=str(doc.get("cookie") or ""),
            hosts=tuple(doc.get("hosts") or ()),
            sticky=str(doc.get("sticky") or ""),
            canary_cookie=str(doc.get("canary_cookie") or ""),
        )


@dataclass(frozen=True)
class Routed:
    """One app's routing state inside the proxy."""

    app: str
    targets: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    maintenance: bool = False
    color: str | None = None
    deploy: str | None = None
    version: str | None = None
    went_live: tuple[str, ...] = ()  # every deploy that went live, newest last (bounded)
    staged: Staged | None = None  # a color beside the live one: preview or canary

    @property
    def is_record(self) -> bool:
        """A worker's entry: which release is live, with no host names and no targets."""
        return not self.targets and not self.hosts and not self.maintenance

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Routed:
        return cls(
            app=str(doc.get("app", "")),
            targets=tuple(doc.get("targets") or ()),
            hosts=tuple(doc.get("hosts") or ()),
            maintenance=bool(doc.get("maintenance")),
            color=doc.get("color"),
            deploy=doc.get("deploy"),
            version=doc.get("version"),
            went_live=tuple(doc.get("released") or ()),  # the state file's key
            staged=Staged.from_json(doc["staged"]) if doc.get("staged") else None,
        )

    def to_json(self) -> str:
        doc = asdict(self)
        doc["targets"] = list(self.targets)
        doc["hosts"] = list(self.hosts)
        doc["released"] = list(doc.pop("went_live"))
        if self.staged is None:
            doc.pop("staged")  # the state file as an older greenroom wrote it
        return json.dumps(doc)


@dataclass(frozen=True)
class Instance:
    """One nginx instance of the pod, as listed by the engine."""

    name: str
    slot: int
    running: bool
    started: int
    image: str = ""

    @property
    def admin_port(self) -> int:
        return render.ADMIN_PORTS[self.slot - 1]

    @classmethod
    def from_labels(cls, name: str, running: bool, lab: dict[str, str]) -> Instance | None:
        try:
            slot = int(lab.get(SLOT, ""))
            started = int(lab.get(STARTED, "0"))
        except ValueError:
            return None
        if slot not in (1, 2):
            return None
        return cls(name, slot, running, started, lab.get(labels.IMAGE, ""))


def is_pod(holder: ContainerInfo) -> bool:
    """False for a proxy made by an older greenroom (nginx in the named container itself)."""
    return holder.labels.get(LAYOUT) == "pod"


def current(instances: Sequence[Instance]) -> Instance | None:
    """The instance that serves: the newest running one."""
    running = [i for i in instances if i.running]
    return max(running, key=lambda i: i.started) if running else None


@dataclass(frozen=True)
class ProxySpec:
    """What the proxy's containers are made of (pure, from the config)."""

    name: str
    image: str
    network: str
    ports: tuple[PortMapping, ...]
    listen: int
    restart: str = "unless-stopped"
    settings: render.ProxySettings = field(default_factory=render.ProxySettings)

    @property
    def volume(self) -> str:
        return self.name + STATE_VOLUME_SUFFIX

    def generation(self, pools: tuple[str, ...] = ()) -> str:
        """The config generation this plan runs with these upstream pools."""
        return render.generation(self.settings, pools)

    def instance_name(self, slot: int) -> str:
        return f"{self.name}-nginx-{slot}"

    def holder_spec(self, sysctls: dict[str, str] | None = None) -> ContainerSpec:
        """The holder: namespace, ports, gateway; nothing that changes with nginx."""
        return ContainerSpec(
            name=self.name,
            image=self.image,
            network=self.network,
            command=HOLDER_COMMAND,
            labels={**labels.owned(labels.ROLE_PROXY), LAYOUT: "pod"},
            gw_priority=10,
            ports=self.ports,
            restart=self.restart,
            stop_timeout=2,
            stop_signal="SIGTERM",
            sysctls=dict(sysctls or {}),
        )

    def port_check_spec(self, ports: tuple[PortMapping, ...]) -> ContainerSpec:
        """A container that only publishes `ports`: started, it proves them free."""
        return ContainerSpec(
            name=f"{self.name}-portcheck",
            image=self.image,
            network=self.network,
            command=HOLDER_COMMAND,
            labels=labels.owned(ROLE_PORT_CHECK),
            ports=ports,
            restart="no",
            stop_timeout=1,
        )

    def instance_spec(self, slot: int, started: int) -> ContainerSpec:
        return ContainerSpec(
            name=self.instance_name(slot),
            image=self.image,
            network=f"container:{self.name}",
            command=tuple(render.command()),
            labels={
                **labels.owned(ROLE_NGINX),
                OF_PROXY: self.name,
                SLOT: str(slot),
                STARTED: str(started),
                labels.IMAGE: self.image,
            },
            volumes=(f"{self.volume}:{render.STATE_DIR}",),
            restart=self.restart,
            stop_timeout=INSTANCE_STOP_TIMEOUT,
            stop_signal="SIGQUIT",
        )


def unpublished(ports: Sequence[PortMapping], published: Sequence[str]) -> tuple[PortMapping, ...]:
    """Pure: the mappings of `ports` that a container publishing `published` (the engine's
    "0.0.0.0:80->80/tcp") does not: a holder keeps the ports it was created with."""
    have = set()
    for entry in published:
        outside, _, inside = entry.partition("->")
        have.add((outside.rsplit(":", 1)[-1], inside.split("/")[0]))
    return tuple(p for p in ports if (str(p.host_port), str(p.container_port)) not in have)


def confirm_targets(
    results: Sequence[tuple[int, str]], targets: Sequence[str], expected: int | None
) -> str | None:
    """Pure: None when every response came from one of `targets` (with the expected
    status, if any); otherwise what was wrong."""
    for status, upstream in results:
        if upstream not in targets:
            return f"a response came from {upstream or 'nowhere'} (status {status}), not the new version"
        if expected is not None and status != expected:
            return f"the new version answered {status} through the proxy, expected {expected}"
    return None


def proxy_spec(cfg: Config) -> ProxySpec:
    """The proxy a config asks for."""
    p = cfg.proxy
    return ProxySpec(
        name=p.name,
        image=p.image,
        network=p.network,
        ports=p.published_ports(),
        listen=p.listen,
        restart=p.restart,
        settings=render.ProxySettings(
            listen=p.listen,
            trusted_proxies=tuple(p.trusted_proxies),
            tls_listen=p.tls_listen if p.https() else None,
            https_port=p.redirect_port(),
        ),
    )
