"""greenroom.yml's `engine:` section: which Docker engine, how to reach it, TLS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    model_validator,
)

from greenroom.config.fields import Duration, Kind, Model, base_dir, problem, section, within
from greenroom.config.names import Image
from greenroom.engine.bound import DEFAULT_CALL_TIMEOUT

CallTimeout = Annotated[Duration, within(1, 600), Kind("duration")]
CALL_TIMEOUT_HELP = (
    "How long one engine call that is not long by nature (inspect, create, start, connect, a short exec) "
    "may go unanswered before the host is named hung: the command then talks to it no more (no undo "
    "waits on it again) and the next command repairs it. Pulls, stops, log streams and helpers' waits "
    "have their own progress-based deadlines. Its lock's lease is renewed every call_timeout and lapses "
    "after 3 missed renewals. At least 1s, at most 10m."
)


def _engine_host(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"(unix|tcp|ssh|npipe|http|https)://\S+", value):
        raise ValueError(
            "expected an engine address like unix:///var/run/docker.sock, ssh://user@host or tcp://host:2376"
        )
    return value


def _tls_path(value: Any, info: ValidationInfo) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected a file path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir(info) / path
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    return str(path)


TlsPath = Annotated[str | None, BeforeValidator(_tls_path), Kind("path or null")]


class EngineTls(Model):
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


class EngineConfig(Model):
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
    tls: Annotated[EngineTls, BeforeValidator(section)] = Field(
        default=EngineTls(),
        description="TLS files for a tcp:// engine, relative to the config file's folder. Unset: from "
        "the Docker context, else DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.",
    )
    insecure_plain_tcp: bool = Field(
        default=False,
        description="Allow a tcp:// engine without TLS (everything, secrets included, in clear text). "
        "Refused unless true.",
    )
    call_timeout: CallTimeout = Field(default=DEFAULT_CALL_TIMEOUT, description=CALL_TIMEOUT_HELP)
