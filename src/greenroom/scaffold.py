"""`greenroom init`: a commented greenroom.yml for one app, from what its image declares.

Pure functions: the image's inspect document (as the engine returns it) in, YAML text out.
The port comes from the image's EXPOSE, the health check from its HEALTHCHECK when it has
one, the engine address from where the CLI found the engine (the current Docker context).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenroom import __version__
from greenroom.config.fields import format_duration

LOCAL_ENGINE = "unix:///var/run/docker.sock"
FALLBACK_PORT = 8080
_NS = 1e9  # Docker's health check durations are in nanoseconds
# Docker's defaults for a HEALTHCHECK option left at 0
_DOCKER_INTERVAL, _DOCKER_TIMEOUT, _DOCKER_RETRIES = 30.0, 30.0, 3
_PREFERRED_PORTS = (80, 8080, 8000, 3000, 5000)


@dataclass(frozen=True)
class DockerHealth:
    """An image's HEALTHCHECK, durations in seconds."""

    test: str
    interval: float
    timeout: float
    start_period: float
    retries: int

    def deadline(self) -> float:
        """Time to allow for `healthy`: the start period, then every retry, at least a minute."""
        worst = self.start_period + self.interval * (self.retries + 1) + self.timeout
        return float(max(60, math.ceil(worst)))


@dataclass(frozen=True)
class ImageFacts:
    image: str
    ports: tuple[int, ...]  # EXPOSEd TCP ports, ascending
    health: DockerHealth | None

    def port(self) -> int | None:
        for preferred in _PREFERRED_PORTS:
            if preferred in self.ports:
                return preferred
        return self.ports[0] if self.ports else None


def image_facts(image: str, inspect: Mapping[str, Any]) -> ImageFacts:
    """What greenroom.yml needs from an image's inspect document."""
    config = inspect.get("Config") or {}
    ports: set[int] = set()
    for spec in config.get("ExposedPorts") or {}:
        number, _, proto = str(spec).partition("/")
        if proto in ("", "tcp") and number.isdigit() and 1 <= int(number) <= 65535:
            ports.add(int(number))
    return ImageFacts(image, tuple(sorted(ports)), _health(config.get("Healthcheck")))


def _health(doc: Any) -> DockerHealth | None:
    if not isinstance(doc, Mapping):
        return None
    test = [str(t) for t in doc.get("Test") or ()]
    if not test or test[0] == "NONE":
        return None
    command = " ".join(test[1:]) if test[0] in ("CMD", "CMD-SHELL") else " ".join(test)
    return DockerHealth(
        test=command,
        interval=(doc.get("Interval") or 0) / _NS or _DOCKER_INTERVAL,
        timeout=(doc.get("Timeout") or 0) / _NS or _DOCKER_TIMEOUT,
        start_period=(doc.get("StartPeriod") or 0) / _NS,
        retries=int(doc.get("Retries") or _DOCKER_RETRIES),
    )


def app_name(hint: str) -> str:
    """An app name (1-31 of a-z, 0-9 and -, starting with a letter) from an image or a folder."""
    last = hint.split("@", 1)[0].rsplit("/", 1)[-1]
    last = last.split(":", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "-", last.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:31].strip("-")
    return name or "app"


def _comment(text: str) -> str:
    """One line fit for a YAML comment: control characters out, at most 100 characters."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= 100 else flat[:99] + "…"


def _engine_lines(host: str | None) -> list[str]:
    if host is None or host == LOCAL_ENGINE:
        return [
            "engine:",
            "  # The Docker engine to deploy to. null: DOCKER_HOST, else the local socket.",
            "  # Or an address: unix:///var/run/docker.sock, ssh://user@host, tcp://host:2376.",
            "  host: null",
        ]
    return [
        "engine:",
        "  # The Docker engine to deploy to, from the current Docker context (`docker context ls`).",
        f"  host: {json.dumps(host)}",
    ]


def _health_lines(facts: ImageFacts | None) -> list[str]:
    health = facts.health if facts else None
    if health is not None:
        return [
            "    healthcheck:",
            f"      # The image's HEALTHCHECK ({_comment(health.test)}):",
            "      # a new container gets traffic once Docker reports it healthy.",
            "      type: docker",
            f"      deadline: {format_duration(health.deadline())}",
        ]
    why = "The image has no HEALTHCHECK: a" if facts else "A"
    return [
        "    healthcheck:",
        f"      # {why} new container gets traffic once it accepts connections on its port.",
        "      # Better, when the app has one, an HTTP check:",
        "      #   type: http",
        "      #   path: /health",
        "      #   status: 200",
        "      type: tcp",
        "      deadline: 1m",
    ]


def render_config(
    facts: ImageFacts | None, *, app: str, image: str, host: str | None, port: int | None = None
) -> str:
    """The text of a greenroom.yml for one app; `port` overrides the image's EXPOSE."""
    exposed = facts.port() if facts else None
    chosen = port or exposed or FALLBACK_PORT
    if port:
        port_note = "the port the app listens on inside its containers"
    elif exposed:
        others = [p for p in facts.ports if p != exposed] if facts else []
        port_note = f"from the image's EXPOSE {exposed}" + (
            f" (it also EXPOSEs {', '.join(map(str, others))})" if others else ""
        )
    elif facts:
        port_note = "the image EXPOSEs no port: set the one the app listens on"
    else:
        port_note = "set the port the app listens on inside its containers"
    lines = [
        f"# greenroom.yml for {app}, written by `greenroom init` (greenroom {__version__}).",
        "# Check it with `greenroom config check`; every key is in `greenroom config reference`.",
        "# ${VAR} takes a value from the environment or from .env next to this file.",
        "version: 1",
        "",
        *_engine_lines(host),
        "",
        "proxy:",
        "  # nginx in front of every app, published on the engine host's ports 80 and 443 (HTTPS, for",
        "  # apps with tls:); a proxy keeps the ports it was created with.",
        '  ports: ["80:80", "443:443"]',
        "",
        "apps:",
        f"  {app}:",
        f"    image: {json.dumps(image)}",
        f"    # {port_note}",
        f"    port: {chosen}",
        "    replicas: 1",
        "    # Host names the proxy routes to this app:",
        f"    # hosts: [{app}.example.com]",
        "    # environment:",
        "    #   LOG_LEVEL: info",
        "    # Secret values: never printed (shown as ******), at least 4 characters.",
        "    # secrets:",
        "    #   DB_PASSWORD: ${DB_PASSWORD}",
        *_health_lines(facts),
        "    # How long the old version keeps serving open connections after the switch.",
        "    drain_timeout: 30s",
        "",
    ]
    return "\n".join(lines)
