"""Numbers from the benchmark's samples and timings: the table and the plot."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.load import Sample
from bench.strategies import Timing

BUCKET = 0.1  # seconds: failure time is counted in 100 ms slices


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _in_deploy(at: float, windows: list[tuple[float, float]]) -> bool:
    return any(a <= at <= b for a, b in windows)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    samples: list[Sample] = result["samples"]
    timings: list[Timing] = result["timings"]
    windows = [(t.started, t.finished + 1.0) for t in timings]
    row: dict[str, Any] = {"strategy": result["strategy"], "deploys": len(timings)}
    for mode in ("keepalive", "close"):
        mine = [s for s in samples if s.mode == mode]
        failed = [s for s in mine if not s.ok]
        row[f"{mode}_total"] = len(mine)
        row[f"{mode}_failed"] = len(failed)
        row[f"{mode}_fail_seconds"] = round(len({int(s.at / BUCKET) for s in failed}) * BUCKET, 1)
    during = [s.latency * 1000 for s in samples if s.ok and _in_deploy(s.at, windows)]
    steady = [s.latency * 1000 for s in samples if s.ok and not _in_deploy(s.at, windows)]
    row.update(
        {
            "steady_p50_ms": round(pct(steady, 0.5), 2),
            "steady_p99_ms": round(pct(steady, 0.99), 2),
            "deploy_p50_ms": round(pct(during, 0.5), 2),
            "deploy_p99_ms": round(pct(during, 0.99), 2),
            "max_ms": round(max((s.latency for s in samples), default=0) * 1000, 1),
        }
    )
    cutovers, totals, overheads = [], [], []
    for t in timings:
        totals.append(t.finished - t.started - t.drain)
        if t.steps:
            app_time = sum(d for name, d in t.steps if name == "HealthGate")
            overheads.append(t.finished - t.started - app_time - t.drain)
        if t.switched is None:
            continue
        ref = t.healthy if t.healthy is not None else t.started
        version_new = _version_after(samples, t)
        first = min(
            (s.at for s in samples if s.ok and s.version == version_new and s.at >= ref), default=None
        )
        if first is not None:
            cutovers.append(max(0.0, first - ref))
    row["cutover_median_ms"] = round(statistics.median(cutovers) * 1000, 1) if cutovers else None
    row["deploy_median_s"] = round(statistics.median(totals), 2) if totals else None
    row["overhead_median_s"] = round(statistics.median(overheads), 2) if overheads else None
    kept = result.get("kept") or []
    row["long_lived_kept"] = f"{sum(kept)}/{len(kept)}" if kept else "-"
    row["peak_rss_mb"] = round(result["peak_rss_kb"] / 1024, 1) if result.get("peak_rss_kb") else None
    return row


def _version_after(samples: list[Sample], t: Timing) -> str:
    later = [s.version for s in samples if s.ok and s.at > t.finished + 0.5]
    return max(set(later), key=later.count) if later else ""


def _v(r: dict[str, Any], key: str, unit: str = "") -> str:
    return "-" if r.get(key) is None else f"{r[key]}{unit}"


def table(rows: list[dict[str, Any]], docker: str, deploys: int) -> str:
    head = (
        "| strategy | failed / total (keep-alive) | failed / total (close) | time failing | "
        "p50 / p99 steady | p50 / p99 deploying | max | cutover median | deploy median | "
        "overhead median | long-lived kept | peak RSS |"
    )
    lines = [
        f"Docker {docker}, {deploys} deploys per strategy, "
        "4 keep-alive + 4 closing clients, each about 40 req/s",
        "",
        head,
        "|" + "---|" * 12,
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['keepalive_failed']} / {r['keepalive_total']} | "
            f"{r['close_failed']} / {r['close_total']} | "
            f"{r['keepalive_fail_seconds'] + r['close_fail_seconds']:.1f}s | "
            f"{r['steady_p50_ms']} / {r['steady_p99_ms']} ms | "
            f"{r['deploy_p50_ms']} / {r['deploy_p99_ms']} ms | "
            f"{r['max_ms']} ms | {_v(r, 'cutover_median_ms', ' ms')} | {_v(r, 'deploy_median_s', ' s')} | "
            f"{_v(r, 'overhead_median_s', ' s')} | {r['long_lived_kept']} | {_v(r, 'peak_rss_mb', ' MiB')} |"
        )
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(12, 2.4 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        samples: list[Sample] = result["samples"]
        if not samples:
            continue
        t0 = min(s.at for s in samples)
        ok = [s for s in samples if s.ok]
        bad = [s for s in samples if not s.ok]
        ax.scatter(
            [s.at - t0 for s in ok], [s.latency * 1000 for s in ok], s=1, alpha=0.3, label="latency (ok)"
        )
        if bad:
            ax.scatter(
                [s.at - t0 for s in bad],
                [max(s.latency * 1000, 0.1) for s in bad],
                s=12,
                c="red",
                marker="x",
                label=f"failed ({len(bad)})",
            )
        for t in result["timings"]:
            ax.axvspan(t.started - t0, t.finished - t0, color="orange", alpha=0.15)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(result["strategy"], fontsize=10, loc="left")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds (orange: a deploy in progress)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
