"""greenroom.yml's `apps.<name>.preview` and `apps.<name>.canary`: how a staged color is
reached on purpose, how a canary's share of the clients grows, and the gates it must pass."""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from greenroom.config.container import command_words
from greenroom.config.fields import Duration, Float, Int, Kind, Model, problem, within
from greenroom.config.names import HostName

_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_COOKIE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def parse_percent(value: Any) -> float:
    """Percent from "10%", "2.5%" or a bare number 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a share is a string like 10% or a number from 0 to 100")
    text = str(value).strip().removesuffix("%")
    try:
        pct = float(text)
    except ValueError:
        raise ValueError(f"invalid share {value!r}: use 10% or a number from 0 to 100") from None
    if not 0 <= pct <= 100:
        raise ValueError(f"invalid share {value!r}: must be from 0% to 100%")
    return pct


def format_percent(pct: float) -> str:
    return f"{pct:g}%"


def _header(value: str) -> str:
    if not _HEADER.fullmatch(value):
        raise ValueError(f"{value!r} is not a header name (letters, digits and -, at most 64)")
    return value


def _cookie(value: str) -> str:
    if not _COOKIE.fullmatch(value):
        raise ValueError(f"{value!r} is not a cookie name (letters, digits, _ and -, at most 64)")
    return value


Percent = Annotated[float, BeforeValidator(parse_percent), Kind("percent")]
HeaderName = Annotated[str, AfterValidator(_header), Kind("header name")]
CookieName = Annotated[str, AfterValidator(_cookie), Kind("cookie name")]


class Preview(Model):
    """How a staged color (`deploy --no-switch`, a canary) is reached before it takes traffic."""

    header: HeaderName = Field(
        default="X-Greenroom-Preview",
        description="A request with this header (any value) goes to the staged color.",
    )
    cookie: CookieName = Field(
        default="greenroom_preview",
        description="A request with this cookie (any value) goes to the staged color.",
    )
    hosts: tuple[HostName, ...] = Field(
        default=(),
        description="Preview host names: every request to them goes to the staged color (exact names, "
        "not wildcards, and not in the app's hosts).",
    )


class Canary(Model):
    """A weighted canary: a share of the clients on the new color, grown step by step while
    its figures pass the gates against the live color over the same window; any breach
    rolls it back at once."""

    steps: Annotated[tuple[Percent, ...], Kind("list of percents")] = Field(
        default=(),
        description="Shares of the clients on the new color, rising, e.g. [5%, 25%, 50%, 100%]. Empty: a "
        "deploy switches at once (blue-green); otherwise every deploy of the app is a canary.",
    )
    interval: Annotated[Duration, within(0.1, 86400)] = Field(
        default=60.0, description="How long each step's gates must pass before the next, 100ms to 1d."
    )
    min_requests: Int = Field(
        default=100,
        ge=1,
        le=10_000_000,
        description="Requests the new color must have served in a step before any verdict (and before "
        "the step is promoted).",
    )
    max_error_rate: Annotated[Percent, Kind("percent")] = Field(
        default=1.0, description="Share of the new color's responses that may be 5xx or upstream errors."
    )
    max_error_rate_over_old: Annotated[Percent | None, Kind("percent or null")] = Field(
        default=0.5,
        description="How many points the new color's error rate may exceed the live color's over the same "
        "window (checked once the live color served min_requests too). null: not checked.",
    )
    max_p99: Annotated[Duration | None, Kind("duration or null")] = Field(
        default=None, description="Highest 99th percentile latency of the new color. null: not checked."
    )
    max_p99_ratio: Float | None = Field(
        default=2.0,
        ge=1.0,
        description="How many times the live color's p99 the new color's may be, over the same window "
        "(latency in buckets: 5, 10, 25, 50, 100, 150, 200, 300, 500, 750ms, 1, 2, 5s). null: not checked.",
    )
    p99_margin: Annotated[Duration, within(0, 60)] = Field(
        default=0.05,
        description="A p99 that exceeds the live color's by less than this passes the ratio gate anyway "
        "(fast apps' buckets are coarse).",
    )
    sticky_header: HeaderName | None = Field(
        default=None,
        description="A header whose value keeps a client on one color (a user id). Without it, or when a "
        "request lacks it: the proxy's cookie, else the client's address.",
    )
    cookie: CookieName = Field(
        default="greenroom_canary",
        description="The cookie the proxy sets to keep a client on one color while the share allows.",
    )
    check: Annotated[
        tuple[str, ...] | None, BeforeValidator(command_words), Kind("list of strings, string or null")
    ] = Field(
        default=None,
        description="A command run where greenroom runs when a step's own gates pass (your metrics, e.g. "
        "a Prometheus query): exit 0 passes the step, anything else rolls back. It gets GREENROOM_APP, "
        "GREENROOM_DEPLOY and GREENROOM_WEIGHT; at most `interval` (at least 10s) to answer. null: none.",
    )

    @model_validator(mode="after")
    def _rising(self) -> Self:
        for i, (a, b) in enumerate(zip(self.steps, self.steps[1:], strict=False)):
            if b <= a:
                raise problem(
                    f"steps must rise: {format_percent(b)} after {format_percent(a)}", "steps", i + 1
                )
        if self.steps and self.steps[0] <= 0:
            raise problem("a step must be more than 0%", "steps", 0)
        return self
