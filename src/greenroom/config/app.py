"""greenroom.yml's `apps:` entries: an app's containers, its resources and health check."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)

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

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.type != "http":
            for name in ("path", "status"):
                if name in self.model_fields_set:
                    raise problem(f"only used by type http, not {self.type}", name)
        if self.deadline <= self.interval:
            raise problem(f"must be longer than interval ({format_duration(self.interval)})", "deadline")
        return self


class AppConfig(Model):
    """One app: its containers, how they are checked, and the host names that route to it."""

    image: Image = Field(description="Image reference, e.g. registry.example.com/web:1.4.2.")
    port: Int = Field(ge=1, le=65535, description="Port the app listens on inside its containers.")
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

    placement: Annotated[Placement, BeforeValidator(section)] = Field(
        default=Placement(), description="Which hosts run it: all of them unless narrowed here."
    )

    _env_file_values: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> Self:
        for path in self.env_file:
            self._env_file_values.update(read_env_file(path, base_dir(info), budget(info)))
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
