"""greenroom.yml as a whole (engine, proxy, apps; the cross-app rules), and its views:
masked for output, the secret values, the hash of an app's container config."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from greenroom.config.app import AppConfig
from greenroom.config.balancer import LoadBalancerConfig
from greenroom.config.engine import EngineConfig
from greenroom.config.fields import Model, problem, section
from greenroom.config.fleet import FleetHost, Rollout, check_fleet, check_hosts
from greenroom.config.names import AppName
from greenroom.config.proxy import ProxyConfig
from greenroom.errors import ConfigError
from greenroom.secrets import MASK


def _some_apps(apps: dict[str, AppConfig]) -> dict[str, AppConfig]:
    if not apps:
        raise ValueError("needs at least one app")
    return apps


class Config(Model):
    """greenroom.yml: the engine, the proxy, and the apps behind it."""

    version: Literal[1] = Field(default=1, description="Version of this file's format; only 1 exists.")
    engine: Annotated[EngineConfig, BeforeValidator(section)] = Field(
        default=EngineConfig(), description="The Docker engine to deploy to."
    )
    proxy: Annotated[ProxyConfig, BeforeValidator(section)] = Field(
        default=ProxyConfig(), description="The nginx proxy and greenroom's networks."
    )
    hosts: Annotated[tuple[FleetHost, ...], AfterValidator(check_hosts)] = Field(
        default=(), description="The Docker hosts, in rollout order."
    )
    rollout: Annotated[Rollout, BeforeValidator(section)] = Field(
        default=Rollout(), description="How a deploy goes over the hosts."
    )
    load_balancer: LoadBalancerConfig | None = Field(
        default=None, description="The load balancer in front of the hosts."
    )
    apps: Annotated[dict[AppName, AppConfig], AfterValidator(_some_apps)] = Field(
        description="The apps, by name: 1-31 lowercase letters, digits and -, starting with a letter."
    )

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        check_fleet(self.hosts, self.load_balancer, {n: a.placement for n, a in self.apps.items()})
        for name, app in self.apps.items():
            if app.tls is not None and not self.proxy.https():
                raise problem(
                    f"the proxy publishes no container port {self.proxy.tls_listen} for HTTPS: add "
                    f'"{self.proxy.tls_listen}:{self.proxy.tls_listen}" to proxy.ports',
                    "apps",
                    name,
                    "tls",
                )
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
    # where it runs, and what runs before it, are not what it is
    data = app.model_dump(mode="json", exclude={"placement", "release", "overlap"})
    data["secrets"] = {
        k: hashlib.sha256(v.get_secret_value().encode()).hexdigest() for k, v in app.secrets.items()
    }
    data["env"] = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in app.env().items()}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
