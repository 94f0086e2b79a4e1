"""What the read-only commands report (pure data): the proxy's status and an app's history.

The CLI renders them as tables, or as JSON with the fields in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NginxInstance:
    name: str
    running: bool
    admin_port: int


@dataclass(frozen=True)
class RoutedApp:
    """An app's routing as the proxy holds it."""

    deploy: str | None
    targets: tuple[str, ...]
    maintenance: bool
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ProxyStatus:
    name: str
    image: str
    exists: bool
    running: bool
    generation: str | None
    expected_generation: str
    pools: int
    layout: str
    nginx: tuple[NginxInstance, ...]
    published: tuple[str, ...]
    networks: tuple[str, ...]
    routed: dict[str, RoutedApp] = field(default_factory=dict)
    gateway: str | None = None  # the network of the proxy's default route
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """One deploy, rollback, maintenance switch or repair, as recorded in the proxy."""

    action: str
    deploy: str | None
    ok: bool
    started: str
    duration: float
    by: str
    error: str = ""
    steps: tuple[tuple[str, float, str], ...] = ()  # (step, seconds, status)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HistoryEntry:
        """An entry as recorded (older greenrooms wrote fewer keys: they read as empty)."""
        return cls(
            action=str(doc.get("action") or ""),
            deploy=doc.get("deploy") or None,
            ok=bool(doc.get("ok")),
            started=str(doc.get("started") or ""),
            duration=float(doc.get("duration") or 0),
            by=str(doc.get("by") or ""),
            error=str(doc.get("error") or ""),
            steps=tuple((str(s[0]), float(s[1]), str(s[2])) for s in doc.get("steps") or ()),
        )
