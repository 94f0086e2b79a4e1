"""The shape of greenroom.yml. The field descriptions are the reference documentation.

Validators raise ValueError for the field at hand; when the culprit is deeper (a list item,
a mapping key, another field of a cross-field check) they raise `problem(message, *at)`,
whose context carries the relative path so the loader can point at `apps.web.hosts.0`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from greenroom.config import rules
from greenroom.config.envfile import ENV_NAME, read_env_file
from greenroom.config.envfile import parse_env_text as parse_env_text  # where it used to be
from greenroom.config.limits import MAX_COMMAND_TEXT, ReadBudget, size_text
from greenroom.config.yaml_loader import source_text
from greenroom.errors import ConfigError
from greenroom.nginx.render import ADMIN_PORTS
from greenroom.secrets import MASK, MIN_LENGTH


@dataclass(frozen=True)
class Kind:
    """Names a field's type in the reference documentation."""

    name: str


def problem(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error located at the sub-path `at` of the value being validated."""
    return PydanticCustomError("greenroom", message, {"at": at})


# --- scalars -------------------------------------------------------------------------------


def _scalar_text(value: Any) -> str | None:
    """A scalar as a string for a container; numbers exactly as the file wrote them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return source_text(value)
    return None


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_not_bool), Kind("integer")]
Float = Annotated[float, BeforeValidator(_not_bool), Kind("number")]

_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds from "250ms", "2s", "1.5s", "1m", "1h" or a bare number of seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"a duration is a string like 2s or a number of seconds, not {type(value).__name__}")
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid duration {value!r}: use 250ms, 2s, 1.5s, 1m, 1h or seconds")
        seconds = float(match[1]) * _SECONDS[match[2]]
    else:
        seconds = float(value) if value < 1e300 else math.inf  # float() of a huge int raises
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite, non-negative number of seconds")
    return seconds


def format_duration(seconds: float) -> str:
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _within(low: float, high: float | None = None, *, above: bool = False) -> AfterValidator:
    def check(seconds: float) -> float:
        if seconds < low or (above and seconds == low):
            raise ValueError(f"must be {'more than' if above else 'at least'} {format_duration(low)}")
        if high is not None and seconds > high:
            raise ValueError(f"must be at most {format_duration(high)}")
        return seconds

    return AfterValidator(check)


Duration = Annotated[float, BeforeValidator(parse_duration), Kind("duration")]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?", re.IGNORECASE)
_MIN_MEMORY = 6 * 1024**2  # the Docker engine refuses less


