"""greenroom's proxy beside a plain nginx, same app container, same load, one run.

    .venv/bin/python bench/throughput.py [--engines e28,e20] [--rounds 3] [--seconds 10]

(`scripts/bench-throughput` sets everything up first.) greenroom deploys the demo app
(one replica); a plain nginx from the same image joins the app's front network with a
static `upstream` to the same container, once with `keepalive 64` (the goal: greenroom's
proxy at >= 0.9 of its throughput, p99 within 1.2x) and once without keep-alive (what
greenroom's proxy did before its pools). wrk (1 thread, 8 keep-alive connections, no
pause) runs against each in turn, alternating, so that drift hits all alike. Prints a
table per engine and writes bench/results/throughput-<engine>.{md,json}.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker.errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import wrk  # noqa: E402
from tests.bed import BedEngine  # noqa: E402
from tests.deployment import PROXY_NAME, PROXY_PORT, new_project  # noqa: E402

from bench.per_engine import run_per_engine  # noqa: E402

PLAIN = {"plain nginx, keepalive 64": (19110, True), "plain nginx, no keep-alive": (19111, False)}
CONF = "/etc/bench-plain/nginx.conf"


def plain_conf(target: str, keepalive: bool) -> str:
    pool = "        keepalive 64;\n" if keepalive else ""
    conn = '            proxy_set_header Connection "";\n' if keepalive else ""
    return (
        "worker_processes auto;\nevents { worker_connections 4096; }\nhttp {\n    access_log off;\n"
        f"    upstream app {{\n        server {target};\n{pool}    }}\n"
        "    server {\n        listen 80;\n        location / {\n            proxy_pass http://app;\n"
        f"            proxy_http_version 1.1;\n{conn}            proxy_set_header Host $host;\n"
        "        }\n    }\n}\n"
    )


def start_plain(bed: BedEngine, name: str, port: int, front: str, target: str, keepalive: bool) -> None:
    client = bed.docker()
    engine = bed.engine()
    c = client.containers.create(
        bed.base_image,
        ["sh", "-c", f"while [ ! -f {CONF} ]; do sleep 0.05; done; exec nginx -c {CONF} -g 'daemon off;'"],
        name=name,
        network=PROXY_NAME,  # the proxy's home network: a gateway and published ports
        ports={"80/tcp": port},
        labels={"greenroom-bench": "throughput"},
    )
    client.api.connect_container_to_network(name, front)  # internal: the gateway stays
    c.start()
    engine.put_files(name, "/etc/bench-plain", {"nginx.conf": plain_conf(target, keepalive).encode()})
    for _ in range(100):
        try:
            wrk.run(f"http://{bed.address}:{port}/", "x", 1, connections=1)
            return
        except AssertionError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not come up")


def measure(bed: BedEngine, rounds: int, seconds: float) -> dict[str, object]:
    project = new_project(bed, Path(tempfile.mkdtemp()))
    client = bed.docker()
    names = []
    try:
        project.run("deploy")
        host = f"{project.name}.test"
        front = f"gr-{project.name}-front"
        app = next(c for c in client.containers.list(filters={"label": f"greenroom.app={project.name}"}))
        target = f"{app.attrs['NetworkSettings']['Networks'][front]['IPAddress']}:8000"
        urls = {"greenroom proxy": f"http://{bed.address}:{PROXY_PORT}/"}
        for label, (port, keepalive) in PLAIN.items():
            name = f"gr-bench-plain-{port}"
            names.append(name)
            start_plain(bed, name, port, front, target, keepalive)
            urls[label] = f"http://{bed.address}:{port}/"
        runs: dict[str, list[wrk.WrkResult]] = {k: [] for k in urls}
        for u in urls.values():
            wrk.run(u, host, 2)  # warm up
        for _ in range(rounds):
            for label, u in urls.items():
                runs[label].append(wrk.run(u, host, seconds))
        rows = {
            label: {
                "rate": statistics.median(r.rate for r in rs),
                "p99_ms": statistics.median(r.p99 for r in rs) * 1000,
                "max_ms": max(r.max for r in rs) * 1000,
                "failed": sum(r.failed for r in rs),
                "requests": sum(r.requests for r in rs),
            }
            for label, rs in runs.items()
        }
        ref = rows["plain nginx, keepalive 64"]
        mine = rows["greenroom proxy"]
        return {
            "engine": bed.name,
            "version": bed.version,
            "rounds": rounds,
            "seconds": seconds,
            "rows": rows,
            "throughput_ratio": mine["rate"] / ref["rate"],
            "p99_ratio": mine["p99_ms"] / ref["p99_ms"] if ref["p99_ms"] else 0.0,
        }
    finally:
        for name in names:
            with contextlib.suppress(docker.errors.APIError):
                client.containers.get(name).remove(force=True)
        project.cleanup()
        client.close()


def markdown(res: dict[str, object]) -> str:
    rows = res["rows"]
    assert isinstance(rows, dict)
    lines = [
        f"**{res['engine']} (Docker {res['version']})**: wrk 1 thread, 8 keep-alive connections, "
        f"{res['rounds']} alternated runs of {res['seconds']:g} s each (medians)",
        "",
        "| proxy | requests/s | p99 | max | failed |",
        "|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['rate']:,.0f} | {r['p99_ms']:.2f} ms | {r['max_ms']:.1f} ms | "
            f"{r['failed']} of {r['requests']:,} |"
        )
    t, p = float(res["throughput_ratio"]), float(res["p99_ratio"])  # type: ignore[arg-type]
    met = {True: "met", False: "missed"}
    lines += [
        "",
        f"greenroom / plain keep-alive nginx: throughput **{t:.2f}** (goal >= 0.9: {met[t >= 0.9]}), "
        f"p99 **{p:.2f}x** (goal <= 1.2x: {met[p <= 1.2]})",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    run_per_engine("throughput", measure, markdown, engines="e28,e20", rounds=3, seconds=10.0)


if __name__ == "__main__":
    main()
