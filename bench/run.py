"""greenroom beside the peers: the same engine, app and load, one strategy after another.

    .venv/bin/python bench/run.py [--engines e28,e20] [--deploys 20] [--out bench/results]

(`scripts/bench` sets everything up first.) Prints a table per engine and writes
bench/results/<engine>.{json,md,png}. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import Load  # noqa: E402
from bench.report import goals, plot, profile, summarize, table  # noqa: E402
from bench.strategies import STRATEGIES, Bed, Strategy, Timing  # noqa: E402

ECHO = """
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(256)
def serve(c):
    try:
        with c:
            while (d := c.recv(4096)):
                c.sendall(d)
    except OSError:
        pass
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def upstream_alive(address: str, port: int, host: str, version: str) -> bool:
    """Ask the new version, through the proxy, whether its long-lived connection (opened at
    its start, before any network attach) still echoes."""
    for _ in range(20):
        conn = http.client.HTTPConnection(address, port, timeout=5)
        try:
            conn.request("GET", "/upstream", headers={"Host": host, "Connection": "close"})
            doc = json.loads(conn.getresponse().read())
        except (OSError, ValueError, http.client.HTTPException):
            doc = {}
        finally:
            conn.close()
        if doc.get("version") == version:
            return bool((doc.get("upstream") or {}).get("alive"))
        time.sleep(0.2)
    return False


def serving(address: str, port: int, host: str) -> bool:
    conn = http.client.HTTPConnection(address, port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": host})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def run_strategy(strategy: Strategy, deploys: int, bed: Bed) -> dict[str, object]:
    print(f"  {strategy.name}: setting up", flush=True)
    strategy.prepare()
    timings: list[Timing] = []
    kept: list[bool] = []
    load = Load(bed.address, strategy.port, strategy.host)
    log = ""
    try:
        first = strategy.deploy("v1") if strategy.name != "floor" else None
        if first is not None:
            time.sleep(1)
        deadline = time.time() + 30
        while not serving(bed.address, strategy.port, strategy.host) and time.time() < deadline:
            time.sleep(0.2)
        load.start()
        time.sleep(5)  # steady state
        versions = ["v2", "v1"]
        for i in range(deploys):
            version = versions[i % 2] if strategy.name != "floor" else "v1"
            timing = strategy.deploy(version)
            timings.append(timing)
            time.sleep(2.5)
            if strategy.name != "floor":
                kept.append(upstream_alive(bed.address, strategy.port, strategy.host, version))
            print(
                f"  {strategy.name}: deploy {i + 1}/{deploys} in {timing.finished - timing.started:.2f}s",
                flush=True,
            )
        time.sleep(2)
        samples = load.stop()
        log = strategy.proxy_log() if any(not s.ok for s in samples) else ""
    finally:
        load.stop()
        strategy.teardown()
    return {"strategy": strategy.name, "samples": samples, "timings": timings, "kept": kept, "proxy_log": log}


def cli_startup(runs: int = 7) -> float:
    """Median seconds for greenroom's CLI process to start, import everything and exit."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import os, greenroom.cli.app; os._exit(0)"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _failed_at(result: dict[str, Any]) -> list[list[Any]]:
    """When each failure happened (seconds since the load started), its client and error."""
    samples = result["samples"]
    if not samples:
        return []
    t0 = min(s.at for s in samples)
    return [[round(s.at - t0, 2), s.mode, s.error[:80]] for s in samples if not s.ok][:300]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="e28,e20")
    parser.add_argument("--deploys", type=int, default=20)
    parser.add_argument("--strategies", default="", help="comma-separated names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {s.strip() for s in args.strategies.split(",") if s.strip()}
    for engine in args.engines.split(","):
        bed = Bed.load(engine)
        port = 45000 + len(engine)
        echo = subprocess.Popen(
            ["nsenter", "--net=/run/netns/gr-ext", sys.executable, "-c", ECHO, bed.ext_address, str(port)]
        )
        print(f"engine {engine} (Docker {bed.version}), {args.deploys} deploys per strategy", flush=True)
        results = []
        try:
            time.sleep(0.5)
            for cls in STRATEGIES:
                if wanted and cls.name not in wanted:
                    continue
                try:
                    result = run_strategy(cls(bed, f"{bed.ext_address}:{port}"), args.deploys, bed)
                except Exception as exc:  # one strategy's failure must not lose the others' numbers
                    print(f"  {cls.name}: FAILED: {exc}", flush=True)
                    continue
                if cls.name == "greenroom":
                    # the largest resident set of any `greenroom deploy` process this run (KiB)
                    result["peak_rss_kb"] = max(t.peak_rss_kb for t in result["timings"])  # type: ignore[attr-defined]
                results.append(result)
        finally:
            echo.kill()
        rows = [summarize(r) for r in results]
        text = table(rows, bed.version, args.deploys)
        mine = next((r for r in results if r["strategy"] == "greenroom"), None)
        extra = [goals(rows), profile(mine["timings"], cli_startup()) if mine else ""]  # type: ignore[arg-type]
        text += "".join(f"\n\n{part}" for part in extra if part)
        print(text)
        (out / f"{engine}.md").write_text(text + "\n")
        (out / f"{engine}.json").write_text(
            json.dumps(
                {
                    "engine": engine,
                    "docker": bed.version,
                    "deploys": args.deploys,
                    "rows": rows,
                    "timings": {r["strategy"]: [asdict(t) for t in r["timings"]] for r in results},  # type: ignore[attr-defined]
                    "failed_at": {r["strategy"]: _failed_at(r) for r in results},
                    "proxy_log": {
                        r["strategy"]: r.get("proxy_log", "") for r in results if r.get("proxy_log")
                    },
                },
                indent=1,
            )
        )
        plot(results, out / f"{engine}.png", f"{args.deploys} deploys per strategy, Docker {bed.version}")
        print(f"wrote {out}/{engine}.md, .json, .png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
