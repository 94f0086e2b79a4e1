"""Rollouts over 1, 2 and 3 hosts: wall time per strategy, and the old/new overlap window.

    .venv/bin/python bench/rollout.py [--runs 3] [--out bench/results]

(`scripts/bench-rollout` sets everything up first.) The hosts are the test bed's e28 and
e20 (unix sockets) and e3 (TLS), in that order; the demo app; greenroom's CLI as a user
runs it (`greenroom deploy --json`), alternating v1 and v2; no load balancer, so the
numbers are the rollout's own (a load balancer's drain adds its wait per host).

For each host alone, the one-host deploy; then over N hosts: rolling with max_parallel 1
and 2, and together. The goal: ceil(N / max_parallel) batches, each as long as the
one-host deploy of its slowest host, plus at most 10% (the hosts differ: e3 is remote, so
its probes, route reads and drain go through helper containers). Together is one batch.
The overlap window is how long some hosts answered with the new version while others
still answered with the old (first switch sent to last switch answered).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROXY = "bench-rollout-proxy"
PORT = 19301
APP = "benchroll"


def hosts(desc: dict[str, Any]) -> list[dict[str, Any]]:
    local = [{"name": e["name"], "engine": e["host"]} for e in desc["engines"]]
    r = desc["remote"]
    tls = r["tls"]
    return [
        *local,
        {"name": r["name"], "engine": r["tcp"], "tls": {k: tls[k] for k in ("ca", "cert", "key")}},
    ]


def config(
    desc: dict[str, Any], chosen: list[dict[str, Any]], rollout: dict[str, Any], image: str
) -> dict[str, Any]:
    images = desc["images"]
    return {
        "engine": {"helper_image": images["busybox"]},
        "proxy": {"name": PROXY, "image": images["base"], "network": PROXY, "ports": [f"{PORT}:80"]},
        "hosts": chosen,
        "rollout": rollout,
        "apps": {
            APP: {
                "image": image,
                "port": 8000,
                "hosts": [f"{APP}.test"],
                "healthcheck": {"type": "http", "path": "/health", "interval": "100ms", "passes": 2},
                "drain_timeout": "10s",
            }
        },
    }


def deploy(folder: Path, doc: dict[str, Any]) -> dict[str, Any]:
    path = folder / "greenroom.yml"
    path.write_text(yaml.safe_dump(doc))
    res = subprocess.run(
        [sys.executable, "-m", "greenroom", "deploy", "--json", "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        raise RuntimeError(f"deploy failed: {res.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(res.stdout)["rollouts"][0]
    return report


def cleanup(desc: dict[str, Any]) -> None:
    for e in [*desc["engines"], desc["remote"]]:
        sock = e["host"]
        ids: list[str] = []
        for label in (f"greenroom.app={APP}", f"greenroom.proxy={PROXY}"):
            ids += subprocess.run(
                ["docker", "-H", sock, "ps", "-aq", "--filter", f"label={label}"],
                capture_output=True,
                text=True,
            ).stdout.split()
        for name in (PROXY, f"greenroom-lock-{APP}"):
            ids.append(name)
        subprocess.run(["docker", "-H", sock, "rm", "-f", *ids], capture_output=True)
        subprocess.run(["docker", "-H", sock, "volume", "rm", "-f", f"{PROXY}-state"], capture_output=True)
        for net in (f"gr-{APP}-front", f"gr-{APP}-back", PROXY):
            subprocess.run(["docker", "-H", sock, "network", "rm", net], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="deploys per row")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    desc = json.loads(Path("/run/greenroom-testbed.json").read_text())
    tag = desc["images"]["app"].rsplit(":", 1)[1]
    images = [f"greenroom-test/app:{v}-{tag}" for v in ("v1", "v2")]
    every = hosts(desc)
    rows: list[dict[str, Any]] = []
    cleanup(desc)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            # everything deployed once (proxies, networks): the rows measure redeploys
            deploy(folder, config(desc, every, {"strategy": "together"}, images[0]))
            single: dict[str, float] = {}
            for h in every:
                walls = []
                for i in range(args.runs):
                    report = deploy(folder, config(desc, [h], {"strategy": "rolling"}, images[(i + 1) % 2]))
                    walls.append(report["wall_seconds"])
                single[h["name"]] = statistics.median(walls)
                print(f"one host {h['name']}: {single[h['name']]:.2f}s", flush=True)
            one = statistics.median(single.values())
            for n in (1, 2, 3):
                chosen = every[:n]
                for label, rollout in (
                    ("rolling, max_parallel 1", {"strategy": "rolling", "max_parallel": 1}),
                    ("rolling, max_parallel 2", {"strategy": "rolling", "max_parallel": 2}),
                    ("together", {"strategy": "together"}),
                ):
                    if n == 1 and label != "rolling, max_parallel 1":
                        continue
                    walls, overlaps = [], []
                    for i in range(args.runs):
                        report = deploy(folder, config(desc, chosen, rollout, images[i % 2]))
                        walls.append(report["wall_seconds"])
                        if report["overlap_seconds"] is not None:
                            overlaps.append(report["overlap_seconds"])
                    names = [h["name"] for h in chosen]
                    size = n if rollout["strategy"] == "together" else int(str(rollout["max_parallel"]))
                    batches = [names[i : i + size] for i in range(0, n, size)]
                    # hosts differ (e3 is remote: its probes and drains go through helper
                    # containers): each batch takes as long as its slowest host alone
                    goal = sum(max(single[h] for h in batch) for batch in batches) * 1.1
                    wall = statistics.median(walls)
                    row = {
                        "hosts": n,
                        "rollout": label,
                        "wall_s": round(wall, 2),
                        "goal_s": round(goal, 2),
                        "met": wall <= goal,
                        "overlap_ms": round(statistics.median(overlaps) * 1000) if overlaps else None,
                    }
                    rows.append(row)
                    print(row, flush=True)
        finally:
            cleanup(desc)
    lines = [
        f"Rollouts of the demo app, greenroom's CLI, {args.runs} deploys per row (median); hosts in order "
        f"{', '.join(h['name'] for h in every)} (e3 over TLS); no load balancer. One-host deploy: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in single.items())
        + f" (median {one:.2f}s).",
        "",
        "| hosts | rollout | wall | goal: each batch's slowest one-host deploy, +10% | | overlap (old/new) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        overlap = "-" if r["overlap_ms"] is None else f"{r['overlap_ms']} ms"
        lines.append(
            f"| {r['hosts']} | {r['rollout']} | {r['wall_s']:.2f} s | {r['goal_s']:.2f} s | "
            f"{'met' if r['met'] else 'MISSED'} | {overlap} |"
        )
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rollout.md").write_text(text + "\n")
    (out / "rollout.json").write_text(json.dumps({"one_host": single, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
