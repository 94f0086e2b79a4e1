"""greenroom beside the peers at the highest steady rate this machine sustains.

    .venv/bin/python bench/highrate.py [--engines e28,e20] [--deploys 10] [--share 0.75]

(`scripts/bench-highrate` sets everything up first.) The same strategies, app and proxy as
bench/run.py, but the load is wrk (C, Debian's), not Python clients:

1. The rate. On each engine, greenroom's proxy is first saturated: wrk, closed loop, one
   keep-alive connection per thread, 10 s, no deploy. That is the most this machine serves
   through the proxy with everything (engine, proxy, app, load) sharing its cores.
2. The rows. Every strategy then runs at `--share` of that rate (default 75%: the CPU a
   deploy needs is left; at 100% a deploy of any strategy only measures the CPU it steals):
   keep-alive connections paced by a pause after each response, plus 2 connections that
   close after every request, through a session of steady load and `--deploys` deploys.
3. The numbers. wrk's script (bench/timeline.lua) records every response's wall-clock time
   and latency, so latency is split into steady state and "while deploying" (from a deploy's
   start to 1 s after its end, as in bench/run.py): p50, p99, p99.9 and max. Failures are
   wrk's socket errors (connect, read, write, timeout) and non-2xx answers, both kinds of
   connection counted apart. The goal: greenroom's max while deploying within 2x its
   steady max, with 0 failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import pct  # noqa: E402
from bench.run import ECHO, serving  # noqa: E402
from bench.strategies import STRATEGIES, Bed, Strategy, Timing  # noqa: E402

SCRIPT = ROOT / "bench" / "timeline.lua"
KEEPALIVE_CONNECTIONS = 16
CLOSE_CONNECTIONS = 2
CLOSE_PAUSE_MS = 2


@dataclass
class Response:
    at: float
    latency: float
    status: int


@dataclass
class Run:
    """One wrk process for a whole strategy session: its summary and every response."""

    requests: int
    seconds: float
    socket_errors: int
    non_2xx: int
    responses: list[Response]

    @property
    def failed(self) -> int:
        return self.socket_errors + self.non_2xx


def read_run(path: Path) -> Run:
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    assert head[0] == "#summary", lines[0]
    requests, duration_us, connect, read, write, status, timeout = (int(x) for x in head[1:])
    responses = []
    for line in lines[1:]:
        at, latency, code = line.split(",")
        responses.append(Response(float(at), float(latency), int(code)))
    return Run(requests, duration_us / 1e6, connect + read + write + timeout, status, responses)


class Wrk:
    """wrk in the background until stopped (SIGINT: it then reports and writes its file)."""

    def __init__(self, url: str, host: str, connections: int, pause_ms: int, close: bool) -> None:
        self.out = Path(tempfile.mkstemp(prefix="wrk-", suffix=".csv")[1])
        cmd = ["wrk", f"-t{connections}", f"-c{connections}", "-d3600s", "--timeout", "10s"]
        cmd += ["-s", str(SCRIPT), "-H", f"Host: {host}"]
        if close:
            cmd += ["-H", "Connection: close"]
        cmd += [url, "--", str(self.out), str(pause_ms)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> Run:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        try:
            return read_run(self.out)
        except (OSError, AssertionError, ValueError) as exc:
            raise RuntimeError(f"wrk wrote no timeline ({exc}): {out[-1000:]}") from exc
        finally:
            with contextlib.suppress(OSError):
                self.out.unlink()


def saturate(url: str, host: str, seconds: int = 10) -> float:
    """Requests per second through the proxy, closed loop, one keep-alive connection per thread."""
    n = KEEPALIVE_CONNECTIONS
    out = subprocess.run(
        ["wrk", f"-t{n}", f"-c{n}", f"-d{seconds}s", "-H", f"Host: {host}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


def pause_for(rate: float, saturated: float, connections: int) -> int:
    """The pause (whole ms, wrk's unit) after each response that brings `connections`
    connections to about `rate` requests/s, given each answered at `saturated` in total."""
    latency_ms = 1000.0 * connections / saturated / 2  # below saturation, about half
    return max(0, round(1000.0 * connections / rate - latency_ms))


def session(strategy: Strategy, bed: Bed, deploys: int, pause_ms: int) -> dict[str, Any]:
    print(f"  {strategy.name}: setting up", flush=True)
    strategy.prepare()
    url = f"http://{bed.address}:{strategy.port}/"
    timings: list[Timing] = []
    try:
        if strategy.name != "floor":
            strategy.deploy("v1")
        deadline = time.time() + 30
        while not serving(bed.address, strategy.port, strategy.host) and time.time() < deadline:
            time.sleep(0.2)
        keep = Wrk(url, strategy.host, KEEPALIVE_CONNECTIONS, pause_ms, close=False)
        close = Wrk(url, strategy.host, CLOSE_CONNECTIONS, CLOSE_PAUSE_MS, close=True)
        try:
            time.sleep(8)  # steady state
            for i in range(deploys):
                version = ("v2", "v1")[i % 2] if strategy.name != "floor" else "v1"
                timing = strategy.deploy(version)
                timings.append(timing)
                print(
                    f"  {strategy.name}: deploy {i + 1}/{deploys} in {timing.finished - timing.started:.2f}s",
                    flush=True,
                )
                time.sleep(3)
        finally:
            runs = {"keepalive": keep.stop(), "close": close.stop()}
    finally:
        strategy.teardown()
    return {"strategy": strategy.name, "timings": timings, "runs": runs}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    timings: list[Timing] = result["timings"]
    runs: dict[str, Run] = result["runs"]
    windows = [(t.started, t.finished + 1.0) for t in timings]
    everything = [r for run in runs.values() for r in run.responses]
    t0 = min((r.at for r in everything), default=0.0) + 2.0  # the connections' first seconds
    during: list[float] = []
    steady: list[float] = []
    for r in everything:
        if r.at < t0 or not 200 <= r.status < 400:
            continue
        (during if any(a <= r.at <= b for a, b in windows) else steady).append(r.latency * 1000)
    seconds = max((run.seconds for run in runs.values()), default=0.0)
    row: dict[str, Any] = {
        "strategy": result["strategy"],
        "deploys": len(timings),
        "rate": round(sum(run.requests for run in runs.values()) / seconds) if seconds else 0,
    }
    for kind, run in runs.items():
        row[f"{kind}_total"] = run.requests
        row[f"{kind}_failed"] = run.failed
    for name, values in (("steady", steady), ("deploy", during)):
        row[f"{name}_p50_ms"] = round(pct(values, 0.5), 2)
        row[f"{name}_p99_ms"] = round(pct(values, 0.99), 2)
        row[f"{name}_p999_ms"] = round(pct(values, 0.999), 2)
        row[f"{name}_max_ms"] = round(max(values, default=float("nan")), 1)
    if steady and during:
        row["max_ratio"] = round(max(during) / max(steady), 2)
    totals = [t.finished - t.started - t.drain for t in timings]
    row["deploy_median_s"] = round(statistics.median(totals), 2) if totals else None
    return row


def table(rows: list[dict[str, Any]], docker: str, saturated: float, share: float, deploys: int) -> str:
    lines = [
        f"Docker {docker}: the proxy saturates at {saturated:,.0f} requests/s (wrk, closed loop, "
        f"{KEEPALIVE_CONNECTIONS} keep-alive connections); each strategy runs at {share:.0%} of it "
        f"({KEEPALIVE_CONNECTIONS} paced keep-alive + {CLOSE_CONNECTIONS} closing connections), "
        f"{deploys} deploys",
        "",
        "| strategy | rate | failed / total (keep-alive) | failed / total (close) | "
        "p50 / p99 / p99.9 steady | p50 / p99 / p99.9 deploying | max steady | max deploying | "
        "max ratio | deploy median |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['rate']:,}/s | {r['keepalive_failed']} / {r['keepalive_total']} | "
            f"{r['close_failed']} / {r['close_total']} | "
            f"{r['steady_p50_ms']} / {r['steady_p99_ms']} / {r['steady_p999_ms']} ms | "
            f"{r['deploy_p50_ms']} / {r['deploy_p99_ms']} / {r['deploy_p999_ms']} ms | "
            f"{r['steady_max_ms']} ms | {r['deploy_max_ms']} ms | {r.get('max_ratio', '-')} | "
            f"{'-' if r['deploy_median_s'] is None else str(r['deploy_median_s']) + ' s'} |"
        )
    mine = next((r for r in rows if r["strategy"] == "greenroom"), None)
    if mine:
        failed = mine["keepalive_failed"] + mine["close_failed"]
        ratio = mine.get("max_ratio")
        lines += [
            "",
            "| goal (greenroom) | measured | |",
            "|---|---|---|",
            f"| 0 failed requests | {failed} | {'met' if failed == 0 else 'MISSED'} |",
            f"| max while deploying <= 2 x steady max | {ratio} x | "
            f"{'met' if ratio is not None and ratio <= 2 else 'MISSED'} |",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="e28,e20")
    parser.add_argument("--deploys", type=int, default=10)
    parser.add_argument("--share", type=float, default=0.75, help="of the saturating rate")
    parser.add_argument("--strategies", default="", help="comma-separated names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {s.strip() for s in args.strategies.split(",") if s.strip()}
    for engine in args.engines.split(","):
        bed = Bed.load(engine)
        port = 45100 + len(engine)
        echo = subprocess.Popen(
            ["nsenter", "--net=/run/netns/gr-ext", sys.executable, "-c", ECHO, bed.ext_address, str(port)]
        )
        upstream = f"{bed.ext_address}:{port}"
        results, rows = [], []
        try:
            time.sleep(0.5)
            probe = STRATEGIES[0](bed, upstream)
            probe.prepare()
            try:
                probe.deploy("v1")
                saturated = saturate(f"http://{bed.address}:{probe.port}/", probe.host)
            finally:
                probe.teardown()
            rate = saturated * args.share
            pause = pause_for(rate, saturated, KEEPALIVE_CONNECTIONS)
            print(
                f"engine {engine} (Docker {bed.version}): saturated at {saturated:,.0f}/s; "
                f"running at {rate:,.0f}/s (pause {pause} ms)",
                flush=True,
            )
            for cls in STRATEGIES:
                if wanted and cls.name not in wanted:
                    continue
                try:
                    result = session(cls(bed, upstream), bed, args.deploys, pause)
                except Exception as exc:  # one strategy's failure must not lose the others'
                    print(f"  {cls.name}: FAILED: {exc}", flush=True)
                    continue
                results.append(result)
                rows.append(summarize(result))
                print(f"  {cls.name}: {rows[-1]}", flush=True)
        finally:
            echo.kill()
        text = table(rows, bed.version, saturated, args.share, args.deploys)
        print(text)
        (out / f"highrate-{engine}.md").write_text(text + "\n")
        doc = {
            "engine": engine,
            "docker": bed.version,
            "saturated": saturated,
            "share": args.share,
            "pause_ms": pause,
            "rows": rows,
            "timings": {r["strategy"]: [asdict(t) for t in r["timings"]] for r in results},
        }
        (out / f"highrate-{engine}.json").write_text(json.dumps(doc, indent=1))
        print(f"wrote {out}/highrate-{engine}.md, .json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
