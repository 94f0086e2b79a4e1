"""Names and references in greenroom.yml: Docker names, app names, images, host names,
URL paths of probes, trusted networks and the subnet pool."""

from __future__ import annotations

import re
import string
from ipaddress import IPv4Network
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
)

from greenroom.config import rules
from greenroom.config.envfile import ENV_NAME
from greenroom.config.fields import Kind, problem

# --- names ---------------------------------------------------------------------------------


def _matching(pattern: str, what: str, rule: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"invalid {what} {value!r}: {rule}")
        return value

    return AfterValidator(check)


DockerName = Annotated[
    str,
    _matching(
        r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}",
        "name",
        "1-63 letters, digits, _ . and -, starting with a letter or digit",
    ),
    Kind("docker name"),
]
ContainerName = Annotated[str, AfterValidator(rules.container_name), Kind("container name")]
NetworkName = Annotated[DockerName, AfterValidator(rules.network_name), Kind("network name")]
AppName = Annotated[
    str,
    _matching(
        r"[a-z][a-z0-9-]{0,30}", "app name", "1-31 lowercase letters, digits and -, starting with a letter"
    ),
    Kind("app name"),
]


def env_name(name: Any, *at: str | int) -> str:
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        raise problem(
            f"invalid variable name {name!r}: use letters, digits and _, not starting with a digit", *at
        )
    return name


def _image(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"image reference {value!r} must not contain whitespace or control characters")
    if value.startswith("-"):
        raise ValueError(f"image reference {value!r} must not start with -")
    return value


Image = Annotated[str, AfterValidator(_image), Kind("image")]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _host(value: str) -> str:
    if any("A" <= c <= "Z" for c in value):
        raise ValueError(f"host name {value!r} must be lowercase")
    name = value.removeprefix("*.")
    if value.endswith("."):
        raise ValueError(f"host name {value!r} must not end with a dot")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(
            f"invalid host name {value!r}: dot-separated labels of 1-63 characters a-z, 0-9 "
            "and -, not starting or ending with -, optionally after a leading *."
        )
    return rules.host_name(value)


HostName = Annotated[str, AfterValidator(_host), Kind("host name")]
TrustedNetwork = Annotated[str, BeforeValidator(rules.trusted_network), Kind("IP network")]

# RFC 3986 path and query characters, minus those that could leave an nginx or shell string.
_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "._~!&()*+,=:@/%?-")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _probe_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must start with /")
    if len(value) > 1024:
        raise ValueError("must be at most 1024 characters")
    bad = sorted({c for c in value if c not in _PATH_CHARS})
    if bad:
        raise ValueError(f"contains {''.join(bad)!r}; only letters, digits and ._~!&()*+,=:@/%?- are allowed")
    if _BAD_PERCENT.search(value):
        raise ValueError("% must be followed by two hex digits")
    return value


ProbePath = Annotated[str, AfterValidator(_probe_path), Kind("URL path")]


def _pool(value: Any) -> IPv4Network:
    if isinstance(value, IPv4Network):
        net = value
    else:
        try:
            net = IPv4Network(str(value))
        except ValueError as exc:
            raise ValueError(f"invalid IPv4 network {value!r}: {exc}") from None
    if not 8 <= net.prefixlen <= 24:
        raise ValueError(f"{net} is a /{net.prefixlen}; the pool must be between a /8 and a /24")
    return rules.subnet_pool(net)


Pool = Annotated[
    IPv4Network, PlainValidator(_pool), PlainSerializer(str, return_type=str), Kind("IPv4 network")
]
