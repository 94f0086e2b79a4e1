"""The fleet sections of greenroom.yml (hosts, placement, rollout, load_balancer), validated
through a root model shaped as Config will be once they are wired in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

import pytest
import yaml
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator

from greenroom.config.balancer import LoadBalancerConfig
from greenroom.config.fields import Model, section
from greenroom.config.fleet import FleetHost, Placement, Rollout, check_fleet, check_hosts, placed


class App(Model):
    placement: Annotated[Placement, BeforeValidator(section)] = Placement()


class Root(Model):
    hosts: Annotated[tuple[FleetHost, ...], AfterValidator(check_hosts)] = ()
    rollout: Annotated[Rollout, BeforeValidator(section)] = Rollout()
    load_balancer: LoadBalancerConfig | None = None
    apps: dict[str, App] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        check_fleet(self.hosts, self.load_balancer, {n: a.placement for n, a in self.apps.items()})
        return self


HOSTS = """
hosts:
  - {name: app-1, engine: "ssh://deploy@app-1", labels: {role: web, zone: a}}
  - {name: app-2, engine: "ssh://deploy@app-2:2222", labels: {role: web, zone: b}}
  - {name: worker-1, context: worker-1, labels: {role: worker}}
"""


def load(text: str, tmp_path: Path | None = None) -> Root:
    return Root.model_validate(yaml.safe_load(text), context={"base_dir": tmp_path or Path.cwd()})


def problems(text: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load(text)
    out = []
    for error in info.value.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if p != "[key]")
        if error["type"] == "greenroom":
            loc += tuple((error.get("ctx") or {}).get("at", ()))
        out.append(f"{'.'.join(map(str, loc))}: {error['msg'].removeprefix('Value error, ')}")
    return out


def problem(text: str) -> str:
    [only] = problems(text)
    return only


def test_hosts_in_order_with_defaults() -> None:
    root = load(HOSTS)
    assert [h.name for h in root.hosts] == ["app-1", "app-2", "worker-1"]
    assert root.hosts[0].engine == "ssh://deploy@app-1" and root.hosts[0].connect_timeout == 10
    assert root.hosts[2].context == "worker-1" and root.hosts[2].engine is None
    assert root.rollout == Rollout(strategy="rolling", max_parallel=1, pause=0, canary=False)
    assert root.load_balancer is None


def test_placement_by_labels_and_names_keeps_the_hosts_order() -> None:
    root = load(
        HOSTS + "apps:\n  web: {placement: {labels: {role: web}}}\n  all: {}\n"
        "  one: {placement: {hosts: worker-1}}\n"
    )
    names = {app: [h.name for h in placed(root.hosts, a.placement)] for app, a in root.apps.items()}
    assert names == {"web": ["app-1", "app-2"], "all": ["app-1", "app-2", "worker-1"], "one": ["worker-1"]}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  - {name: app-1, engine: 'ssh://x@y'}\n", "hosts.3.name: host app-1 is listed twice"),
        ("  - {name: dup, engine: 'ssh://deploy@app-1'}\n", "hosts.3.engine: the same engine as host app-1"),
        ("  - {name: x}\n", "hosts.3.engine: give the host either engine (an address) or context"),
        ("  - {name: x, engine: 'app-9'}\n", "hosts.3.engine: expected an engine address like"),
        ("  - {name: '-x', engine: 'ssh://a@b'}\n", "hosts.3.name: invalid host name '-x'"),
        (
            "  - {name: x, engine: 'ssh://a@b', tls: {verify: false}}\n",
            "hosts.3.tls: only a tcp:// engine takes tls",
        ),
        (
            "  - {name: x, engine: 'ssh://a@b', labels: {role: [a]}}\n",
            "hosts.3.labels.role: label values must be strings, numbers or true/false",
        ),
        (
            "  - {name: x, engine: 'ssh://a@b', connect_timeout: 0}\n",
            "hosts.3.connect_timeout: must be more than 0s",
        ),
    ],
)
def test_host_mistakes_are_path_qualified(extra: str, expected: str) -> None:
    assert problem(HOSTS + extra).startswith(expected)


def test_placement_mistakes_point_at_the_app() -> None:
    assert problem(HOSTS + "apps: {web: {placement: {hosts: [app-9]}}}") == (
        "apps.web.placement.hosts.0: no host named app-9 in hosts"
    )
    assert problem(HOSTS + "apps: {web: {placement: {labels: {role: db}}}}") == (
        "apps.web.placement.labels: picks no host: no host carries all these labels"
    )
    assert problem("apps: {web: {placement: {labels: {role: web}}}}") == (
        "apps.web.placement: placement needs hosts: list the hosts first"
    )


def test_rollout_max_parallel_as_count_or_percentage() -> None:
    assert load("rollout: {max_parallel: 2, pause: 5s, canary: true}").rollout.max_parallel == 2
    assert load("rollout: {max_parallel: '25 %'}").rollout.max_parallel == "25%"
    assert load("rollout: {max_parallel: '3'}").rollout.max_parallel == 3
    assert load("rollout: {strategy: together}").rollout.strategy == "together"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rollout: {max_parallel: 0}", "rollout.max_parallel: must be at least 1"),
        ("rollout: {max_parallel: 150%}", "rollout.max_parallel: invalid max_parallel '150%'"),
        ("rollout: {max_parallel: true}", "rollout.max_parallel: expected a count"),
        ("rollout: {pause: 2h}", "rollout.pause: must be at most 1h"),
        (
            "rollout: {strategy: together, max_parallel: 2}",
            "rollout.max_parallel: only used by strategy rolling",
        ),
        ("rollout: {strategy: together, canary: true}", "rollout.canary: only used by strategy rolling"),
        ("rollout: {strategy: blue}", "rollout.strategy: Input should be 'rolling' or 'together'"),
    ],
)
def test_rollout_mistakes(text: str, expected: str) -> None:
    assert problem(text).startswith(expected)


LB = HOSTS + "load_balancer:\n"


def test_haproxy_by_socket_over_ssh_with_a_server_map() -> None:
    root = load(
        LB + "  haproxy: {ssh: 'ops@lb-1:2222', socket: /run/haproxy/admin.sock, backend: web,\n"
        "            servers: {app-1: web1}, drain_timeout: 1m}\n"
    )
    assert root.load_balancer is not None
    h = root.load_balancer.haproxy
    assert h is not None and h.backend == ("web",) and h.drain_timeout == 60 and h.timeout == 5
    assert [h.server(x.name) for x in root.hosts] == ["web1", "app-2", "worker-1"]


def test_haproxy_by_tcp_address_and_several_backends() -> None:
    root = load(LB + "  haproxy: {address: '10.0.0.5:9999', backend: [http, https]}\n")
    assert root.load_balancer and root.load_balancer.haproxy
    assert root.load_balancer.haproxy.backend == ("http", "https")


def test_hooks() -> None:
    root = load(
        LB + "  hooks: {before_host: 'lbctl out $GREENROOM_HOST', after_host: [lbctl, in], timeout: 30s}\n"
    )
    assert root.load_balancer and root.load_balancer.hooks
    hooks = root.load_balancer.hooks
    assert hooks.before_host == "lbctl out $GREENROOM_HOST" and hooks.after_host == ("lbctl", "in")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("  haproxy: {backend: web}", "load_balancer.haproxy.socket: give either socket"),
        (
            "  haproxy: {socket: /s, address: 'h:1', backend: web}",
            "load_balancer.haproxy.socket: give either socket",
        ),
        (
            "  haproxy: {socket: run/s, backend: web}",
            "load_balancer.haproxy.socket: expected an absolute path",
        ),
        ("  haproxy: {socket: '/a b', backend: web}", "load_balancer.haproxy.socket: invalid socket path"),
        ("  haproxy: {address: 'lb-1', backend: web}", "load_balancer.haproxy.address: expected HOST:PORT"),
        (
            "  haproxy: {address: 'h:1', ssh: lb-1, backend: web}",
            "load_balancer.haproxy.ssh: ssh reaches a unix",
        ),
        (
            "  haproxy: {socket: /s, ssh: 'a:b:c', backend: web}",
            "load_balancer.haproxy.ssh: invalid ssh host",
        ),
        ("  haproxy: {socket: /s}", "load_balancer.haproxy.backend: Field required"),
        ("  haproxy: {socket: /s, backend: 'we b'}", "load_balancer.haproxy.backend.0: invalid HAProxy name"),
        (
            "  haproxy: {socket: /s, backend: [a, a]}",
            "load_balancer.haproxy.backend: a backend is listed twice",
        ),
        (
            "  haproxy: {socket: /s, backend: web, servers: {app-9: x}}",
            "load_balancer.haproxy.servers.app-9: no host named app-9 in hosts",
        ),
        (
            "  haproxy: {socket: /s, backend: web, servers: {app-1: app-2}}",
            "load_balancer.haproxy.servers: hosts app-1 and app-2 both map to server app-2",
        ),
        ("  hooks: {timeout: 5s}", "load_balancer.hooks.before_host: give before_host, after_host or both"),
        ("  hooks: {before_host: ''}", "load_balancer.hooks.before_host: is empty"),
        (
            "  hooks: {before_host: [a, [b]]}",
            "load_balancer.hooks.before_host.1: command words must be strings",
        ),
        ("  {}", "load_balancer.haproxy: give one of haproxy or hooks"),
        (
            "  {haproxy: {socket: /s, backend: w}, hooks: {before_host: x}}",
            "load_balancer.haproxy: give one of",
        ),
        ("  haproxy: {socket: /s, backend: web, drain: 1}", "load_balancer.haproxy.drain: Extra inputs"),
    ],
)
def test_load_balancer_mistakes(section: str, expected: str) -> None:
    assert problem(LB + section + "\n").startswith(expected)


def test_a_load_balancer_needs_hosts() -> None:
    assert problem("load_balancer: {hooks: {before_host: x}}") == (
        "load_balancer: a load balancer needs hosts: list the hosts behind it"
    )


def test_every_field_is_documented() -> None:
    models: list[Any] = [FleetHost, Placement, Rollout, LoadBalancerConfig]
    from greenroom.config.balancer import HaproxyConfig, HooksConfig

    for model in [*models, HaproxyConfig, HooksConfig]:
        assert model.__doc__
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"
