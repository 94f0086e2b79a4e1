"""The load_balancer section of greenroom.yml: HAProxy's runtime API, or hooks
(`Config.load_balancer`; fleet.py has the hosts, the rollout, and the cross-check)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator

from greenroom.config.fields import Duration, Kind, Model, one_or_many, problem, scalar_text, within
from greenroom.config.fleet import HostId
from greenroom.config.limits import MAX_COMMAND_TEXT, size_text
from greenroom.lb.haproxy_text import parse_tcp_address, valid_name


def _socket_path(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("expected an absolute path to HAProxy's admin socket")
    if not re.fullmatch(r"[A-Za-z0-9_./@+-]+", value) or posixpath.normpath(value) != value:
        raise ValueError(
            f"invalid socket path {value!r}: a plain absolute path (letters, digits, _ . / @ + -)"
        )
    return value


def _tcp_address(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        parse_tcp_address(value if isinstance(value, str) else "")
    except ValueError:
        raise ValueError(f"expected HOST:PORT of HAProxy's TCP stats socket, not {value!r}") from None
    return str(value)


def _ssh_host(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected [user@]host[:port] of the load balancer's host")
    parts = urlsplit(value if value.startswith("ssh://") else f"ssh://{value}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    host, user = parts.hostname or "", parts.username or ""
    if (
        not host
        or port == 0
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or host.startswith("-")
        or user.startswith("-")
    ):
        raise ValueError(f"invalid ssh host {value!r}: write [user@]host[:port] (a key, no password)")
    return value


def _haproxy_name(value: Any) -> str:
    if not isinstance(value, str) or not valid_name(value):
        raise ValueError(f"invalid HAProxy name {value!r}: letters, digits, - _ . and : only")
    return value


HaproxyName = Annotated[str, BeforeValidator(_haproxy_name), Kind("HAProxy name")]


def _server_map(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {
            k: scalar_text(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in value.items()
        }
    return value


class HaproxyConfig(Model):
    """HAProxy's runtime API: drain a host's server before touching the host, ready it afterwards."""

    socket: Annotated[str | None, BeforeValidator(_socket_path), Kind("path or null")] = Field(
        default=None,
        description="Its admin socket (`stats socket PATH level admin`): on this machine, or with ssh on "
        "the load balancer's host.",
    )
    address: Annotated[str | None, BeforeValidator(_tcp_address), Kind("HOST:PORT or null")] = Field(
        default=None,
        description="Instead of socket: its TCP stats socket (`stats socket ipv4@HOST:PORT level admin`); "
        "plain text, so only on a private network.",
    )
    ssh: Annotated[str | None, BeforeValidator(_ssh_host), Kind("[user@]host[:port] or null")] = Field(
        default=None,
        description="The load balancer's host, reached with your own ssh (keys, ~/.ssh/config, known "
        "hosts); greenroom runs `socat - UNIX-CONNECT:SOCKET` there. Needs socket.",
    )
    backend: Annotated[
        tuple[HaproxyName, ...],
        BeforeValidator(one_or_many),
        Kind("name or list"),
    ] = Field(description="The backend (or backends) whose servers are the hosts' proxies.")
    servers: Annotated[dict[HostId, HaproxyName], BeforeValidator(_server_map)] = Field(
        default={}, description="Server name per host, host: server. A host not listed is its own name."
    )
    drain_timeout: Annotated[Duration, within(0, 3600)] = Field(
        default=30.0,
        description="How long a drained server may keep sessions before the hand-off fails, 0 to 1h.",
    )
    timeout: Annotated[Duration, within(0, 60, above=True)] = Field(
        default=5.0, description="Time allowed for one runtime API command, more than 0 and at most 1m."
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if (self.socket is None) == (self.address is None):
            raise problem("give either socket (a unix socket path) or address (HOST:PORT)", "socket")
        if self.ssh and not self.socket:
            raise problem(
                "ssh reaches a unix socket on the load balancer's host: give socket, not address", "ssh"
            )
        if len(set(self.backend)) != len(self.backend):
            raise problem("a backend is listed twice", "backend")
        if not self.backend:
            raise problem("name at least one backend", "backend")
        return self

    def server(self, host: str) -> str:
        return self.servers.get(host, host)


def _hook_command(value: Any) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("is empty")
        if len(value) > MAX_COMMAND_TEXT:
            raise ValueError(f"is longer than {size_text(MAX_COMMAND_TEXT)}")
        return value
    if isinstance(value, list | tuple):
        words: list[str] = []
        for i, word in enumerate(value):
            text = None if isinstance(word, bool) else scalar_text(word)
            if text is None:
                raise problem("command words must be strings (quote them)", i)
            words.append(text)
        if not words:
            raise ValueError("is empty")
        return tuple(words)
    raise ValueError("expected a string (run by sh -c) or a list of words")


HookCommand = Annotated[
    str | tuple[str, ...] | None, BeforeValidator(_hook_command), Kind("string, list of strings or null")
]


class HooksConfig(Model):
    """Commands for any other load balancer, run on this machine around each host's hand-off."""

    before_host: HookCommand = Field(
        default=None,
        description="Takes a host out before greenroom touches it; must exit 0. A string runs with sh -c, "
        "a list as words. Environment: GREENROOM_HOST, GREENROOM_APP, GREENROOM_VERSION, GREENROOM_PHASE "
        "(before_host or after_host) and GREENROOM_ACTION (deploy, rollback, proxy-reboot, ...).",
    )
    after_host: HookCommand = Field(default=None, description="Puts the host back; as before_host.")
    timeout: Annotated[Duration, within(0, 3600, above=True)] = Field(
        default=60.0, description="Time allowed for one hook; then it is killed and the hand-off fails."
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.before_host is None and self.after_host is None:
            raise problem("give before_host, after_host or both", "before_host")
        return self


class LoadBalancerConfig(Model):
    """The load balancer in front of the hosts: HAProxy's runtime API, or hooks."""

    haproxy: HaproxyConfig | None = Field(default=None, description="HAProxy's runtime API.")
    hooks: HooksConfig | None = Field(default=None, description="Commands for any other load balancer.")

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if (self.haproxy is None) == (self.hooks is None):
            raise problem("give one of haproxy or hooks", "haproxy")
        return self
