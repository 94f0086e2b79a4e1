"""greenroom.js's routing, run under node with a fake ngx (the shared dict) and fs: the
same function nginx calls per request."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from greenroom.proxy.render import asset

NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# The fake of what nginx gives the modules, for every harness: the shared dicts (greenroom,
# and greenroom_stats of numbers) and an fs with no state files
FAKE_NGX = """
function fakeDict() {
    const store = new Map();
    return {
        get: (k) => store.get(k), set: (k, v) => { store.set(k, v); }, delete: (k) => { store.delete(k); },
        add: (k, v) => { if (store.has(k)) { return false; } store.set(k, v); return true; },
        keys: () => Array.from(store.keys()),
        incr: (k, d, init) => {
            const v = (store.has(k) ? store.get(k) : init) + d; store.set(k, v); return v;
        },
    };
}
const ngx = {ERR: 0, log: function () {}, shared: {greenroom: fakeDict(), greenroom_stats: fakeDict()}};
const fs = {readdirSync: () => { throw new Error('none'); }};
"""

HARNESS = (
    FAKE_NGX
    + """
const require = () => fs;
%MODULE%
const mod = {target, admin};
const st = {app: 'shop', targets: ['10.0.0.2:8000'], hosts: ['shop.example.com', 'shop.greenroom.internal']};
put(st);
const out = [];
for (const [host, remote] of JSON.parse(process.argv[process.argv.length - 1])) {
    out.push(mod.target({headersIn: {host: host}, remoteAddress: remote, variables: {}}));
}
console.log(JSON.stringify(out));
"""
)


def route(*requests: tuple[str, str]) -> list[str]:
    """What greenroom.js answers for each (Host header, remote address)."""
    module = asset("greenroom.js").decode().replace("export default { target, admin, count };", "")
    module = module.replace("const fs = require('fs');", "")
    assert NODE is not None
    script = HARNESS.replace("%MODULE%", module)
    res = subprocess.run(
        [NODE, "-e", script, json.dumps(requests)], capture_output=True, text=True, timeout=30, check=False
    )
    assert res.returncode == 0, res.stderr
    answer: list[str] = json.loads(res.stdout)
    return answer


def test_public_hosts_route_from_anywhere() -> None:
    assert route(("shop.example.com", "203.0.113.9"), ("SHOP.example.com:80", "127.0.0.1")) == [
        "10.0.0.2:8000",
        "10.0.0.2:8000",
    ]


def test_internal_names_route_only_from_inside_the_proxy() -> None:
    assert route(
        ("shop.greenroom.internal", "127.0.0.1"),
        ("shop.greenroom.internal", "10.77.0.1"),
        ("Shop.Greenroom.Internal:80", "10.77.0.1"),
        ("shop.greenroom.internal", "::1"),
        ("greenroom.internal", "10.77.0.1"),
        ("nobody.example.com", "10.77.0.1"),
    ) == ["10.0.0.2:8000", "none", "none", "none", "none", "none"]


def test_the_harness_runs_the_shipped_module() -> None:
    text = Path(__file__).parents[2].joinpath("src/greenroom/proxy/greenroom.js").read_text()
    assert "export default { target, admin, count };" in text
    assert "const fs = require('fs');" in text


FRESH_VM = (
    FAKE_NGX
    + """
const vm = require('vm');
const code = %MODULE% + '\\n;globalThis.out = (typeof put === "function" && globalThis.st) ? put(st) : '
    + 'target({headersIn: {host: "shop.example.com"}, remoteAddress: "203.0.113.9", variables: {}});';
const st = {app: 'shop', hosts: ['shop.example.com'],
    targets: ['10.0.0.2:8000', '10.0.0.3:8000', '10.0.0.4:8000']};
vm.runInNewContext(code, {ngx, require: () => fs, st, Math});
const seen = [];
for (let i = 0; i < 300; i++) {
    const ctx = {ngx, require: () => fs, Math};
    vm.runInNewContext(code, ctx);
    seen.push(ctx.out);
}
console.log(JSON.stringify(seen));
"""
)


def test_replicas_share_the_requests_though_each_request_has_a_fresh_vm() -> None:
    """njs runs every request in a copy of the module's initial VM: nothing a request
    changes in the module's variables reaches the next. Each request here runs the module
    anew (as in nginx), over one shared dict, and every replica gets a fair share."""
    module = asset("greenroom.js").decode().replace("export default { target, admin, count };", "")
    assert NODE is not None
    script = FRESH_VM.replace("%MODULE%", json.dumps(module))
    res = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    seen: list[str] = json.loads(res.stdout)
    counts = {t: seen.count(t) for t in set(seen)}
    assert set(counts) == {"10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"}, counts
    assert min(counts.values()) > 50, counts  # 100 each expected of 300
