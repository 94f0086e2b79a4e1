"""greenroom.js with a staged color, under node with a fake ngx: preview by header, cookie
and host; the sticky weighted split (same bucket for the same client, monotone in the
weight); the counters a canary is judged on."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from greenroom.deploy.canary import parse_stats
from greenroom.proxy.model import Routed, Staged
from greenroom.proxy.render import asset
from tests.unit.test_njs_router import FAKE_NGX, NODE

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

HARNESS = (
    FAKE_NGX
    + """
const require = () => fs;
%MODULE%
const input = JSON.parse(process.argv[process.argv.length - 1]);
input.states.forEach(function (st) { put(st); });
const out = [];
for (const q of input.requests) {
    if (q.state) { put(q.state); continue; }
    const v = {status: String(q.status || 200), request_time: String(q.time || 0.001),
               upstream_header_time: q.uerr ? '-' : '0.001'};
    const r = {headersIn: Object.assign({host: q.host || 'shop.example.com'}, q.headers || {}),
               remoteAddress: q.remote || '203.0.113.9', variables: v};
    const t = target(r);
    count(r);
    out.push([t, v.gr_cookie || '']);
}
const counted = {};
ngx.shared.greenroom_stats.keys().forEach(function (k) {
    if (k.startsWith("shop|")) { counted[k.slice(5)] = ngx.shared.greenroom_stats.get(k); }
});
console.log(JSON.stringify({out: out, stats: counted}));
"""
)

LIVE = "10.0.0.2:8000"
NEW = "10.0.0.3:8000"


def state(weight: float | None, **kw: Any) -> dict[str, Any]:
    staged = None
    if weight is not None:
        staged = Staged(
            "d2", "green", "v2", (NEW,), weight, "X-Preview", "preview", ("next.example.com",), **kw
        )
    routed = Routed("shop", (LIVE,), ("shop.example.com",), color="blue", deploy="d1", staged=staged)
    doc: dict[str, Any] = json.loads(routed.to_json())
    return doc


def run(
    states: list[dict[str, Any]], requests: list[dict[str, Any]]
) -> tuple[list[list[str]], dict[str, int]]:
    module = asset("greenroom.js").decode().replace("export default { target, admin, count };", "")
    module = module.replace("const fs = require('fs');", "")
    assert NODE is not None
    script = HARNESS.replace("%MODULE%", module)
    arg = json.dumps({"states": states, "requests": requests})
    res = subprocess.run([NODE, "-e", script, arg], capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    return doc["out"], doc["stats"]


def targets(out: list[list[str]]) -> list[str]:
    return [t for t, _ in out]


def test_preview_only_with_the_header_the_cookie_or_the_preview_host() -> None:
    out, _ = run(
        [state(0)],
        [
            {},
            {"headers": {"x-preview": "1"}},
            {"headers": {"cookie": "a=b; preview=1"}},
            {"headers": {"cookie": "previewx=1"}},
            {"host": "next.example.com"},
            {"remote": "198.51.100.7"},
        ],
    )
    assert targets(out) == [LIVE, NEW, NEW, LIVE, NEW, LIVE]
    assert all(cookie == "" for _, cookie in out)  # weight 0: no canary cookie is set


def test_unstaging_removes_the_preview_host() -> None:
    out, _ = run([state(0), state(None)], [{"host": "next.example.com"}, {"headers": {"x-preview": "1"}}])
    assert targets(out) == ["none", LIVE]


def test_weighted_split_is_sticky_and_monotone() -> None:
    clients = [{"remote": f"10.9.{i // 256}.{i % 256}"} for i in range(2000)]
    at = {}
    for w in (10.0, 50.0, 90.0):
        out, _ = run([state(w)], clients + clients)
        first, again = targets(out[:2000]), targets(out[2000:])
        assert first == again  # the same client, the same color
        at[w] = {i for i, t in enumerate(first) if t == NEW}
        assert abs(len(at[w]) / 2000 - w / 100) < 0.05
    assert at[10.0] <= at[50.0] <= at[90.0]  # a client on the new color stays there as the weight rises


def test_the_proxy_cookie_keeps_the_bucket_and_a_sticky_header_wins() -> None:
    out, _ = run([state(50.0)], [{"remote": "10.1.1.1"}])
    cookie = out[0][1]
    assert cookie.startswith("greenroom_canary=") and "Path=/" in cookie
    bucket = cookie.split(";")[0].split("=")[1]
    # the bucket in the cookie decides, whatever the address
    again, _ = run(
        [state(50.0)],
        [{"remote": f"10.2.2.{i}", "headers": {"cookie": f"greenroom_canary={bucket}"}} for i in range(50)],
    )
    assert set(targets(again)) == {out[0][0]} and all(c == "" for _, c in again)
    low, _ = run(
        [state(50.0)],
        [{"headers": {"cookie": "greenroom_canary=10"}}, {"headers": {"cookie": "greenroom_canary=9999"}}],
    )
    assert targets(low) == [NEW, LIVE]
    users = [{"remote": f"10.3.3.{i}", "headers": {"x-user": "alice"}} for i in range(20)]
    sticky, _ = run([state(50.0, sticky="X-User")], users)
    assert len(set(targets(sticky))) == 1


def test_counters_per_color() -> None:
    reqs: list[dict[str, Any]] = [
        {"headers": {"x-preview": "1"}, "status": 500, "time": 0.2},
        {"headers": {"x-preview": "1"}, "status": 502, "uerr": True, "time": 0.004},
        {"headers": {"x-preview": "1"}, "time": 0.02},
        {"time": 0.001},
    ]
    _, stats = run([state(0)], reqs)
    counts = parse_stats(stats)
    assert (
        counts["green"].requests == 3 and counts["green"].errors == 2 and counts["green"].upstream_errors == 1
    )
    assert counts["blue"].requests == 1 and counts["blue"].errors == 0
    assert counts["green"].p99 == 0.2 and counts["blue"].p99 == 0.005


def test_a_new_staged_deploy_starts_its_counters_afresh_and_unstaged_apps_are_not_counted() -> None:
    other = state(0)
    other["staged"]["deploy"] = "d3"
    _, stats = run([state(0)], [{}, {"state": other}, {}, {"state": state(None)}, {}])
    assert parse_stats(stats)["blue"].requests == 1


def test_the_https_server_counts_as_the_plain_one() -> None:
    """Both public servers are one template (render._server): each counts a staged app's
    requests at its log phase and routes through gr.target, which sets the app and color."""
    from greenroom.proxy import render

    conf = render.render(render.ProxySettings(tls_listen=443))
    servers = conf.split("    server {")[1:]
    public = [s for s in servers if "listen 80 " in s or "listen 443 ssl" in s]
    assert len(public) == 2
    for server in public:
        assert "access_log /dev/null gr_count if=$gr_counted;" in server
        assert "$gr_target" in server
