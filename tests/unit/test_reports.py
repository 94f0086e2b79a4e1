"""The read-only commands' typed results keep the JSON shape they had as dicts."""

from __future__ import annotations

import json

from greenroom.cli.render import to_jsonable
from greenroom.deploy.reports import HistoryEntry, NginxInstance, ProxyStatus, RoutedApp

RECORDED = {  # as a deploy records it in the proxy (service._record)
    "action": "deploy",
    "deploy": "250101120000ab12",
    "ok": False,
    "started": "2025-01-01T12:00:00+00:00",
    "duration": 1.234,
    "by": "deploy@ci-1",
    "error": "not healthy within 3s",
    "steps": [["PullImage", 0.01, "ok"], ["HealthGate", 3.0, "failed"]],
}


def test_a_history_entry_reads_back_as_recorded() -> None:
    entry = HistoryEntry.from_json(json.loads(json.dumps(RECORDED)))
    assert entry.steps[1] == ("HealthGate", 3.0, "failed")
    assert json.dumps(to_jsonable(entry)) == json.dumps(RECORDED)


def test_an_older_entry_reads_with_empty_fields() -> None:
    entry = HistoryEntry.from_json({"action": "maintenance", "ok": True})
    assert (entry.deploy, entry.started, entry.duration, entry.by, entry.steps) == (None, "", 0.0, "", ())


def test_proxy_status_json_keys() -> None:
    status = ProxyStatus(
        name="greenroom-proxy",
        image="nginx:1.29.3-bookworm",
        exists=True,
        running=True,
        generation="g1",
        expected_generation="g1",
        pools=2,
        layout="pod",
        nginx=(NginxInstance("greenroom-proxy-nginx-1", True, 8099),),
        published=("0.0.0.0:80->80/tcp",),
        networks=("greenroom-proxy",),
        routed={"web": RoutedApp("d1", ("10.213.0.66:8000",), False, ("web.test",))},
        gateway="greenroom-proxy",
    )
    doc = to_jsonable(status)
    assert list(doc) == [
        "name", "image", "exists", "running", "generation", "expected_generation", "pools", "layout",
        "nginx", "published", "networks", "routed", "gateway", "problems",
    ]  # fmt: skip
    assert doc["nginx"] == [{"name": "greenroom-proxy-nginx-1", "running": True, "admin_port": 8099}]
    assert doc["routed"] == {
        "web": {"deploy": "d1", "targets": ["10.213.0.66:8000"], "maintenance": False, "hosts": ["web.test"]}
    }
    assert doc["problems"] == []
