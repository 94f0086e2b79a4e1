"""Upstream pools: which ones the proxy's config declares, and how they are rendered."""

from __future__ import annotations

from ipaddress import IPv4Network

from greenroom.deploy import pools
from greenroom.engine.model import NetworkInfo
from greenroom.proxy import render


def front(name: str, subnet: str, port: str | None = None) -> NetworkInfo:
    labels = {pools.PORT_LABEL: port} if port else {}
    return NetworkInfo(name, name, "bridge", True, False, (IPv4Network(subnet),), labels)


def test_a_front_network_gets_a_pool_per_app_address_not_the_proxys() -> None:
    got = pools.of_front(IPv4Network("10.213.72.240/29"), (8000,))
    # .241 is Docker's gateway, .242 the proxy: four app addresses remain
    assert got == {f"10.213.72.{i}:8000" for i in (243, 244, 245, 246)}


def test_wanted_takes_routed_ports_else_the_networks_label_and_the_deployed_apps_port() -> None:
    a = front("gr-a-front", "10.213.1.0/29", port="8000")
    b = front("gr-b-front", "10.213.1.8/29", port="8000")  # routed on 9000 now: that wins
    c = front("gr-c-front", "10.213.1.16/29")  # an older greenroom's: no label, not routed
    mine = (IPv4Network("10.213.1.24/29"), 7000)
    got = set(pools.wanted([(a, ()), (b, {"9000"}), (c, ())], mine))
    expected = (
        pools.of_front(IPv4Network("10.213.1.0/29"), (8000,))
        | pools.of_front(IPv4Network("10.213.1.8/29"), (9000,))
        | pools.of_front(IPv4Network("10.213.1.24/29"), (7000,))
    )
    assert got == expected and len(got) == 12


def test_merged_keeps_what_another_greenroom_added_since_the_plan() -> None:
    planned = ("10.0.0.3:80",)
    seen = ("10.0.0.9:80",)  # the plan dropped it (its network is gone)
    live = ("10.0.0.9:80", "10.0.0.20:80")  # another greenroom added .20 meanwhile
    assert pools.merged(planned, seen, live) == ("10.0.0.20:80", "10.0.0.3:80")


def test_render_declares_each_pool_with_keepalive_and_maps_its_address() -> None:
    conf = render.render(render.ProxySettings(), ("10.1.2.3:8000",), admin_port=8098)
    assert "upstream gr_10_1_2_3_8000 {" in conf
    assert "server 10.1.2.3:8000 max_fails=0;" in conf and "keepalive 64;" in conf
    assert "keepalive_timeout 1000ms;" in conf
    assert '"10.1.2.3:8000" gr_10_1_2_3_8000;' in conf and "default $gr_target;" in conf
    assert "proxy_pass http://$gr_upstream;" in conf
    assert "listen 80 default_server reuseport;" in conf
    assert "listen 127.0.0.1:8098;" in conf


def test_hundreds_of_apps_render_within_nginxs_token_limit() -> None:
    many = tuple(sorted(f"10.213.{i // 64}.{i % 64 + 3}:8000" for i in range(1200)))
    files = render.files(render.ProxySettings(), many)
    conf = files["nginx.conf"].decode()
    assert max(len(line) for line in conf.splitlines()) < 4096  # nginx refuses longer tokens
    assert files["pools.txt"].decode().split() == list(many)
    assert conf.count("upstream gr_") == len(many)


def test_generation_follows_the_pools_not_the_admin_port() -> None:
    s = render.ProxySettings()
    assert render.generation(s, ("10.0.0.3:80",)) != render.generation(s, ())
    one = render.render(s, ("10.0.0.3:80",), admin_port=8099)
    two = render.render(s, ("10.0.0.3:80",), admin_port=8098)
    gen = render.generation(s, ("10.0.0.3:80",))
    assert f'default "{gen}"' in one and f'default "{gen}"' in two
