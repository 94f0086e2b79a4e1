"""greenroom.yml's `proxy:` section: the nginx proxy and the networks greenroom creates."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from greenroom.config import rules
from greenroom.config.fields import Int, Kind, Model, problem, unique
from greenroom.config.names import ContainerName, Image, NetworkName, Pool, TrustedNetwork
from greenroom.ports import PortMapping, parse_port_mapping
from greenroom.proxy.render import ADMIN_PORTS


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


class ProxyConfig(Model):
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
        'see "Proxy images" in docs/deploy.md.',
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
    tls_listen: Annotated[Int, AfterValidator(rules.listen_port)] = Field(
        default=443,
        ge=1,
        le=65535,
        description="Port nginx listens on for HTTPS inside the proxy, when apps have tls: one of the "
        'CONTAINER_PORTs of ports (e.g. ports ["80:80", "443:443"]).',
    )
    https_port: Int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port clients reach HTTPS on, put in the 308 redirects from plain HTTP (left out "
        "when 443). null: the host port that ports publishes tls_listen on (443 if one of them is); "
        "set it when a load balancer or NAT in front listens on another port.",
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
    trusted_proxies: Annotated[tuple[TrustedNetwork, ...], unique("network")] = Field(
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
        if self.tls_listen == self.listen:
            raise problem(f"must differ from listen ({self.listen})", "tls_listen")
        if self.back_prefix < self.subnet_pool.prefixlen:
            message = f"a /{self.back_prefix} does not fit in subnet_pool {self.subnet_pool}"
            raise problem(message, "back_prefix")
        return self

    def https(self) -> bool:
        """Whether the proxy publishes its HTTPS port."""
        return self.tls_listen in {p.container_port for p in self.published_ports()}

    def redirect_port(self) -> int:
        """The HTTPS port in the redirects: https_port, else where tls_listen is published."""
        if self.https_port is not None:
            return self.https_port
        hosts = [p.host_port for p in self.published_ports() if p.container_port == self.tls_listen]
        return 443 if not hosts or 443 in hosts else hosts[0]

    def published_ports(self) -> tuple[PortMapping, ...]:
        return tuple(map(parse_port_mapping, self.ports))
