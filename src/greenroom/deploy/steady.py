"""A worker's health gate without a Docker HEALTHCHECK: every new container keeps running
for `steady` seconds with no restart (the same start, no exit, no restart by the engine's
restart policy in between), within the deadline; a crash starts the wait again."""

from __future__ import annotations

from collections.abc import Callable

from greenroom.clock import Clock, poll_until
from greenroom.deploy.steps import ProbeSpec
from greenroom.engine.protocol import Engine
from greenroom.errors import HealthGateFailed


def steady_gate(
    engine: Engine,
    clock: Clock,
    containers: list[str],
    spec: ProbeSpec,
    progress: Callable[[str], None] | None = None,
) -> None:
    since: dict[str, tuple[str, int, float]] = {}  # name -> (started at, restarts, seen since)
    last: dict[str, str] = {}

    def steady() -> str | None:
        now = clock.monotonic()
        for name in containers:
            st = engine.state(name)
            if not st.running:
                since.pop(name, None)
                last[name] = f"not running ({st.status or 'exited'}, exit code {st.exit_code})"
                continue
            mark = (st.started_at, st.restarts)
            seen = since.get(name)
            if seen is None or seen[:2] != mark:
                if seen is not None:
                    last[name] = f"restarted ({st.restarts} restarts)"
                since[name] = (*mark, now)
            ran = now - since[name][2]
            last[name] = f"running {ran:.1f}s"
        if progress:
            progress(", ".join(f"{n}: {w}" for n, w in sorted(last.items())))
        if all(n in since and now - since[n][2] >= spec.steady for n in containers):
            return ", ".join(f"{n}: running {spec.steady:g}s, no restart" for n in containers)
        return None

    done = poll_until(clock, steady, timeout=spec.deadline, interval=min(0.25, spec.steady / 4))
    if not done:
        raise HealthGateFailed(
            f"did not keep running for {spec.steady:g}s within {spec.deadline:g}s: "
            + ", ".join(f"{n}: {w}" for n, w in sorted(last.items())),
            where=engine.host,
            hint="its last logs are below; the old version is still running",
        )
