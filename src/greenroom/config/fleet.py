"""The fleet sections of greenroom.yml: hosts, where apps run, the rollout.

`Config.hosts` and `Config.rollout` (root.py), `AppConfig.placement` (app.py), and
`check_fleet`, which Config's cross-check runs (the load balancer's section is balancer.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from greenroom.config.container import label_mapping
from greenroom.config.engine import CallTimeout, EngineTls, _engine_host
from greenroom.config.fields import Duration, Kind, Model, one_or_many, problem, within

if TYPE_CHECKING:
    from greenroom.config.balancer import LoadBalancerConfig

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,62}")


def _host_name(value: Any) -> str:
    if not isinstance(value, str) or not _HOST_NAME.fullmatch(value):
        raise ValueError(
            f"invalid host name {value!r}: 1-63 letters, digits, _ . and -, starting with a letter or digit"
        )
    return value


HostId = Annotated[str, BeforeValidator(_host_name), Kind("host name")]


def _labels(value: Any) -> dict[str, str]:
    return label_mapping(value, key_problem=_host_label_key)


def _host_label_key(key: str) -> str | None:
    if not _LABEL_KEY.fullmatch(key):
        return f"invalid label key {key!r}: letters, digits, _ . / and -"
    return None


Labels = Annotated[dict[str, str], BeforeValidator(_labels), Kind("mapping")]


class FleetHost(Model):
    """One Docker host: its engine, and labels that apps are placed by."""

    name: HostId = Field(description="The host's name: in --host NAME, reports and the load balancer's map.")
    engine: Annotated[str | None, BeforeValidator(_engine_host), Kind("engine address or null")] = Field(
        default=None,
        description="Its engine's address: ssh://user@host[:port], tcp://host:2376 (TLS) or unix:///path. "
        "Either engine or context.",
    )
    context: Annotated[str | None, Kind("Docker context name or null")] = Field(
        default=None, description="A Docker context (as `docker context ls` lists) instead of engine."
    )
    tls: Annotated[EngineTls | None, Kind("mapping or null")] = Field(
        default=None,
        description="TLS files for a tcp:// engine (ca, cert, key, verify), as engine.tls. null: the "
        "context's, else engine.tls.",
    )
    labels: Labels = Field(default={}, description="Labels, key: value; apps pick hosts by them.")
    connect_timeout: Annotated[Duration, within(0, 300, above=True)] = Field(
        default=10.0,
        description="How long reaching the engine may take before the host is reported unreachable, "
        "more than 0 and at most 5m.",
    )
    call_timeout: Annotated[CallTimeout | None, Kind("duration or null")] = Field(
        default=None,
        description="This host's bound on each engine call (as engine.call_timeout, which null means).",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if (self.engine is None) == (self.context is None):
            raise problem("give the host either engine (an address) or context (a Docker context)", "engine")
        if self.tls is not None and not (self.engine or "").startswith("tcp://"):
            raise problem("only a tcp:// engine takes tls", "tls")
        return self


class Placement(Model):
    """Which hosts an app runs on: all of them unless narrowed here."""

    hosts: Annotated[tuple[HostId, ...], BeforeValidator(one_or_many)] = Field(
        default=(), description="Only these hosts, by name. Empty: every host (that the labels pick)."
    )
    labels: Labels = Field(
        default={}, description="Only the hosts that carry every one of these labels. Empty: any host."
    )

    def picks(self, host: FleetHost) -> bool:
        named = not self.hosts or host.name in self.hosts
        return named and all(host.labels.get(k) == v for k, v in self.labels.items())


def placed(hosts: Sequence[FleetHost], placement: Placement) -> tuple[FleetHost, ...]:
    """The app's hosts, in the order of `hosts:` (the rollout's order)."""
    return tuple(h for h in hosts if placement.picks(h))


# --- rollout -------------------------------------------------------------------------------

_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def _max_parallel(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("expected a count (1, 2, ...) or a percentage of the hosts (25%)")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("must be at least 1")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _max_parallel(int(text))
        match = _PERCENT.fullmatch(text)
        if match and 0 < float(match[1]) <= 100:
            return f"{float(match[1]):g}%"
    raise ValueError(f"invalid max_parallel {value!r}: a count (1, 2, ...) or a percentage from 1% to 100%")


MaxParallel = Annotated[int | str, BeforeValidator(_max_parallel), Kind("count or percentage")]


class Rollout(Model):
    """How a deploy goes over several hosts."""

    strategy: Literal["rolling", "together"] = Field(
        default="rolling",
        description="rolling: hosts in the order of hosts:, a batch at a time; the first failure stops "
        "the rollout (hosts not yet reached keep the old version). together: start and health-gate the "
        "new version on every host first, then switch all hosts at once; if any gate fails, no host "
        "switches.",
    )
    max_parallel: MaxParallel = Field(
        default=1,
        description="rolling only. Hosts per batch: a count, or a percentage of the app's hosts "
        "(rounded up).",
    )
    pause: Annotated[Duration, within(0, 3600)] = Field(
        default=0.0, description="rolling only. Wait between batches, 0 to 1h."
    )
    canary: bool = Field(
        default=False,
        description="rolling only. The first batch is one host alone (the first in order), then "
        "max_parallel at a time.",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.strategy == "together":
            for name in ("max_parallel", "pause", "canary"):
                if name in self.model_fields_set:
                    raise problem("only used by strategy rolling, not together", name)
        return self


# --- cross-checks the root model runs ------------------------------------------------------


def check_hosts(hosts: tuple[FleetHost, ...]) -> tuple[FleetHost, ...]:
    """Names and engines unique (an AfterValidator for `hosts:`)."""
    names: dict[str, int] = {}
    engines: dict[str, str] = {}
    for i, host in enumerate(hosts):
        if host.name in names:
            raise problem(f"host {host.name} is listed twice", i, "name")
        names[host.name] = i
        key = host.engine or f"context {host.context}"
        if key in engines:
            raise problem(
                f"the same engine as host {engines[key]}", i, "engine" if host.engine else "context"
            )
        engines[key] = host.name
    return hosts


def check_fleet(
    hosts: Sequence[FleetHost],
    load_balancer: LoadBalancerConfig | None,
    placements: Mapping[str, Placement],
) -> None:
    """Cross-section rules, as problems at paths from the root (hosts, apps.APP.placement, ...)."""
    known = {h.name for h in hosts}
    if not hosts:
        if load_balancer is not None:
            raise problem("a load balancer needs hosts: list the hosts behind it", "load_balancer")
        for app, placement in placements.items():
            if placement.hosts or placement.labels:
                raise problem("placement needs hosts: list the hosts first", "apps", app, "placement")
        return
    for app, placement in placements.items():
        for i, name in enumerate(placement.hosts):
            if name not in known:
                raise problem(f"no host named {name} in hosts", "apps", app, "placement", "hosts", i)
        if not placed(hosts, placement):
            raise problem(
                "picks no host: no host carries all these labels", "apps", app, "placement", "labels"
            )
    haproxy = load_balancer.haproxy if load_balancer else None
    if haproxy is not None:
        seen: dict[str, str] = {}
        for name in haproxy.servers:
            if name not in known:
                raise problem(f"no host named {name} in hosts", "load_balancer", "haproxy", "servers", name)
        for host in hosts:
            other = seen.setdefault(haproxy.server(host.name), host.name)
            if other != host.name:
                raise problem(
                    f"hosts {other} and {host.name} both map to server {haproxy.server(host.name)}",
                    "load_balancer",
                    "haproxy",
                    "servers",
                )


__all__ = [
    "FleetHost",
    "Placement",
    "Rollout",
    "check_fleet",
    "check_hosts",
    "placed",
]
