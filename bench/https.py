"""HTTPS through greenroom's proxy beside a plain nginx with the same certificate, same app
container, same load, alternated in one run.

    .venv/bin/python bench/https.py [--engines e28,e20] [--rounds 8] [--seconds 5]

(`scripts/bench-https` sets everything up first.) greenroom deploys the demo app with
`tls:` certificate files; a plain nginx from the same image, with the same certificate file
(`ssl_certificate` from a file, loaded once), the same protocols, ciphers and session cache,
joins the app's front network with an `upstream` (keepalive 64) to the same container.
Three loads, each against both in turn (their order alternated from round to round): wrk
keep-alive (1 thread, 8 connections, as fast as it goes), wrk with `Connection: close` (a new
TCP connection and a full TLS handshake per request: handshakes per second), and keep-alive
paced (each connection waits 2 ms after each answer: well below saturation, where a p99 is
the proxy's, not the queue of a machine whose two cores wrk, nginx and the app share).
wrk resolves the certificate's name through a hosts file of its own (a private mount
namespace), so its SNI is the app's host. Beside each rate, each proxy's own CPU time per
request (its containers' cgroups, read through the engine before and after each run).
Prints a table, writes bench/results/https-*.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import docker.errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import wrk  # noqa: E402
from tests.bed import BedEngine, uid  # noqa: E402
from tests.deployment import Project, app_doc  # noqa: E402
from tests.https_client import remove_proxy  # noqa: E402
from tests.tls_certs import CertAuthority, write_pair  # noqa: E402
from tests.waiting import wait_for  # noqa: E402

from bench.per_engine import run_per_engine  # noqa: E402
from greenroom.proxy.tls_conf import MOZILLA_INTERMEDIATE_CIPHERS  # noqa: E402

PROXY, HTTP_PORT, HTTPS_PORT, PLAIN_PORT = "gr-bench-tls", 28280, 28643, 28743
CONF = "/etc/bench-plain/nginx.conf"


def plain_conf(target: str) -> str:
    return f"""worker_processes auto;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream app {{ server {target}; keepalive 64; }}
    server {{
        listen 443 ssl reuseport;
        http2 on;
        ssl_certificate /etc/bench-plain/site.pem;
        ssl_certificate_key /etc/bench-plain/site.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:plain:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


PACE_MS = 2  # the paced load: each connection waits this long after each answer
# (mode, a new connection per request, paced)
MODES = (
    ("keep-alive", False, False),
    ("handshake per request", True, False),
    (f"keep-alive, paced ({PACE_MS} ms between a connection's requests)", False, True),
)


def run_wrk(
    hosts: Path, url: str, host: str, seconds: float, close: bool, paced: bool = False
) -> wrk.WrkResult:
    cmd = wrk.command(url, host, seconds, 8)
    if close:
        cmd[-1:-1] = ["-H", "Connection: close"]
    if paced:
        script = hosts.parent / "paced.lua"
        script.write_text(f"function delay()\n  return {PACE_MS}\nend\n")
        cmd[-1:-1] = ["-s", str(script)]
    mounted = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts), *cmd]
    res = subprocess.run(mounted, capture_output=True, text=True, timeout=seconds + 60)
    assert res.returncode == 0, res.stderr
    return wrk.parse(res.stdout)


def cpu_seconds(client: docker.DockerClient, names: list[str]) -> float:
    """CPU time the containers' processes have used (their cgroups, from the engine)."""
    total = 0
    for name in names:
        stats = client.api.stats(name, stream=False, one_shot=True)
        total += int(stats["cpu_stats"]["cpu_usage"]["total_usage"])
    return total / 1e9