def parse_size(value: str | int) -> int:
    """Bytes from "512k", "256m", "1g" (powers of 1024) or a number of bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a size is a string like 256m or a number of bytes")
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"invalid size {value!r}: use bytes or a number with k, m or g, e.g. 256m, 1g")
    power = " kmgt".index((match[2] or " ").lower())
    size = float(match[1]) * (1 << (10 * power))
    if not math.isfinite(size):
        raise ValueError(f"invalid size {value!r}: too large")
    return round(size)


def _memory(value: Any) -> int | None:
    if value is None:
        return None
    size = parse_size(value)
    if size < _MIN_MEMORY:
        raise ValueError("must be at least 6m (Docker's minimum)")
    return rules.memory(size)


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


def _env_name(name: Any, *at: str | int) -> str:
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


def _engine_host(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"(unix|tcp|ssh|npipe|http|https)://\S+", value):
        raise ValueError(
            "expected an engine address like unix:///var/run/docker.sock, ssh://user@host or tcp://host:2376"
        )
    return value


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


# --- structured strings --------------------------------------------------------------------


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


def _unique_host_ports(ports: tuple[str, ...]) -> tuple[str, ...]:
    bound: dict[int, set[str]] = {}  # host port -> the addresses it is published on so far
    for i, port in enumerate(map(parse_port_mapping, ports)):
        ip, earlier = port.host_ip or "0.0.0.0", bound.setdefault(port.host_port, set())
        # a wildcard address binds the port on every address of its family
        if ip in earlier or (earlier and ip in ("0.0.0.0", "::")) or earlier & {"0.0.0.0", "::"}:
            raise problem(f"host port {port.host_port} is published twice", i)
        earlier.add(ip)
    return ports


Port = Annotated[str, BeforeValidator(lambda v: str(parse_port_mapping(v))), Kind("port mapping")]


@dataclass(frozen=True)
class Mount:
    """A volume or bind mount: SRC:DST[:ro|:rw]."""

    source: str
    target: str
    read_only: bool = False

    @property
    def is_bind(self) -> bool:
        return self.source.startswith("/")

    def __str__(self) -> str:
        return f"{self.source}:{self.target}{':ro' if self.read_only else ''}"


_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def parse_volume(value: Any) -> Mount:
    """Parse Compose's short volume syntax; ValueError says what is wrong."""
    if not isinstance(value, str):
        raise ValueError('expected "SRC:DST[:ro|:rw]"')
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain control characters")
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise ValueError('expected "SRC:DST[:ro|:rw]", e.g. "data:/var/lib/app" or "/srv/conf:/etc/app:ro"')
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"
    if not (source.startswith("/") or _VOLUME_NAME.fullmatch(source)):
        raise ValueError(f"source {source!r} must be an absolute host path or a volume name")
    if not target.startswith("/") or target == "/":
        raise ValueError(f"target {target!r} must be an absolute path other than /")
    if mode not in ("ro", "rw"):
        raise ValueError(f"mode {mode!r} must be ro or rw")
    return Mount(source, target, mode == "ro")


Volume = Annotated[str, BeforeValidator(lambda v: str(parse_volume(v))), Kind("volume")]


