"""greenroom.yml's `apps:` entries: an app's containers, its resources and health check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from greenroom.config.canary import Canary, Preview
from greenroom.config.container import (
    EnvFilePath,
    Mount,
    Volume,
    command_words,
    env_vars,
    label_mapping,
    parse_volume,
    secret_mapping,
    unique_targets,
)
from greenroom.config.envfile import read_env_file
from greenroom.config.fields import (
    Duration,
    Float,
    Int,
    Kind,
    Model,
    base_dir,
    budget,
    format_duration,
    memory_limit,
    one_or_many,
    problem,
    section,
    unique,
    within,
)
from greenroom.config.fleet import Placement
from greenroom.config.names import HostName, Image, NetworkName, ProbePath
from greenroom.config.release import ReleaseCommand, release_section
from greenroom.config.tls import TlsConfig, TlsSection
from greenroom.tls.model import Material, uncovered


class Resources(Model):
    """Limits for each container of the app."""

    memory: Annotated[int | None, BeforeValidator(memory_limit), Kind("size or null")] = Field(
        default=None,
        description="Memory limit: bytes or a number with k, m, g or t (powers of 1024), at least 6m and "
        "at most 1t. null: no limit.",
    )
    cpus: Annotated[Float | None, Field(ge=0.01, le=64)] = Field(
        default=None, description="CPU limit in cores, 0.01 to 64. null: no limit."
    )


class HealthCheck(Model):
    """How greenroom decides that a new container is ready for traffic."""

    type: Literal["http", "tcp", "docker", "running"] = Field(
        default="http",
        description="http: GET path and expect status; tcp: connect to port; docker: wait for the image's "
        "own HEALTHCHECK; running: each container keeps running for `steady` with no restart (a worker's "
        "default).",
    )
    path: ProbePath = Field(
        default="/health",
        description="http only. Path (and query) to GET; starts with /, at most 1024 characters of letters, "
        "digits and ._~!&()*+,=:@/%?- ; % followed by two hex digits.",
    )
    status: Int = Field(
        default=200, ge=100, le=599, description="http only. Expected response status, 100 to 599."
    )
    timeout: Annotated[Duration, within(0, 60, above=True)] = Field(
        default=2.0, description="Time allowed for one probe, more than 0 and at most 1m."
    )
    interval: Annotated[Duration, within(0.05)] = Field(
        default=1.0, description="Pause between probes, at least 50ms."
    )
    passes: Int = Field(default=3, ge=1, le=100, description="Consecutive passing probes needed, 1 to 100.")
    deadline: Annotated[Duration, within(0, above=True)] = Field(
        default=60.0, description="Total time a new container has to become healthy; longer than interval."
    )
    steady: Annotated[Duration, within(0.1, 3600)] = Field(
        default=3.0,
        description="running only. How long each new container must keep running with no restart, "
        "100ms to 1h; shorter than deadline.",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.type != "http":
            for name in ("path", "status"):
                if name in self.model_fields_set:
                    raise problem(f"only used by type http, not {self.type}", name)
        if self.type != "running" and "steady" in self.model_fields_set:
            raise problem(f"only used by type running, not {self.type}", "steady")
        if self.type == "running" and self.deadline <= self.steady:
            raise problem(f"must be longer than steady ({format_duration(self.steady)})", "deadline")
        if self.deadline <= self.interval:
            raise problem(f"must be longer than interval ({format_duration(self.interval)})", "deadline")
        return self


class AppConfig(Model):
    """One app: its containers, how they are checked, and the host names that route to it."""

    image: Image = Field(description="Image reference, e.g. registry.example.com/web:1.4.2.")
    port: Int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port the app listens on inside its containers. Leave it out for a worker (a queue "
        "consumer, a scheduler): no proxy route, no front network, no confirm; its health check is "
        "docker or running.",
    )
    replicas: Int = Field(default=1, ge=1, le=16, description="Containers per color, 1 to 16.")
    command: Annotated[
        tuple[str, ...] | None, BeforeValidator(command_words), Kind("list of strings, string or null")
    ] = Field(
        default=None,
        description="Command overriding the image's; a string is split into words like a shell does. "
        "null: the image's own.",
    )
    environment: Annotated[dict[str, str], BeforeValidator(env_vars), Kind("mapping or list")] = Field(
        default={},
        description="Environment variables, NAME: value (numbers and true/false become strings) or a list of "
        '"NAME=value". Wins over env_file.',
    )
    env_file: Annotated[
        tuple[EnvFilePath, ...], BeforeValidator(one_or_many), Kind("path or list of paths")
    ] = Field(
        default=(),
        description="Files of NAME=value lines (# comments, quotes and export allowed), relative to the "
        "config file's folder; later files win.",
    )
    secrets: Annotated[dict[str, SecretStr], BeforeValidator(secret_mapping), Kind("mapping")] = Field(
        default={},
        description="Secret environment variables, NAME: value; never printed (shown as ******). A name may "
        "not also be in environment; secrets win over env_file.",
    )
    volumes: Annotated[tuple[Volume, ...], AfterValidator(unique_targets)] = Field(
        default=(),
        description='Mounts, "SRC:DST[:ro|:rw]": SRC an absolute host path or a volume name, DST an absolute '
        "path.",
    )
    labels: Annotated[dict[str, str], BeforeValidator(label_mapping), Kind("mapping")] = Field(
        default={}, description="Container labels; keys starting with greenroom. are reserved."
    )
    networks: Annotated[tuple[NetworkName, ...], unique("network")] = Field(
        default=(),
        description="Extra Docker networks to attach the app's containers to (created elsewhere); not "
        "bridge, host, none or default, nor greenroom's gr-APP-back and gr-APP-front.",
    )
    resources: Annotated[Resources, BeforeValidator(section)] = Field(
        default=Resources(), description="Memory and CPU limits per container."
    )
    healthcheck: Annotated[HealthCheck, BeforeValidator(section)] = Field(
        default=HealthCheck(), description="The health gate a new color must pass before it gets traffic."
    )
    hosts: Annotated[tuple[HostName, ...], unique("host")] = Field(
        default=(),
        description="Virtual host names routed to this app: lowercase DNS names, optionally a `*.` wildcard "
        "with at least two labels after it (*.example.com); each belongs to one app only. Names ending in "
        ".greenroom.internal are greenroom's own: every app is also APP.greenroom.internal, for "
        "greenroom's confirm probe, and that name is served only to requests from inside the proxy "
        "(a request from anywhere else gets 404). An app with no hosts serves nobody outside.",
    )
    drain_timeout: Annotated[Duration, within(0, 3600)] = Field(
        default=30.0,
        description="How long the old color keeps serving open connections after the switch, 0 to 1h.",
    )
    stop_timeout: Annotated[Duration, within(0, 600)] = Field(
        default=10.0,
        description="Grace period between SIGTERM and SIGKILL when stopping a container, 0 to 10m.",
    )
    retain: Int = Field(
        default=3, ge=0, le=20, description="Stopped old versions kept for rollback, 0 to 20."
    )

    tls: TlsSection = Field(
        default=None,
        description="HTTPS for the app's hosts at the proxy (certificate files or acme). null: plain "
        "HTTP only.",
    )
    preview: Annotated[Preview, BeforeValidator(section)] = Field(
        default=Preview(), description="How a staged color (deploy --no-switch, a canary) is reached."
    )
    canary: Annotated[Canary, BeforeValidator(section)] = Field(
        default=Canary(), description="Weighted canary steps and the gates that promote or roll back."
    )
    placement: Annotated[Placement, BeforeValidator(section)] = Field(
        default=Placement(), description="Which hosts run it: all of them unless narrowed here."
    )
    release: Annotated[
        ReleaseCommand | None, BeforeValidator(release_section), Kind("command, or mapping with command")
    ] = Field(
        default=None,
        description="A command run once per deploy in a one-off container of the new image (with the "
        "app's environment, secrets, volumes and extra networks), after the image is there and before "
        "any switch; on a fleet once, on the first host, before any host switches. It fails: nothing "
        "switches. Not run again for an image it already ran for, unless `deploy --rerun-release`; "
        "never run by rollback. A string or a list, or {command, timeout}.",
    )
    overlap: bool | None = Field(
        default=None,
        description="Workers only (no port). true (default): start the new version, gate it, then stop "
        "the old one, so both run briefly. false: a singleton that must never run twice: stop the old "
        "one first, then start the new one; a failed gate starts the old one again.",
    )

    _env_file_values: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _worker_gate(cls, data: Any) -> Any:
        """A worker's health check is `running` unless it says otherwise."""
        if isinstance(data, Mapping) and data.get("port") is None:
            hc = data.get("healthcheck")
            if hc is None:
                return {**data, "healthcheck": {"type": "running"}}
            if isinstance(hc, Mapping) and "type" not in hc:
                return {**data, "healthcheck": {"type": "running", **hc}}
        return data

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> Self:
        for path in self.env_file:
            self._env_file_values.update(read_env_file(path, base_dir(info), budget(info)))
        self._check_worker()
        for i, host in enumerate(self.preview.hosts):
            if host in self.hosts:
                raise problem(
                    f"{host} is one of the app's hosts; a preview host must be another", "preview", "hosts", i
                )
        for name in self.secrets:
            if name in self.environment:
                raise problem(
                    f"{name} is also set in environment; a name may be in one of them only", "secrets", name
                )
        if self.tls is not None:
            check_tls(self.tls, self.hosts)
        return self

    @property
    def is_worker(self) -> bool:
        """An app without a port: no route, no front network, no confirm."""
        return self.port is None

    @property
    def singleton(self) -> bool:
        return self.is_worker and self.overlap is False

    def _check_worker(self) -> None:
        if not self.is_worker:
            if self.overlap is not None:
                raise problem("only for workers (apps without port): a web app always overlaps", "overlap")
            return
        if self.hosts:
            raise problem("a worker (an app without port) has no route; set port or remove hosts", "hosts")
        if self.healthcheck.type in ("http", "tcp"):
            raise problem(
                f"a worker (an app without port) cannot be probed by {self.healthcheck.type}; "
                "use running or docker",
                "healthcheck",
                "type",
            )

    def tls_material(self, app: str) -> Material | None:
        """The certificate the proxy installs for this app from files (None for acme or no tls)."""
        found = self.tls.files_certificate() if self.tls is not None else None
        if self.tls is None or found is None:
            return None
        cert, pem = found
        return Material(app, self.hosts, self.tls.hsts_seconds(), cert, "files", self.tls.redirect, pem)

    def mounts(self) -> tuple[Mount, ...]:
        return tuple(map(parse_volume, self.volumes))

    def env(self) -> dict[str, str]:
        """The containers' environment with real secret values: env_file, environment, secrets."""
        merged = dict(self._env_file_values)
        merged.update(self.environment)
        merged.update({name: value.get_secret_value() for name, value in self.secrets.items()})
        return merged


def check_tls(tls: TlsConfig, hosts: tuple[str, ...]) -> None:
    public = [h for h in hosts if not h.endswith(".greenroom.internal")]
    if not public:
        raise problem("needs hosts: the certificate's names are the app's hosts", "tls")
    found = tls.files_certificate()
    if found is not None:
        missing = uncovered(found[0].names, public)
        if missing:
            raise problem(
                f"the certificate's names ({', '.join(found[0].names)}) do not cover {', '.join(missing)}",
                "tls",
                "certificate",
            )
    wild = [h for h in public if h.startswith("*.")]
    if tls.acme is not None and wild:
        raise problem(
            f"ACME's HTTP-01 cannot issue a certificate for {wild[0]}: use certificate files for "
            "wildcard hosts",
            "tls",
            "acme",
        )
