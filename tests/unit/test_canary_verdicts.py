"""The canary's pure verdicts: figures from the proxy's counters, summed over hosts, and
the gates against the live color over the same window."""

from __future__ import annotations

import math

from greenroom.config.canary import Canary, parse_percent
from greenroom.deploy.canary import BUCKETS, Counts, Kind, judge, parse_stats, summed, window


def counts(requests: int, errors: int = 0, bucket: int = 1, slow: int = 0, slow_bucket: int = 7) -> Counts:
    lat = [0] * BUCKETS
    lat[bucket] = requests - slow
    lat[slow_bucket] += slow
    return Counts(requests, errors, 0, tuple(lat))


GATES = Canary(min_requests=100, max_error_rate=1.0, max_error_rate_over_old=0.5, max_p99_ratio=2.0)


def test_parse_sum_and_window() -> None:
    doc = {
        "green|n": 10,
        "green|e": 2,
        "green|u": 1,
        "green|l0": 9,
        "green|l13": 1,
        "blue|n": 5,
        "blue|l2": 5,
    }
    one = parse_stats(doc)
    assert one["green"] == Counts(10, 2, 1, (9, *([0] * 12), 1))
    assert one["green"].p99 == math.inf and one["blue"].p99 == 0.025
    two = summed([one, one])
    assert two["green"].requests == 20 and two["blue"].latency[2] == 10
    assert window(two, one, "green") == one["green"]
    assert window(one, two, "green") == one["green"]  # counters restarted: from zero
    assert window(one, {}, "red") == Counts()


def test_no_verdict_before_min_requests_but_a_certain_breach() -> None:
    assert judge(GATES, counts(99), counts(1000)).kind is Kind.WAIT
    assert judge(GATES, counts(50, errors=1), counts(1000)).kind is Kind.WAIT
    early = judge(GATES, counts(40, errors=2), counts(1000))
    assert early.kind is Kind.BREACH and "min_requests 100" in early.breaches[0]


def test_error_rate_absolute_and_over_the_live_color() -> None:
    assert judge(GATES, counts(1000, errors=4), counts(1000)).kind is Kind.PASS
    bad = judge(GATES, counts(1000, errors=50), counts(1000))
    assert bad.kind is Kind.BREACH and "5.00% > max_error_rate 1%" in bad.breaches[0]
    lenient = Canary(min_requests=100, max_error_rate=10.0, max_error_rate_over_old=0.5)
    assert judge(lenient, counts(1000, errors=50), counts(1000, errors=46)).kind is Kind.PASS
    over = judge(lenient, counts(1000, errors=50), counts(1000))
    assert over.kind is Kind.BREACH and "by more than 0.5 points" in over.breaches[0]
    # the live color has too few requests in the window: relative gates wait for it
    assert judge(lenient, counts(1000, errors=50), counts(10)).kind is Kind.PASS


def test_p99_absolute_and_ratio_with_a_margin() -> None:
    slow = counts(1000, slow=50, slow_bucket=7)  # 5% at <= 300ms
    fast = counts(1000)  # all <= 10ms
    ratio = judge(GATES, slow, fast)
    assert ratio.kind is Kind.BREACH and "p99 300ms > 2 x the live color's 10ms" in ratio.breaches[0]
    a_bit = counts(1000, slow=50, slow_bucket=3)  # <= 50ms: over 2x, but within the 50ms margin
    assert judge(GATES, a_bit, fast).kind is Kind.PASS
    absolute = Canary(min_requests=100, max_p99=0.1, max_p99_ratio=None)
    assert judge(absolute, slow, counts(0)).breaches == ("p99 300ms > max_p99 100ms",)
    assert judge(absolute, fast, counts(0)).kind is Kind.PASS


def test_percent_and_steps() -> None:
    assert parse_percent("12.5%") == 12.5 and parse_percent(50) == 50.0
    assert Canary(steps=("5%", "50%", 100)).steps == (5.0, 50.0, 100.0)  # type: ignore[arg-type]
