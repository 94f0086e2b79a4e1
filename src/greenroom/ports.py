"""Published ports: Compose's short syntax "[HOST_IP:]HOST_PORT:CONTAINER_PORT" (tcp), parsed
once, for the config and the engine alike."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PortMapping:
    """A published port: [HOST_IP:]HOST_PORT:CONTAINER_PORT, tcp."""

    host_ip: str | None
    host_port: int
    container_port: int

    def __str__(self) -> str:
        ip = self.host_ip
        prefix = "" if ip is None else f"[{ip}]:" if ":" in ip else f"{ip}:"
        return f"{prefix}{self.host_port}:{self.container_port}"

    @property
    def bind_ip(self) -> str:
        """The address the engine is asked to bind: 0.0.0.0 when the mapping names none."""
        return self.host_ip or "0.0.0.0"


_PORT = re.compile(
    r"(?:(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<ip4>[0-9.]+)):)?"
    r"(?P<host>\d{1,5}):(?P<container>\d{1,5})(?:/(?P<proto>[a-z]+))?"
)


def parse_port_mapping(value: Any) -> PortMapping:
    """Parse Compose's short port syntax; ValueError says what is wrong."""
    match = _PORT.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError('expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT", e.g. "80:80" or "127.0.0.1:8080:80"')
    if match["proto"] not in (None, "tcp"):
        raise ValueError("only tcp ports can be published")
    ip = match["ip6"] or match["ip4"]
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"invalid host IP address {ip!r}") from None
    host, container = int(match["host"]), int(match["container"])
    if not (1 <= host <= 65535 and 1 <= container <= 65535):
        raise ValueError("ports must be between 1 and 65535")
    return PortMapping(ip, host, container)
