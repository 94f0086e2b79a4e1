"""tls.js under node with a fake ngx (the shared dict): which certificate a handshake gets
by SNI, who is redirected to https, which ACME tokens are answered."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from greenroom.proxy.render import asset
from tests.unit.test_njs_router import FAKE_NGX, NODE

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

HARNESS = (
    FAKE_NGX
    + """
const store = ngx.shared.greenroom;
store.set('tls-loaded', '1');
%MODULE%
put('shop', {hosts: ['shop.example.com'], hsts: 0, redirect: true}, 'SHOP-PEM');
put('wild', {hosts: ['*.apps.example.com'], hsts: 300, redirect: true}, 'WILD-PEM');
put('both', {hosts: ['both.example.com'], redirect: false}, 'BOTH-PEM');
store.set('a:tok-1', 'tok-1.thumb');
const out = [];
for (const [fn, r] of JSON.parse(process.argv[process.argv.length - 1])) {
    r.headersIn = r.headersIn || {};
    r.variables = r.variables || {};
    out.push({cert, redirect, challenge}[fn](r));
}
out.push(store.get('x:wild') || '', store.get('x:shop') || '');
console.log(JSON.stringify(out));
"""
)


def run(*calls: tuple[str, dict[str, Any]]) -> list[str]:
    module = asset("tls.js").decode().replace("export default { cert, redirect, challenge, admin };", "")
    module = module.replace("const fs = require('fs');", "")
    assert NODE is not None
    script = HARNESS.replace("%MODULE%", module)
    res = subprocess.run(
        [NODE, "-e", script, json.dumps(calls)], capture_output=True, text=True, timeout=30, check=False
    )
    assert res.returncode == 0, res.stderr
    answer: list[str] = json.loads(res.stdout)
    return answer


def sni(name: str) -> tuple[str, dict[str, Any]]:
    return ("cert", {"variables": {"ssl_server_name": name}})


def plain(host: str, uri: str = "/", **variables: str) -> tuple[str, dict[str, Any]]:
    r = {"headersIn": {"host": host}, "uri": uri, "remoteAddress": "203.0.113.9"}
    v = {"host": host.split(":")[0].lower(), "request_uri": uri + "?q=1", **variables}
    return ("redirect", {**r, "variables": v})


def test_sni_picks_the_app_certificate_and_unknown_names_get_none() -> None:
    got = run(
        sni("shop.example.com"), sni("SHOP.example.com"), sni("x.apps.example.com"), sni("other.com"), sni("")
    )
    assert got[:5] == ["SHOP-PEM", "SHOP-PEM", "WILD-PEM", "", ""]
    assert got[5:] == ["max-age=300", ""]  # HSTS kept per app for gr.target


def test_plain_http_redirects_except_the_challenge_trusted_https_and_the_probe() -> None:
    probe = plain("shop.example.com")
    probe[1]["remoteAddress"] = "127.0.0.1"
    probe[1]["headersIn"]["X-Greenroom-Probe"] = "1"
    got = run(
        plain("shop.example.com:80", "/a/b"),
        plain("x.apps.example.com", "/"),
        plain("shop.example.com", "/.well-known/acme-challenge/tok-1"),
        plain("shop.example.com", "/", gr_forwarded_proto="https"),
        plain("both.example.com"),
        plain("nobody.example.com"),
        probe,
    )
    assert got[:7] == [
        "https://shop.example.com/a/b?q=1",
        "https://x.apps.example.com/?q=1",
        "",
        "",
        "",
        "",
        "",
    ]


def test_the_redirect_carries_the_https_port_unless_443() -> None:
    got = run(
        plain("shop.example.com:28080", "/a", gr_https_port="28443"),
        plain("shop.example.com", "/a", gr_https_port="443"),
    )
    assert got[:2] == ["https://shop.example.com:28443/a?q=1", "https://shop.example.com/a?q=1"]


def test_only_pushed_tokens_are_answered() -> None:
    prefix = "/.well-known/acme-challenge/"
    got = run(*[("challenge", {"uri": prefix + t}) for t in ("tok-1", "tok-2", "../x", "")])
    assert got[:4] == ["tok-1.thumb", "", "", ""]
