"""Pure: a canary's figures and verdicts. The proxy counts, per app and color, requests,
5xx responses, upstream errors and a latency histogram (greenroom.js); a verdict compares
the new color with the live one over the same window, on counters already summed over
every host of a fleet. No engine, no proxy, no clock here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from greenroom.config.canary import Canary

LATENCY_MS = (5, 10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000)  # as greenroom.js
BUCKETS = len(LATENCY_MS) + 1  # the last: slower than 5s


@dataclass(frozen=True)
class Counts:
    """One color's counters (cumulative, or over a window: a difference of two readings)."""

    requests: int = 0
    errors: int = 0  # 5xx responses, upstream errors included
    upstream_errors: int = 0  # no response header from the app (refused, reset, timed out)
    latency: tuple[int, ...] = field(default=(0,) * BUCKETS)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.requests + other.requests,
            self.errors + other.errors,
            self.upstream_errors + other.upstream_errors,
            tuple(a + b for a, b in zip(self.latency, other.latency, strict=True)),
        )

    def __sub__(self, other: Counts) -> Counts:
        """The window between two readings; a counter that went down (the proxy's nginx was
        replaced, its counters restarted) counts from zero."""
        if other.requests > self.requests:
            return self
        return Counts(
            self.requests - other.requests,
            max(0, self.errors - other.errors),
            max(0, self.upstream_errors - other.upstream_errors),
            tuple(max(0, a - b) for a, b in zip(self.latency, other.latency, strict=True)),
        )

    @property
    def error_rate(self) -> float:
        """Percent of the requests that failed (0 without requests)."""
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float:
        """Seconds: the upper bound of the latency bucket holding the 99th percentile (inf:
        slower than the last bound; 0 without requests)."""
        total = sum(self.latency)
        if not total:
            return 0.0
        need = math.ceil(0.99 * total)
        seen = 0
        for i, n in enumerate(self.latency):
            seen += n
            if seen >= need:
                return LATENCY_MS[i] / 1000 if i < len(LATENCY_MS) else math.inf
        return math.inf

    def describe(self) -> str:
        p99 = "-" if not self.requests else (">5s" if math.isinf(self.p99) else f"{self.p99 * 1000:g}ms")
        return (
            f"{self.requests} requests, {self.errors} 5xx ({self.error_rate:.2f}%), "
            f"{self.upstream_errors} upstream errors, p99 <= {p99}"
        )


def parse_stats(doc: Mapping[str, object]) -> dict[str, Counts]:
    """Per color, from the proxy's /greenroom/stats/APP answer: {"green|n": 12, "green|l3": 4, ...}."""
    raw: dict[str, dict[str, int]] = {}
    for key, value in doc.items():
        color, _, kind = key.partition("|")
        if not color or not kind or not isinstance(value, int | float):
            continue
        raw.setdefault(color, {})[kind] = int(value)
    out = {}
    for color, kinds in raw.items():
        out[color] = Counts(
            kinds.get("n", 0),
            kinds.get("e", 0),
            kinds.get("u", 0),
            tuple(kinds.get(f"l{i}", 0) for i in range(BUCKETS)),
        )
    return out


def summed(readings: Iterable[Mapping[str, Counts]]) -> dict[str, Counts]:
    """Every host's counters added up, per color (a fleet's verdict is on the sum)."""
    out: dict[str, Counts] = {}
    for reading in readings:
        for color, counts in reading.items():
            out[color] = out.get(color, Counts()) + counts
    return out


def window(now: Mapping[str, Counts], start: Mapping[str, Counts], color: str) -> Counts:
    return now.get(color, Counts()) - start.get(color, Counts())


class Kind(StrEnum):
    WAIT = "wait"  # not enough requests for a verdict yet
    PASS = "pass"
    BREACH = "breach"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    new: Counts
    old: Counts
    breaches: tuple[str, ...] = ()

    def describe(self) -> str:
        said = {Kind.WAIT: "waiting for requests", Kind.PASS: "gates pass", Kind.BREACH: "BREACH"}[self.kind]
        text = f"{said}: new {self.new.describe()}; live {self.old.describe()}"
        return text + ("; " + "; ".join(self.breaches) if self.breaches else "")


def _ms(seconds: float) -> str:
    return ">5s" if math.isinf(seconds) else f"{seconds * 1000:g}ms"


def judge(gates: Canary, new: Counts, old: Counts) -> Verdict:
    """The new color against the gates and the live color, over the same window. Verdicts
    need `min_requests` of the new color, but for errors beyond what `min_requests` could
    hold (a breach whatever comes next); relative gates need the live color to have served
    `min_requests` in the window too."""
    allowed = gates.max_error_rate / 100 * gates.min_requests
    if new.requests < gates.min_requests and new.errors > allowed:
        # already more errors than min_requests may hold: no later request can make it pass
        said = f"{new.errors} errors in {new.requests} requests: more than max_error_rate "
        said += f"{gates.max_error_rate:g}% of min_requests {gates.min_requests} allows"
        return Verdict(Kind.BREACH, new, old, (said,))
    if new.requests < gates.min_requests:
        return Verdict(Kind.WAIT, new, old)
    breaches = []
    if new.error_rate > gates.max_error_rate:
        breaches.append(f"error rate {new.error_rate:.2f}% > max_error_rate {gates.max_error_rate:g}%")
    compare = old.requests >= gates.min_requests
    over = gates.max_error_rate_over_old
    if compare and over is not None and new.error_rate - old.error_rate > over:
        breaches.append(
            f"error rate {new.error_rate:.2f}% exceeds the live color's {old.error_rate:.2f}% by more than "
            f"{over:g} points"
        )
    if gates.max_p99 is not None and new.p99 > gates.max_p99:
        breaches.append(f"p99 {_ms(new.p99)} > max_p99 {_ms(gates.max_p99)}")
    ratio = gates.max_p99_ratio
    if compare and ratio is not None and new.p99 > old.p99 * ratio and new.p99 - old.p99 > gates.p99_margin:
        breaches.append(
            f"p99 {_ms(new.p99)} > {ratio:g} x the live color's {_ms(old.p99)} (and more than "
            f"{_ms(gates.p99_margin)} over it)"
        )
    return Verdict(Kind.BREACH if breaches else Kind.PASS, new, old, tuple(breaches))


def schedule(gates: Canary, steps: tuple[float, ...]) -> str:
    """What a canary run will do after its stage, for a plan (`deploy --dry-run`, `plan`)."""
    judged = [f"at least {gates.min_requests} requests", f"error rate <= {gates.max_error_rate:g}%"]
    if gates.max_error_rate_over_old is not None:
        judged.append(f"<= {gates.max_error_rate_over_old:g} points over the live color's")
    if gates.max_p99 is not None:
        judged.append(f"p99 <= {_ms(gates.max_p99)}")
    if gates.max_p99_ratio is not None:
        judged.append(
            f"p99 <= {gates.max_p99_ratio:g} x the live color's (or within {_ms(gates.p99_margin)})"
        )
    if gates.check is not None:
        judged.append(f"canary.check {' '.join(gates.check)} exits 0")
    shares = " -> ".join(f"{p:g}%" for p in steps)
    return (
        f"canary: then weight {shares} of the clients, each step judged for {gates.interval:g}s on every "
        f"host's counters summed ({'; '.join(judged)}); any breach rolls back at once (weight 0, the new "
        "color removed); after the last step, promote"
    )
