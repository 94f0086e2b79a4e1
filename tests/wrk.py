"""wrk (Debian's) as the saturating load: every request as fast as the proxy answers.

One run is a `Wrk`; its result parses wrk's summary: requests, rate, latency percentiles,
and every kind of failure (socket errors of each kind, non-2xx/3xx responses).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m[1]) * _UNITS[m[2]]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50: float
    p99: float
    max: float
    socket_errors: int  # connect + read + write + timeout
    non_2xx: int
    raw: str

    @property
    def failed(self) -> int:
        return self.socket_errors + self.non_2xx

    def line(self) -> str:
        return (
            f"{self.requests} requests in {self.seconds:.1f}s = {self.rate:,.0f}/s, "
            f"p50 {self.p50 * 1000:.2f} ms, p99 {self.p99 * 1000:.2f} ms, max {self.max * 1000:.1f} ms, "
            f"failed {self.failed}"
        )


def parse(out: str) -> WrkResult:
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    assert m, out
    requests = int(m[1])
    seconds = _seconds(m[2] + m[3])
    lat = {k: _seconds(v) for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    mx = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests=requests,
        seconds=seconds,
        rate=requests / seconds if seconds else 0.0,
        p50=lat.get("50", 0.0),
        p99=lat.get("99", 0.0),
        max=_seconds(mx[1]) if mx else 0.0,
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
        non_2xx=int(non2xx[1]) if non2xx else 0,
        raw=out,
    )


def command(url: str, host: str, seconds: float, connections: int = 8, threads: int = 1) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-H",
        f"Host: {host}",
        url,
    ]


def run(url: str, host: str, seconds: float, connections: int = 8) -> WrkResult:
    res = subprocess.run(
        command(url, host, seconds, connections), capture_output=True, text=True, timeout=seconds + 60
    )
    assert res.returncode == 0, res.stderr
    return parse(res.stdout)


class Background:
    """wrk running while the test does something else."""

    def __init__(self, url: str, host: str, seconds: float, connections: int = 8) -> None:
        self.proc = subprocess.Popen(
            command(url, host, seconds, connections),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seconds = seconds

    def result(self) -> WrkResult:
        out, err = self.proc.communicate(timeout=self.seconds + 60)
        assert self.proc.returncode == 0, err
        return parse(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