def _unique_targets(mounts: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for i, mount in enumerate(map(parse_volume, mounts)):
        if mount.target in seen:
            raise problem(f"{mount.target} is mounted twice", i)
        seen.add(mount.target)
    return mounts


def _unique(what: str) -> AfterValidator:
    def check(items: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item in seen:
                raise problem(f"{what} {item} is listed twice", i)
            seen.add(item)
        return items

    return AfterValidator(check)


# --- env files (read in envfile.py) ------------------------------------------------------


def _base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir", "."))


def _budget(info: ValidationInfo) -> ReadBudget | None:
    budget = (info.context or {}).get("budget")
    return budget if isinstance(budget, ReadBudget) else None


def _env_file(value: str, info: ValidationInfo) -> str:
    if not value:
        raise ValueError("expected a file path")
    read_env_file(value, _base_dir(info), _budget(info))
    return value


EnvFilePath = Annotated[str, AfterValidator(_env_file), Kind("path")]


# --- mappings and lists --------------------------------------------------------------------


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    out: dict[str, str] = {}
    if isinstance(value, Mapping):
        for name, raw in value.items():
            _env_name(name, str(name))
            text = _scalar_text(raw)
            if text is None:
                empty = " (write '' for an empty value)" if raw is None else ""
                raise problem(f"{name} must be a string, number or true/false{empty}", name)
            out[name] = text
        return out
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str) or "=" not in item:
                raise problem('expected "NAME=value"', i)
            name, _, text = item.partition("=")
            if name in out:
                raise problem(f"{name} is set twice", i)
            out[_env_name(name, i)] = text
        return out
    raise ValueError('expected a mapping NAME: value or a list of "NAME=value"')


def _secrets(value: Any) -> dict[str, str]:
    # Messages here must never include a value.
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping NAME: value")
    out: dict[str, str] = {}
    for name, raw in value.items():
        _env_name(name, str(name))
        text = _scalar_text(raw)
        if text is None:
            raise problem(f"{name} must be a string or a number", name)
        if 0 < len(text) < MIN_LENGTH:
            raise problem(
                f"{name} is shorter than {MIN_LENGTH} characters: too short to mask in output", name
            )
        out[name] = text
    return out


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping key: value")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not key:
            raise problem("label keys must be non-empty strings", str(key))
        if key.lower().startswith("greenroom."):
            raise problem(f"label {key!r} is reserved: keys starting with greenroom. are its own", key)
        text = _scalar_text(raw)
        if text is None:
            raise problem("label values must be strings", key)
        out[key] = text
    return out


def _command(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_COMMAND_TEXT:
            raise ValueError(f"is longer than {size_text(MAX_COMMAND_TEXT)}; write it as a list of words")
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
    elif isinstance(value, list | tuple):
        words = []
        for i, word in enumerate(value):
            text = None if isinstance(word, bool) else _scalar_text(word)
            if text is None:
                raise problem("command words must be strings (quote them)", i)
            words.append(text)
    else:
        raise ValueError("expected a list of words or a string")
    if not words:
        raise ValueError("is empty; leave it out to run the image's own command")
    return tuple(words)


def _section(value: Any) -> Any:
    return {} if value is None else value  # a section with every key commented out


# --- models --------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, hide_input_in_errors=True)


def _tls_path(value: Any, info: ValidationInfo) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected a file path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else _base_dir(info) / path
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    return str(path)


TlsPath = Annotated[str | None, BeforeValidator(_tls_path), Kind("path or null")]


class EngineTls(_Model):
    """Client TLS for a tcp:// engine (as dockerd --tlsverify expects)."""

    ca: TlsPath = Field(
        default=None, description="CA certificate that signed the engine's certificate (PEM)."
    )
    cert: TlsPath = Field(default=None, description="Client certificate (PEM), with key.")
    key: TlsPath = Field(default=None, description="Private key of the client certificate (PEM).")
    verify: bool = Field(
        default=True,
        description="Verify the engine's certificate against ca (and its name against the host).",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if bool(self.cert) != bool(self.key):
            raise problem("cert and key go together", "cert" if self.key else "key")
        return self

    @property
    def given(self) -> bool:
        """Any key set: these files, not the environment's, are the engine's TLS."""
        return bool(self.ca or self.cert or self.key) or not self.verify


class EngineConfig(_Model):
    """Which Docker engine greenroom talks to."""

    host: Annotated[str | None, BeforeValidator(_engine_host), Kind("engine address or null")] = Field(
        default=None,
        description="Engine address: unix:///var/run/docker.sock, ssh://user@host or tcp://host:2376. "
        "null (or empty) uses DOCKER_HOST, else the Docker context (DOCKER_CONTEXT, else the current one), "
        "else the local default socket. ssh:// runs your own OpenSSH client.",
    )
    helper_image: Image = Field(
        default="busybox:stable",
        description="A busybox-like image (sh, nc, timeout, usleep, sed, cat), used for health probes and to "
        "read routes through the engine; pulled if missing.",
    )
    direct: bool = Field(
        default=True,
        description="When greenroom runs as root on the engine's own host, reach containers from inside "
        "their network namespaces: health probes without a helper container, proxy admin calls without "
        "exec. false: always through the engine (helper containers, exec), as with a remote engine.",
    )
    tls: Annotated[EngineTls, BeforeValidator(_section)] = Field(
        default=EngineTls(),
        description="TLS files for a tcp:// engine, relative to the config file's folder. Unset: from "
        "the Docker context, else DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.",
    )
    insecure_plain_tcp: bool = Field(
        default=False,
        description="Allow a tcp:// engine without TLS (everything, secrets included, in clear text). "
        "Refused unless true.",
    )


class ProxyConfig(_Model):
    """The nginx proxy container in front of every app, and the networks greenroom creates."""

    name: ContainerName = Field(
        default="greenroom-proxy",
        description="Container name of the proxy: 2-63 letters, digits, _ . and -, not shaped like "
        "greenroom's own containers (greenroom-lock-*, greenroom-probe-*, APP-COLOR-DEPLOY-REPLICA).",
    )
    image: Image = Field(
        default="nginx:1.29.3-bookworm",
        description="Proxy image: nginx 1.25 or later with njs 0.8 or later at "
        "/usr/lib/nginx/modules/ngx_http_js_module.so, curl 7.84 or later and sh. The default is the "
        "official nginx image's Debian variant, pinned by tag (add @sha256:DIGEST to pin it fully); "
        'see "Proxy images" in the README.',
    )
    network: NetworkName = Field(
        default="greenroom-proxy",
        description="The proxy's home network (not internal): its default route. Not one of Docker's "
        "predefined networks (bridge, host, none, default) nor shaped like gr-APP-back or gr-APP-front.",
    )
    ports: Annotated[tuple[Port, ...], AfterValidator(_unique_host_ports)] = Field(
        default=("80:80",),
        description='Published ports, Compose short syntax "[HOST_IP:]HOST_PORT:CONTAINER_PORT", tcp only; '
        "IPv6 host IPs in brackets.",
    )
    listen: Annotated[Int, AfterValidator(rules.listen_port)] = Field(
        default=80,
        ge=1,
        le=65535,
        description="Port nginx listens on inside the proxy; one of the CONTAINER_PORTs of ports. Not "
        f"{' or '.join(str(p) for p in ADMIN_PORTS)}, the proxy's admin ports.",
    )
    subnet_pool: Pool = Field(
        default=IPv4Network("10.213.0.0/16"),
        description="IPv4 pool (a /8 to a /24) that the subnets of greenroom's own networks are taken from; "
        "private or global unicast (not loopback, link-local, multicast, reserved, 0.0.0.0/8 or "
        "100.64.0.0/10); must not overlap networks in use elsewhere.",
    )
    back_prefix: Int = Field(
        default=26, ge=16, le=29, description="Prefix length of each app's back network, 16 to 29."
    )
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = Field(
        default="unless-stopped",
        description="Docker restart policy of the proxy: no, always, unless-stopped or on-failure.",
    )
    trusted_proxies: Annotated[tuple[TrustedNetwork, ...], _unique("network")] = Field(
        default=(),
        description="Addresses or networks (IPv4 or IPv6, e.g. 10.0.0.0/8, 192.0.2.7) of the proxies in "
        "front of this one, such as a load balancer or TLS terminator: only their X-Forwarded-Proto "
        "(http or https) and X-Forwarded-For reach the apps. From any other peer both are replaced: "
        "X-Forwarded-Proto by the scheme the request came in with, X-Forwarded-For by the peer's address. "
        "Not 0.0.0.0/0 or ::/0.",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        published = sorted({p.container_port for p in self.published_ports()})
        if self.listen not in published:
            shown = ", ".join(map(str, published)) or "none"
            raise problem(f"{self.listen} is not a container port of proxy.ports ({shown})", "listen")
        if self.back_prefix < self.subnet_pool.prefixlen:
            message = f"a /{self.back_prefix} does not fit in subnet_pool {self.subnet_pool}"
            raise problem(message, "back_prefix")
        return self

    def published_ports(self) -> tuple[PortMapping, ...]:
        return tuple(map(parse_port_mapping, self.ports))


class Resources(_Model):
    """Limits for each container of the app."""

    memory: Annotated[int | None, BeforeValidator(_memory), Kind("size or null")] = Field(
        default=None,
        description="Memory limit: bytes or a number with k, m, g or t (powers of 1024), at least 6m and "
        "at most 1t. null: no limit.",
    )
    cpus: Annotated[Float | None, Field(ge=0.01, le=64)] = Field(
        default=None, description="CPU limit in cores, 0.01 to 64. null: no limit."
    )


class HealthCheck(_Model):
    """How greenroom decides that a new container is ready for traffic."""

    type: Literal["http", "tcp", "docker"] = Field(
        default="http",
        description="http: GET path and expect status; tcp: connect to port; docker: wait for the image's "
        "own HEALTHCHECK.",
    )
    path: ProbePath = Field(
        default="/health",
        description="http only. Path (and query) to GET; starts with /, at most 1024 characters of letters, "
        "digits and ._~!&()*+,=:@/%?- ; % followed by two hex digits.",
    )
    status: Int = Field(
        default=200, ge=100, le=599, description="http only. Expected response status, 100 to 599."
    )
    timeout: Annotated[Duration, _within(0, 60, above=True)] = Field(
        default=2.0, description="Time allowed for one probe, more than 0 and at most 1m."
    )
    interval: Annotated[Duration, _within(0.05)] = Field(
        default=1.0, description="Pause between probes, at least 50ms."
    )
    passes: Int = Field(default=3, ge=1, le=100, description="Consecutive passing probes needed, 1 to 100.")
    deadline: Annotated[Duration, _within(0, above=True)] = Field(
        default=60.0, description="Total time a new container has to become healthy; longer than interval."
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.type != "http":
            for name in ("path", "status"):
                if name in self.model_fields_set:
                    raise problem(f"only used by type http, not {self.type}", name)
        if self.deadline <= self.interval:
            raise problem(f"must be longer than interval ({format_duration(self.interval)})", "deadline")
        return self


class AppConfig(_Model):
    """One app: its containers, how they are checked, and the host names that route to it."""

    image: Image = Field(description="Image reference, e.g. registry.example.com/web:1.4.2.")
    port: Int = Field(ge=1, le=65535, description="Port the app listens on inside its containers.")
    replicas: Int = Field(default=1, ge=1, le=16, description="Containers per color, 1 to 16.")
    command: Annotated[
        tuple[str, ...] | None, BeforeValidator(_command), Kind("list of strings, string or null")
    ] = Field(
        default=None,
        description="Command overriding the image's; a string is split into words like a shell does. "
        "null: the image's own.",
    )
    environment: Annotated[dict[str, str], BeforeValidator(_environment), Kind("mapping or list")] = Field(
        default={},
        description="Environment variables, NAME: value (numbers and true/false become strings) or a list of "
        '"NAME=value". Wins over env_file.',
    )
    env_file: Annotated[
        tuple[EnvFilePath, ...], BeforeValidator(_one_or_many), Kind("path or list of paths")
    ] = Field(
        default=(),
        description="Files of NAME=value lines (# comments, quotes and export allowed), relative to the "
        "config file's folder; later files win.",
    )
    secrets: Annotated[dict[str, SecretStr], BeforeValidator(_secrets), Kind("mapping")] = Field(
        default={},
        description="Secret environment variables, NAME: value; never printed (shown as ******). A name may "
        "not also be in environment; secrets win over env_file.",
    )
    volumes: Annotated[tuple[Volume, ...], AfterValidator(_unique_targets)] = Field(
        default=(),
        description='Mounts, "SRC:DST[:ro|:rw]": SRC an absolute host path or a volume name, DST an absolute '
        "path.",
    )
    labels: Annotated[dict[str, str], BeforeValidator(_labels), Kind("mapping")] = Field(
        default={}, description="Container labels; keys starting with greenroom. are reserved."
    )
    networks: Annotated[tuple[NetworkName, ...], _unique("network")] = Field(
        default=(),
        description="Extra Docker networks to attach the app's containers to (created elsewhere); not "
        "bridge, host, none or default, nor greenroom's gr-APP-back and gr-APP-front.",
    )
    resources: Annotated[Resources, BeforeValidator(_section)] = Field(
        default=Resources(), description="Memory and CPU limits per container."
    )
    healthcheck: Annotated[HealthCheck, BeforeValidator(_section)] = Field(
        default=HealthCheck(), description="The health gate a new color must pass before it gets traffic."
    )
    hosts: Annotated[tuple[HostName, ...], _unique("host")] = Field(
        default=(),
        description="Virtual host names routed to this app: lowercase DNS names, optionally a `*.` wildcard "
        "with at least two labels after it (*.example.com); each belongs to one app only. Names ending in "
        ".greenroom.internal are greenroom's own: every app is also APP.greenroom.internal, for "
        "greenroom's confirm probe, and that name is served only to requests from inside the proxy "
        "(a request from anywhere else gets 404). An app with no hosts serves nobody outside.",
    )
    drain_timeout: Annotated[Duration, _within(0, 3600)] = Field(
        default=30.0,
        description="How long the old color keeps serving open connections after the switch, 0 to 1h.",
    )
    stop_timeout: Annotated[Duration, _within(0, 600)] = Field(
        default=10.0,
        description="Grace period between SIGTERM and SIGKILL when stopping a container, 0 to 10m.",
    )
    retain: Int = Field(
        default=3, ge=0, le=20, description="Stopped old versions kept for rollback, 0 to 20."
    )

    _env_file_values: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> Self:
        for path in self.env_file:
            self._env_file_values.update(read_env_file(path, _base_dir(info), _budget(info)))
        for name in self.secrets:
            if name in self.environment:
                raise problem(
                    f"{name} is also set in environment; a name may be in one of them only", "secrets", name
                )
        return self

    def mounts(self) -> tuple[Mount, ...]:
        return tuple(map(parse_volume, self.volumes))

    def env(self) -> dict[str, str]:
        """The containers' environment with real secret values: env_file, environment, secrets."""
        merged = dict(self._env_file_values)
        merged.update(self.environment)
        merged.update({name: value.get_secret_value() for name, value in self.secrets.items()})
        return merged


def _some_apps(apps: dict[str, AppConfig]) -> dict[str, AppConfig]:
    if not apps:
        raise ValueError("needs at least one app")
    return apps


class Config(_Model):
    """greenroom.yml: the engine, the proxy, and the apps behind it."""

    version: Literal[1] = Field(default=1, description="Version of this file's format; only 1 exists.")
    engine: Annotated[EngineConfig, BeforeValidator(_section)] = Field(
        default=EngineConfig(), description="The Docker engine to deploy to."
    )
    proxy: Annotated[ProxyConfig, BeforeValidator(_section)] = Field(
        default=ProxyConfig(), description="The nginx proxy and greenroom's networks."
    )
    apps: Annotated[dict[AppName, AppConfig], AfterValidator(_some_apps)] = Field(
        description="The apps, by name: 1-31 lowercase letters, digits and -, starting with a letter."
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        owners: dict[str, str] = {}
        for name, app in self.apps.items():
            for i, host in enumerate(app.hosts):
                owner = owners.setdefault(host, name)
                if owner != name:
                    raise problem(
                        f"{host} is a host of both apps {owner} and {name}; a host name may "
                        "belong to one app only",
                        "apps",
                        name,
                        "hosts",
                        i,
                    )
        return self

    def app(self, name: str) -> AppConfig:
        try:
            return self.apps[name]
        except KeyError:
            raise ConfigError(
                f"no app named {name!r}", where="apps", hint=f"known apps: {', '.join(sorted(self.apps))}"
            ) from None


# --- views ---------------------------------------------------------------------------------


def masked(config: Config) -> dict[str, Any]:
    """The resolved config as JSON-able data, every secret value shown as ******."""
    data: dict[str, Any] = config.model_dump(mode="json")
    for name, app in config.apps.items():
        data["apps"][name]["secrets"] = dict.fromkeys(app.secrets, MASK)
    return data


def secret_values(config: Config) -> set[str]:
    return {s.get_secret_value() for app in config.apps.values() for s in app.secrets.values()}


def config_hash(app: AppConfig) -> str:
    """Stable short digest of everything that makes up the app's containers, secrets included."""
    data = app.model_dump(mode="json")
    data["secrets"] = {
        k: hashlib.sha256(v.get_secret_value().encode()).hexdigest() for k, v in app.secrets.items()
    }
    data["env"] = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in app.env().items()}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