def measure(bed: BedEngine, rounds: int, seconds: float) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp())
    name = f"bench{uid()}"
    host = f"{name}.tls.test"
    ca = CertAuthority.make()
    chain, key = ca.leaf(host)
    write_pair(folder, "site", chain, key)
    tls = {"certificate": "site.crt", "key": "site.key"}
    project = Project(bed, folder, {name: app_doc(bed, name, hosts=[host], tls=tls)})
    project.proxy = {"name": PROXY, "network": PROXY, "ports": [f"{HTTP_PORT}:80", f"{HTTPS_PORT}:443"]}
    project.write()
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{bed.address} {host}\n")
    client = bed.docker()
    plain = f"gr-bench-plain-tls-{uid()}"
    remove_proxy(bed, PROXY)
    try:
        project.run("deploy")
        front = f"gr-{name}-front"
        app = next(c for c in client.containers.list(filters={"label": f"greenroom.app={name}"}))
        target = f"{app.attrs['NetworkSettings']['Networks'][front]['IPAddress']}:8000"
        c = client.containers.create(
            bed.base_image,
            [
                "sh",
                "-c",
                f"while [ ! -f {CONF} ]; do sleep 0.05; done; exec nginx -c {CONF} -g 'daemon off;'",
            ],
            name=plain,
            network=PROXY,
            ports={"443/tcp": PLAIN_PORT},
            labels={"greenroom-bench": "https"},
        )
        client.api.connect_container_to_network(plain, front)
        c.start()
        files = {"site.pem": key + chain, "nginx.conf": plain_conf(target).encode()}
        bed.engine().put_files(plain, "/etc/bench-plain", files, mode=0o600)
        urls = {
            "greenroom proxy": f"https://{host}:{HTTPS_PORT}/",
            "plain nginx (same certificate)": f"https://{host}:{PLAIN_PORT}/",
        }

        def up() -> bool:
            try:
                return run_wrk(hosts, urls["plain nginx (same certificate)"], host, 1, False).requests > 0
            except AssertionError:
                return False

        wait_for(up, 20, "the plain nginx")
        runs: dict[tuple[str, str], list[wrk.WrkResult]] = {}
        # the proxy's own cost: its containers' CPU time per request (greenroom's: every
        # container of its proxy, the pod's holder included), far steadier than a rate on two
        # cores that wrk, nginx and the app share
        pods = [str(x.name) for x in client.containers.list(filters={"label": f"greenroom.proxy={PROXY}"})]
        names: dict[str, list[str]] = {"greenroom proxy": pods, "plain nginx (same certificate)": [plain]}
        cpu: dict[tuple[str, str], list[float]] = {}
        for u in urls.values():
            run_wrk(hosts, u, host, 2, False)  # warm up
        for i in range(rounds):
            for mode, close, paced in MODES:
                # A B, then B A: what drifts on the machine during a round weighs on both
                order = list(urls.items()) if i % 2 == 0 else list(reversed(urls.items()))
                for label, u in order:
                    before = cpu_seconds(client, names[label])
                    res = run_wrk(hosts, u, host, seconds, close, paced)
                    used = cpu_seconds(client, names[label]) - before
                    runs.setdefault((mode, label), []).append(res)
                    cpu.setdefault((mode, label), []).append(used / max(res.requests, 1) * 1e6)
        rows = {
            f"{mode} | {label}": {
                "rate": statistics.median(r.rate for r in rs),
                "p99_ms": statistics.median(r.p99 for r in rs) * 1000,
                "failed": sum(r.failed for r in rs),
                "requests": sum(r.requests for r in rs),
                "cpu_us": statistics.median(cpu[(mode, label)]),
            }
            for (mode, label), rs in runs.items()
        }
        ratios = {}
        for mode, _, _ in MODES:
            # per round, greenroom's run beside the plain one next to it; the median of the rounds
            mine, ref = runs[(mode, "greenroom proxy")], runs[(mode, "plain nginx (same certificate)")]
            rate = [a.rate / b.rate for a, b in zip(mine, ref, strict=True) if b.rate]
            p99 = [a.p99 / b.p99 for a, b in zip(mine, ref, strict=True) if b.p99]
            mine_cpu, ref_cpu = cpu[(mode, "greenroom proxy")], cpu[(mode, "plain nginx (same certificate)")]
            cost = [a / b for a, b in zip(mine_cpu, ref_cpu, strict=True) if b]
            ratios[mode] = {
                "throughput": statistics.median(rate),
                "throughput_range": [min(rate), max(rate)],
                "p99": statistics.median(p99),
                "p99_range": [min(p99), max(p99)],
                "cpu": statistics.median(cost),
                "cpu_range": [min(cost), max(cost)],
            }
        return {"engine": bed.name, "rounds": rounds, "seconds": seconds, "rows": rows, "ratios": ratios}
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.containers.get(plain).remove(force=True)
        remove_proxy(bed, PROXY)
        project.cleanup()
        client.close()


def markdown(res: dict[str, object]) -> str:
    rows, ratios = res["rows"], res["ratios"]
    assert isinstance(rows, dict) and isinstance(ratios, dict)
    lines = [
        f"**{res['engine']}**: wrk 1 thread, 8 connections, {res['rounds']} rounds of "
        f"{res['seconds']:g} s per proxy and load, the proxies' order alternated (medians); "
        "TLS 1.3, ECDSA P-256 certificate",
        "",
        "| load | proxy | requests/s | p99 | proxy CPU per request | failed |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['rate']:,.0f} | {r['p99_ms']:.2f} ms | {r['cpu_us']:.0f} µs "
            f"| {r['failed']} of {r['requests']:,} |"
        )
    lines.append("")
    for mode, r in ratios.items():
        lo, hi = r["throughput_range"]
        plo, phi = r["p99_range"]
        clo, chi = r["cpu_range"]
        lines.append(
            f"{mode}: greenroom / plain, the median of the rounds: throughput **{r['throughput']:.2f}** "
            f"({lo:.2f} to {hi:.2f}; goal >= 0.9), p99 **{r['p99']:.2f}x** ({plo:.2f} to {phi:.2f}; "
            f"goal <= 1.2x), the proxy's CPU per request **{r['cpu']:.2f}x** ({clo:.2f} to {chi:.2f})"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/https.py needs root (a private mount namespace for wrk's hosts file)")
    run_per_engine("https", measure, markdown, engines="e28", rounds=8, seconds=5.0)


if __name__ == "__main__":
    main()
