"""X-Forwarded-Proto and X-Forwarded-For: trusted only from proxy.trusted_proxies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from greenroom.config import load_config
from greenroom.errors import ConfigError
from greenroom.proxy.model import proxy_spec
from greenroom.proxy.render import ProxySettings, generation, render

APP = "apps:\n  web: {image: web:1, port: 80}\n"


def load(tmp_path: Path, proxy: str) -> ProxySettings:
    path = tmp_path / "greenroom.yml"
    path.write_text(f"proxy:\n{proxy}{APP}")
    return proxy_spec(load_config(path, environ={})).settings


def error(tmp_path: Path, proxy: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, proxy)
    return info.value.message


def block(conf: str, head: str) -> str:
    match = re.search(re.escape(head) + r" \{\n(.*?)\n    \}", conf, re.S)
    assert match, head
    return match[1]


def test_the_apps_get_headers_no_client_can_forge() -> None:
    conf = render(ProxySettings())
    proxied = re.findall(r"proxy_set_header X-Forwarded-(\w+) (\S+);", conf)
    # both locations (serving and retiring) send the mapped values, never the raw ones
    assert proxied == [("For", "$gr_forwarded_for"), ("Proto", "$gr_forwarded_proto")] * 2
    assert "$proxy_add_x_forwarded_for;" not in conf.split("map $gr_trusted")[0]
    assert block(conf, "geo $remote_addr $gr_trusted").split() == ["default", "0;"]
    proto = block(conf, 'map "$gr_trusted|$http_x_forwarded_proto" $gr_forwarded_proto')
    assert proto.split() == ["default", "$scheme;", '"1|http"', "http;", '"1|https"', "https;"]
    forwarded_for = block(conf, "map $gr_trusted $gr_forwarded_for")
    assert forwarded_for.split() == ["default", "$remote_addr;", "1", "$proxy_add_x_forwarded_for;"]


def test_trusted_proxies_go_into_the_geo_block(tmp_path: Path) -> None:
    settings = load(tmp_path, '  trusted_proxies: [10.0.0.0/8, "2001:DB8::/32", 192.0.2.7]\n')
    assert settings.trusted_proxies == ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32")
    geo = block(render(settings), "geo $remote_addr $gr_trusted")
    assert geo.split() == ["default", "0;", "10.0.0.0/8", "1;", "2001:db8::/32", "1;", "192.0.2.7/32", "1;"]
    assert generation(settings) != generation(ProxySettings())  # a change reaches the proxy
    assert load(tmp_path, "").trusted_proxies == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[10.1.2.3/8]", "proxy.trusted_proxies.0: 10.1.2.3/8 has host bits set: did you mean 10.0.0.0/8?"),
        ("[0.0.0.0/0]", "proxy.trusted_proxies.0: 0.0.0.0/0 would trust every address"),
        ('["::/0"]', "proxy.trusted_proxies.0: ::/0 would trust every address"),
        ('["10.0.0.0/8; }"]', "proxy.trusted_proxies.0: '10.0.0.0/8; }' is not an IP network"),
        ("[10.0.0.0/33]", "proxy.trusted_proxies.0: '10.0.0.0/33' is not an IP network"),
        ("[8]", "proxy.trusted_proxies.0: expected an IP network"),
        ("10.0.0.0/8", "proxy.trusted_proxies: "),
        ("[192.0.2.7, 192.0.2.7/32]", "proxy.trusted_proxies.1: network 192.0.2.7/32 is listed twice"),
    ],
)
def test_trusted_proxies_are_validated(tmp_path: Path, value: str, expected: str) -> None:
    assert error(tmp_path, f"  trusted_proxies: {value}\n").startswith(expected)


def test_render_refuses_anything_but_a_network() -> None:
    for bad in ("10.0.0.0/8; } server {", "10.1.2.3/8", "any"):
        with pytest.raises(ValueError, match="not a network"):
            ProxySettings(trusted_proxies=(bad,))
