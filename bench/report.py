"""Numbers from the benchmark's samples and timings: the table and the plot."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import Sample
from bench.strategies import Timing

BUCKET = 0.1  # seconds: failure time is counted in 100 ms slices
DEPLOY_RATIO = 1.5  # the goal: greenroom's deploy within 1.5x the fastest strategy that fails requests


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
        row[f"{mode}_errors"] = Counter(s.error[:120] for s in failed).most_common(5)
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


def profile(timings: list[Timing], startup: float | None = None) -> str:
    """greenroom's median seconds per step, in step order, and what the steps leave out:
    before the first (start-up, config, lock, observe, plan) and after the last (history,
    unlock, exit). `startup`: the CLI's interpreter start and imports, measured alone."""
    by_step: dict[str, list[float]] = {}
    before: list[float] = []
    after: list[float] = []
    for t in timings:
        if not t.steps or t.first_step is None or t.last_step_end is None:
            continue
        mine: dict[str, float] = {}
        for name, duration in t.steps:
            mine[name] = mine.get(name, 0.0) + duration
        for name, duration in mine.items():
            by_step.setdefault(name, []).append(duration)
        before.append(t.first_step - t.started)
        after.append(t.finished - t.last_step_end)
    if not before:
        return ""
    n = len(before)
    lines = ["| greenroom, where the time goes | median | in deploys |", "|---|---|---|"]
    lines.append(
        "| before the first step: process start-up, config, lock, observe, plan | "
        f"{statistics.median(before):.3f} s | {n}/{n} |"
    )
    if startup is not None:
        lines.append(
            f"| … of which interpreter start-up and imports (measured alone) | {startup:.3f} s | - |"
        )
    for name, values in by_step.items():
        lines.append(f"| step {name} | {statistics.median(values):.3f} s | {len(values)}/{n} |")
    lines.append(
        f"| after the last step: history, unlock, exit | {statistics.median(after):.3f} s | {n}/{n} |"
    )
    return "\n".join(lines)


def goals(rows: list[dict[str, Any]]) -> str:
    """greenroom against the goals it reports to (bench/README.md), met or missed by how much."""
    me = next((r for r in rows if r["strategy"] == "greenroom"), None)
    if me is None:
        return ""
    failing = [
        r
        for r in rows
        if r["keepalive_failed"] + r["close_failed"] > 0 and r.get("deploy_median_s") is not None
    ]
    fastest = min(failing, key=lambda r: r["deploy_median_s"], default=None)
    failed = me["keepalive_failed"] + me["close_failed"]
    kept = me["long_lived_kept"]
    checks: list[tuple[str, str, bool | None]] = [
        ("0 failed requests", f"{failed} of {me['keepalive_total'] + me['close_total']}", failed == 0),
        _limit("cutover median <= 100 ms", me.get("cutover_median_ms"), 100, " ms"),
        _limit("overhead median <= 1.5 s", me.get("overhead_median_s"), 1.5, " s"),
    ]
    if fastest is not None and me.get("deploy_median_s") is not None:
        limit = round(DEPLOY_RATIO * fastest["deploy_median_s"], 2)
        ratio = me["deploy_median_s"] / fastest["deploy_median_s"]
        checks.append(
            (
                f"deploy median <= {DEPLOY_RATIO} x the fastest failing strategy ({fastest['strategy']}, "
                f"{fastest['deploy_median_s']} s): {limit} s",
                f"{me['deploy_median_s']} s ({ratio:.2f} x)",
                me["deploy_median_s"] <= limit,
            )
        )
    lib = next((r for r in rows if r["strategy"] == "greenroom-lib"), None)
    if lib is not None and fastest is not None and lib.get("deploy_median_s") is not None:
        limit = round(DEPLOY_RATIO * fastest["deploy_median_s"], 2)
        checks.append(
            (
                f"the same, in-process as the peers here run (greenroom-lib): deploy median <= {limit} s",
                f"{lib['deploy_median_s']} s ({lib['deploy_median_s'] / fastest['deploy_median_s']:.2f} x)",
                lib["deploy_median_s"] <= limit,
            )
        )
        checks.append(_limit("… and its overhead median <= 1.5 s", lib.get("overhead_median_s"), 1.5, " s"))
    done, total = (int(x) for x in kept.split("/")) if "/" in kept else (0, 0)
    checks.append(("every long-lived connection kept", kept, total > 0 and done == total))
    lines = ["| goal (greenroom) | measured | |", "|---|---|---|"]
    for goal, measured, ok in checks:
        lines.append(f"| {goal} | {measured} | {'met' if ok else 'MISSED' if ok is False else '-'} |")
    return "\n".join(lines)


def _limit(goal: str, value: float | None, limit: float, unit: str) -> tuple[str, str, bool | None]:
    if value is None:
        return goal, "-", None
    over = "" if value <= limit else f" ({value - limit:.2f}{unit} over)"
    return goal, f"{value}{unit}{over}", value <= limit


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
