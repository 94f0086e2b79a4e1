"""Certificate files checked when the config loads: each problem a path-qualified error
(exit 2) that says what to do; the key never appears in anything printed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenroom.config.load import load_config
from greenroom.errors import ConfigError
from greenroom.proxy import render, tls_conf
from greenroom.tls.model import covers, uncovered
from tests.tls_certs import CertAuthority, new_key, write_pair

CA = CertAuthority.make()


def config(
    tmp: Path, tls: str, hosts: str = "[web.example.com]", ports: str = '["80:80", "443:443"]'
) -> Path:
    f = tmp / "greenroom.yml"
    f.write_text(
        f"proxy: {{ports: {ports}}}\n"
        f"apps:\n  web:\n    image: web:1\n    port: 8000\n    hosts: {hosts}\n    tls: {tls}\n"
    )
    return f


def problem(tmp: Path, tls: str, **kw: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(config(tmp, tls, **kw))
    assert info.value.exit_code == 2
    return str(info.value)


def files(tmp: Path, *names: str, mode: int = 0o600, **kw: object) -> str:
    chain, key = CA.leaf(*names, **kw)  # type: ignore[arg-type]
    write_pair(tmp, "site", chain, key, mode)
    return "{certificate: site.crt, key: site.key}"


def test_a_chain_with_a_wildcard_loads_and_covers_its_hosts(tmp_path: Path) -> None:
    tls = files(tmp_path, "*.example.com")
    cfg = load_config(config(tmp_path, tls, hosts="[web.example.com, api.example.com]"))
    material = cfg.app("web").tls_material("web")
    assert material is not None
    assert material.cert.names == ("*.example.com",)
    assert material.cert.issuer == "greenroom test intermediate"
    assert material.pem.count(b"BEGIN CERTIFICATE") == 2 and b"PRIVATE KEY" in material.pem
    assert b"PRIVATE" not in repr(material).encode() and "PRIVATE" not in material.meta_json()


def test_each_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    chain, _ = CA.leaf("web.example.com")
    write_pair(tmp_path, "site", chain, CA.leaf("web.example.com")[1])
    said = problem(tmp_path, "{certificate: site.crt, key: site.key}")
    assert "apps.web.tls.key" in said and "does not match" in said
    old = datetime.now(UTC) - timedelta(days=100)
    assert "expired on" in problem(tmp_path, files(tmp_path, "web.example.com", start=old, days=10))
    later = datetime.now(UTC) + timedelta(days=2)
    assert "not valid yet" in problem(tmp_path, files(tmp_path, "web.example.com", start=later))
    said = problem(tmp_path, files(tmp_path, "web.example.com", mode=0o644))
    assert "apps.web.tls.key" in said and "chmod 600" in said
    said = problem(tmp_path, files(tmp_path, "other.example.com"))
    assert "apps.web.tls.certificate" in said and "do not cover web.example.com" in said
    said = problem(tmp_path, files(tmp_path, "web.example.com"), ports='["80:80"]')
    assert "apps.web.tls" in said and '"443:443"' in said
    said = problem(tmp_path, "{certificate: nowhere.crt, key: site.key}")
    assert "apps.web.tls.certificate" in said and "cannot read" in said
    said = problem(tmp_path, "{acme: {email: ops@example.com}}", hosts='["*.example.com"]')
    assert "use certificate files for wildcard hosts" in said
    (tmp_path / "site.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    assert "apps.web.tls.certificate" in problem(tmp_path, "{certificate: site.crt, key: site.key}")


def test_acme_directory_shorthands(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "{acme: {email: ops@example.com, directory: staging}}"))
    assert cfg.app("web").tls is not None
    assert "staging" in cfg.app("web").tls.acme.directory  # type: ignore[union-attr]
    assert cfg.app("web").tls_material("web") is None


def test_wildcard_names_cover_one_label() -> None:
    assert covers("*.example.com", "a.example.com")
    assert not covers("*.example.com", "a.b.example.com")
    assert not covers("*.example.com", "example.com")
    assert uncovered(["example.com", "*.example.com"], ["example.com", "x.example.com", "y.other.com"]) == [
        "y.other.com"
    ]
    _ = new_key


def test_https_server_is_rendered_only_with_tls_listen() -> None:
    plain = render.render(render.ProxySettings())
    assert "ssl" not in plain and "tls.js" not in plain
    conf = render.render(render.ProxySettings(tls_listen=443))
    assert "listen 443 ssl default_server reuseport;" in conf
    assert "ssl_certificate data:$gr_tls;" in conf and "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert tls_conf.MOZILLA_INTERMEDIATE_CIPHERS in conf and "http2 on;" in conf
    assert conf.count("return 308") == 1  # only plain HTTP redirects
    assert conf.count("add_header Strict-Transport-Security") == 2  # both locations of the TLS server
    assert render.generation(render.ProxySettings()) != render.generation(
        render.ProxySettings(tls_listen=443)
    )
    with pytest.raises(ValueError, match="collides"):
        render.ProxySettings(tls_listen=80)
    # an unknown name's failed handshake is not logged; requests' errors are, in every location
    https_server = conf[conf.index("listen 443 ssl") : conf.index("listen 127.0.0.1")]
    assert "error_log stderr crit;" in https_server
    assert https_server.count("error_log stderr warn;") == https_server.count("        location ")
    assert 'map "" $gr_https_port { default "443"; }' in conf


def test_the_redirect_port_is_where_tls_listen_is_published(tmp_path: Path) -> None:
    from greenroom.proxy.model import proxy_spec

    def port(ports: str, extra: str = "") -> int:
        f = tmp_path / "greenroom.yml"
        f.write_text(f"proxy: {{ports: {ports}{extra}}}\napps:\n  web:\n    image: web:1\n    port: 8000\n")
        cfg = load_config(f)
        assert proxy_spec(cfg).settings.https_port == cfg.proxy.redirect_port()
        return cfg.proxy.redirect_port()

    assert port('["80:80", "443:443"]') == 443
    assert port('["28080:80", "28443:443"]') == 28443
    assert port('["127.0.0.1:8443:443", "443:443", "80:80"]') == 443
    assert port('["28080:80", "28443:443"]', ", https_port: 8443") == 8443  # a load balancer's


def test_a_deploy_installs_the_certificate_before_the_release_and_needs_443_published(
    tmp_path: Path,
) -> None:
    from greenroom.deploy.plan import Context, plan_deploy
    from greenroom.deploy.steps import InstallCertificate
    from greenroom.errors import DeployError
    from greenroom.proxy.model import proxy_spec
    from tests.unit.test_plan import host, proxy_container

    cfg = load_config(config(tmp_path, files(tmp_path, "web.example.com")))
    ctx = Context("d-new", "2026-11-26T13:00:00+00:00", "me@here")
    plan = plan_deploy(cfg, proxy_spec(cfg), host(cfg, home=False), "web", None, ctx, config_hash="h")
    steps = [type(s).__name__ for s in plan.steps]
    assert steps.index("InstallCertificate") == steps.index("ProxyJoin") + 1
    step = next(s for s in plan.steps if isinstance(s, InstallCertificate))
    assert "web.example.com" in step.describe() and "PRIVATE" not in repr(step)
    # a running proxy made when only 80 was published: refused, with what to do
    with pytest.raises(DeployError, match="does not publish port 443"):
        plan_deploy(
            cfg, proxy_spec(cfg), host(cfg, proxy=proxy_container()), "web", None, ctx, config_hash="h"
        )


def test_status_warns_under_14_days() -> None:
    from typing import cast

    from greenroom.proxy.pod import Proxy
    from greenroom.tls.renew import Site, status_rows

    class Installed:
        def tls_installed(self) -> dict[str, dict[str, object]]:
            meta = {"names": ["a.example.com"], "issuer": "CA", "source": "acme", "fingerprint": "f" * 64}
            return {
                "soon": {**meta, "not_after": "2026-01-10T00:00:00+00:00"},
                "later": {**meta, "not_after": "2026-03-01T00:00:00+00:00"},
            }

    rows = status_rows([Site("h1", cast(Proxy, Installed()))], datetime(2026, 1, 1, tzinfo=UTC))
    by_app = {r["app"]: r for r in rows}
    assert by_app["soon"]["warning"] == "expires in under 14 days" and by_app["soon"]["days_left"] == 9.0
    assert by_app["later"]["warning"] is None and by_app["later"]["host"] == "h1"


def test_acme_renew_before(tmp_path: Path) -> None:
    acme = "{acme: {email: ops@example.com%s}}"
    tls = load_config(config(tmp_path, acme % "")).apps["web"].tls
    assert tls is not None and tls.acme is not None and tls.acme.renew_days() == 30
    tls = load_config(config(tmp_path, acme % ", renew_before: 48h")).apps["web"].tls
    assert tls is not None and tls.acme is not None and tls.acme.renew_days() == 2
    with pytest.raises(ConfigError, match=r"apps\.web\.tls\.acme\.renew_before"):
        load_config(config(tmp_path, acme % ", renew_before: 10s"))
