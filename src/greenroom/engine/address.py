"""Which engine, and how to reach it safely: the address and its TLS material.

Resolved as the Docker CLI does: an explicit address (--host, DOCKER_HOST, engine.host),
else DOCKER_CONTEXT, else the current context of ~/.docker/config.json (DOCKER_CONFIG
moves that folder), else the local socket. TLS material comes from engine.tls in the
config, else from the context (contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem),
else from DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH.

Pure: reads files and a mapping of environment variables, never the network.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from greenroom.errors import ConfigError, EngineUnreachable

LOCAL_SOCKET = "unix:///var/run/docker.sock"
INSECURE_ENV = "GREENROOM_INSECURE_PLAIN_TCP"  # the opt-in for commands that read no config


@dataclass(frozen=True)
class TlsMaterial:
    """Client TLS for a tcp:// engine: files, and whether the server is verified."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True
    source: str = ""  # where it came from, for messages

    def check(self) -> None:
        """Every named file exists; cert and key come together; verify has a CA."""
        for what, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            if path and not Path(path).is_file():
                raise ConfigError(f"TLS {what} file {path} does not exist", where=self.source)
        if bool(self.cert) != bool(self.key):
            raise ConfigError(
                "a TLS client certificate needs both cert and key", where=self.source, hint="name both files"
            )


@dataclass(frozen=True)
class EngineAddress:
    host: str
    source: str  # "--host", "DOCKER_HOST", "engine.host", "context NAME", "default"
    tls: TlsMaterial | None = None

    @property
    def scheme(self) -> str:
        if self.host.startswith("/"):
            return "unix"
        return self.host.split("://", 1)[0].lower() if "://" in self.host else "tcp"

    @property
    def is_local(self) -> bool:
        """A socket on this machine: greenroom may use /proc and network namespaces."""
        return self.scheme in ("unix", "npipe")

    @property
    def is_tcp(self) -> bool:
        return self.scheme in ("tcp", "http", "https")

    @property
    def address(self) -> str:
        """host:port of a tcp:// engine (for messages)."""
        parts = urlsplit(self.host if "://" in self.host else f"tcp://{self.host}")
        return parts.netloc or self.host


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"])
    return Path(environ.get("HOME") or os.path.expanduser("~")) / ".docker"


def context_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def current_context(environ: Mapping[str, str]) -> str | None:
    """DOCKER_CONTEXT, else currentContext of config.json; None for the default context."""
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            doc = json.loads((docker_config_dir(environ) / "config.json").read_text())
            name = doc.get("currentContext") if isinstance(doc, dict) else None
        except (OSError, ValueError):
            name = None
    return None if not name or name == "default" else str(name)


def context_address(name: str, environ: Mapping[str, str]) -> EngineAddress:
    """The docker endpoint of a context, with the TLS files the CLI stored for it."""
    folder = docker_config_dir(environ) / "contexts"
    meta = folder / "meta" / context_id(name) / "meta.json"
    try:
        docker_ep: Any = json.loads(meta.read_text())["Endpoints"]["docker"]
        host = str(docker_ep["Host"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnreachable(
            f"Docker context {name!r} has no readable endpoint ({meta})",
            hint="`docker context ls` lists contexts; set DOCKER_HOST or pass --host",
        ) from exc
    tls_dir = folder / "tls" / context_id(name) / "docker"
    files = {n: tls_dir / f"{n}.pem" for n in ("ca", "cert", "key")}
    present = {n: str(p) for n, p in files.items() if p.is_file()}
    skip_verify = bool(docker_ep.get("SkipTLSVerify")) if isinstance(docker_ep, dict) else False
    tls = None
    if present or skip_verify:
        tls = TlsMaterial(
            ca=present.get("ca"),
            cert=present.get("cert"),
            key=present.get("key"),
            verify=not skip_verify,
            source=f"Docker context {name}",
        )
    return EngineAddress(host=host, source=f"context {name}", tls=tls)


def tls_from_env(environ: Mapping[str, str]) -> TlsMaterial | None:
    """DOCKER_TLS_VERIFY (verify), DOCKER_TLS (encrypt only), DOCKER_CERT_PATH (the files;
    ~/.docker when unset). DOCKER_CERT_PATH alone also means TLS, verified."""
    verify_flag = bool(environ.get("DOCKER_TLS_VERIFY"))
    tls_flag = bool(environ.get("DOCKER_TLS"))
    cert_path = environ.get("DOCKER_CERT_PATH")
    if not (verify_flag or tls_flag or cert_path):
        return None
    folder = Path(cert_path) if cert_path else docker_config_dir(environ)
    files = {n: folder / f"{n}.pem" for n in ("ca", "cert", "key")}
    present = {n: str(p) for n, p in files.items() if p.is_file()}
    verify = verify_flag or not tls_flag
    source = f"DOCKER_CERT_PATH={folder}" if cert_path else f"DOCKER_TLS_VERIFY ({folder})"
    if verify and "ca" not in present:
        raise ConfigError(
            f"TLS verification is on but {files['ca']} does not exist",
            where=source,
            hint="put the engine's CA in ca.pem there (with cert.pem and key.pem), or point "
            "DOCKER_CERT_PATH at the folder that has them",
        )
    return TlsMaterial(
        ca=present.get("ca"), cert=present.get("cert"), key=present.get("key"), verify=verify, source=source
    )


def resolve_address(
    host: str | None,
    *,
    tls: TlsMaterial | None = None,
    environ: Mapping[str, str] | None = None,
    source: str = "--host",
) -> EngineAddress:
    """The engine to talk to and its TLS material (see the module's docstring)."""
    env = os.environ if environ is None else environ
    if not host and env.get("DOCKER_HOST"):
        host, source = env["DOCKER_HOST"], "DOCKER_HOST"
    if host:
        found = tls or tls_from_env(env)
        if found is None:
            # `Engine(default_host())`: the address came from a context; keep its TLS too
            name = current_context(env)
            if name and not env.get("DOCKER_HOST"):
                try:
                    ctx = context_address(name, env)
                except EngineUnreachable:
                    ctx = None
                if ctx is not None and ctx.host == host:
                    found = ctx.tls
        return EngineAddress(host=host, source=source, tls=found)
    name = current_context(env)
    if name:
        ctx = context_address(name, env)
        return EngineAddress(host=ctx.host, source=ctx.source, tls=tls or ctx.tls)
    return EngineAddress(host=LOCAL_SOCKET, source="default", tls=tls)


def refuse_plain_tcp(endpoint: EngineAddress, *, allowed: bool, environ: Mapping[str, str]) -> None:
    """A tcp:// engine without TLS would carry container bodies, secrets included, in clear."""
    if not endpoint.is_tcp or endpoint.tls is not None or endpoint.host.startswith("https://"):
        return
    if allowed or environ.get(INSECURE_ENV, "").lower() in ("1", "true", "yes"):
        return
    raise ConfigError(
        f"{endpoint.host} is plain, unencrypted HTTP: every request (container settings and "
        "secrets included) would cross the network in clear text, and anyone on the way could "
        "drive the engine",
        where=f"engine.host ({endpoint.source})",
        hint="use TLS (engine.tls: {ca, cert, key}, DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH, or a "
        "Docker context with TLS) or ssh://; if you really mean it, set engine.insecure_plain_tcp: true "
        f"(or {INSECURE_ENV}=1)",
    )
