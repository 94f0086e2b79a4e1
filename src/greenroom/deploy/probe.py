"""The health probe adapter: N consecutive passes within a deadline.

On the engine's own host (root, a unix socket), greenroom probes directly: it opens each
probe's socket inside the new container's network namespace and asks its back-network
address, with no helper and no tool in the image. Elsewhere (a remote engine, another pid
namespace, no privilege) it works when the app's image has no curl or wget: one
short-lived helper container (busybox: sh, nc, timeout, usleep) on the app's back
network probes every replica in a loop and prints one line per probe; greenroom reads
the lines as they come and decides. The path and targets reach the script as
environment variables, never spliced into it. `docker` probes read the image's own
HEALTHCHECK status instead.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from greenroom import labels
from greenroom.clock import Clock, poll_until
from greenroom.deploy.steady import steady_gate
from greenroom.deploy.steps import ProbeSpec
from greenroom.engine.model import ContainerInfo, ContainerSpec, Health
from greenroom.engine.netns import Namespace, NamespaceConnection
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, HealthGateFailed

SCRIPT = r"""
req() {
  printf 'GET %s HTTP/1.1\r\nHost: greenroom-probe\r\nUser-Agent: greenroom\r\n' "$PROBE_PATH"
  printf 'Connection: close\r\n\r\n'
}
while :; do
  for t in $TARGETS; do
    if [ "$KIND" = http ]; then
      line=$(req | timeout "$TIMEOUT" nc -w "$TIMEOUT" "${t%:*}" "${t##*:}" 2>/dev/null | head -n 1)
      code=$(echo "$line" | sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p')
      echo "$t ${code:-000}"
    elif timeout "$TIMEOUT" nc -w "$TIMEOUT" "${t%:*}" "${t##*:}" </dev/null >/dev/null 2>&1; then
      echo "$t ok"
    else
      echo "$t fail"
    fi
  done
  usleep "$INTERVAL_US"
done
"""


@dataclass
class GateProgress:
    passes: dict[str, int] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)
    probes: int = 0

    def record(self, target: str, result: str, ok: bool) -> None:
        self.probes += 1
        self.last[target] = result
        self.passes[target] = self.passes.get(target, 0) + 1 if ok else 0

    def done(self, targets: list[str], needed: int) -> bool:
        return all(self.passes.get(t, 0) >= needed for t in targets)

    def summary(self) -> str:
        return (
            ", ".join(f"{t}: {self.last.get(t, 'no answer')}" for t in sorted(self.last))
            or "no probe answered"
        )


def judge(line: str, spec: ProbeSpec) -> tuple[str, str, bool] | None:
    """Pure: one helper output line -> (target, result, passed)."""
    parts = line.split()
    if len(parts) != 2 or ":" not in parts[0]:
        return None
    target, result = parts
    if spec.kind == "http":
        ok = result == str(spec.status)
        return target, (f"HTTP {result}" if result != "000" else "no answer"), ok
    return target, result, result == "ok"


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    buf = ""
    for chunk in chunks:
        buf += chunk
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            yield line.strip()


def probe_once(ns: Namespace, target: str, spec: ProbeSpec) -> str:
    """One probe from inside `ns`, answered as the helper's output line would be."""
    host, _, port = target.rpartition(":")
    if spec.kind != "http":
        try:
            with ns.socket() as sock:
                sock.settimeout(spec.timeout)
                sock.connect((host, int(port)))
            return f"{target} ok"
        except OSError:
            return f"{target} fail"
    conn = NamespaceConnection(ns, host, int(port), spec.timeout)
    try:
        headers = {"Host": "greenroom-probe", "User-Agent": "greenroom", "Connection": "close"}
        conn.request("GET", spec.path, headers=headers)
        return f"{target} {conn.getresponse().status:03d}"  # the status line only, as the helper
    except (OSError, http.client.HTTPException):
        return f"{target} 000"
    finally:
        conn.close()


class ProbeMode(StrEnum):
    """How a health gate probed."""

    DIRECT = "direct"  # sockets opened in each container's namespace
    HELPER = "helper"  # a helper container on the back network
    DOCKER = "docker"  # the image's own HEALTHCHECK
    RUNNING = "running"  # a worker keeps running, no restart


class Prober:
    def __init__(self, engine: Engine, clock: Clock, helper_image: str, *, direct: bool = True) -> None:
        self.engine = engine
        self.clock = clock
        self.helper_image = helper_image
        self.direct = direct
        self.last_mode: ProbeMode | None = None  # how the last gate probed
        self._removals: list[threading.Thread] = []

    def _remove_later(self, name: str) -> None:
        """Remove a helper off the critical path (the deploy goes on); finish() waits."""

        def remove() -> None:
            with contextlib.suppress(GreenroomError):  # a leftover is removed by the next gate
                self.engine.remove(name)

        worker = threading.Thread(target=remove, name=f"remove {name}", daemon=True)
        worker.start()
        self._removals.append(worker)

    def finish(self) -> None:
        """Wait for helpers still being removed."""
        while self._removals:
            self._removals.pop().join()

    def gate(
        self,
        app: str,
        containers: list[str],
        network: str,
        spec: ProbeSpec,
        progress: Callable[[GateProgress], None] | None = None,
    ) -> GateProgress:
        if spec.kind == "docker":
            self.last_mode = ProbeMode.DOCKER
            return self._docker_gate(containers, spec, progress)
        if spec.kind == "running":
            self.last_mode = ProbeMode.RUNNING
            steady_gate(self.engine, self.clock, containers, spec)
            state = GateProgress()
            for name in containers:
                state.record(name, f"running {spec.steady:g}s, no restart", True)
            return state
        targets = []
        infos: list[ContainerInfo] = []
        for name in containers:
            c = self.engine.container(name)
            att = c.attachment(network)
            if att is None or att.ipv4 is None:
                raise HealthGateFailed(f"{name} has no address on {network}", where=self.engine.host)
            targets.append(f"{att.ipv4.ip}:{spec.port}")
            infos.append(c)
        spaces = self._namespaces(infos) if self.direct else None
        if spaces is not None:
            self.last_mode = ProbeMode.DIRECT
            try:
                return self._direct_gate(containers, targets, spaces, spec, progress)
            finally:
                for ns in spaces:
                    ns.close()
        self.last_mode = ProbeMode.HELPER
        return self._helper_gate(app, containers, targets, network, spec, progress)

    def _namespaces(self, infos: list[ContainerInfo]) -> list[Namespace] | None:
        """Every container's namespace, or None when any one is out of reach."""
        spaces: list[Namespace] = []
        for c in infos:
            ns = Namespace.of(c, self.engine.is_local)
            if ns is None:
                for opened in spaces:
                    opened.close()
                return None
            spaces.append(ns)
        return spaces

    def _direct_gate(
        self,
        containers: list[str],
        targets: list[str],
        spaces: list[Namespace],
        spec: ProbeSpec,
        progress: Callable[[GateProgress], None] | None,
    ) -> GateProgress:
        state = GateProgress()
        checked = [self.clock.monotonic()]

        def passed() -> GateProgress | None:
            failed = False
            for ns, target in zip(spaces, targets, strict=True):
                judged = judge(probe_once(ns, target, spec), spec)
                if judged is not None:
                    state.record(*judged)
                    failed = failed or not judged[2]
            if progress:
                progress(state)
            if state.done(targets, spec.passes):
                return state
            now = self.clock.monotonic()
            if failed and now - checked[0] >= 0.25:
                checked[0] = now
                self._check_running(containers)
            return None

        done = poll_until(self.clock, passed, timeout=spec.deadline, interval=spec.interval)
        if done is None:
            raise self._not_healthy(spec, state)
        return done

    def _not_healthy(self, spec: ProbeSpec, state: GateProgress) -> HealthGateFailed:
        return HealthGateFailed(
            f"not healthy within {spec.deadline:g}s ({spec.passes} passes in a row needed): "
            f"{state.summary()}",
            where=self.engine.host,
            hint="the new version's last logs are below; the old version is still serving",
        )

    def _helper_gate(
        self,
        app: str,
        containers: list[str],
        targets: list[str],
        network: str,
        spec: ProbeSpec,
        progress: Callable[[GateProgress], None] | None,
    ) -> GateProgress:
        self.engine.ensure_image(self.helper_image)
        name = f"greenroom-probe-{containers[0]}"
        stale = self.engine.containers(
            running_only=False, label=[f"{labels.ROLE}={labels.ROLE_PROBE}", f"{labels.APP}={app}"]
        )
        for old in stale:
            self.engine.remove(old.id)  # left by an interrupted greenroom
        self.engine.create_container(
            ContainerSpec(
                name=name,
                image=self.helper_image,
                network=network,
                command=("sh", "-c", SCRIPT),
                env={
                    "TARGETS": " ".join(targets),
                    "KIND": spec.kind,
                    "PROBE_PATH": spec.path,
                    "TIMEOUT": str(max(1, math.ceil(spec.timeout))),
                    "INTERVAL_US": str(int(spec.interval * 1e6)),
                },
                labels=labels.owned(labels.ROLE_PROBE, app),
                restart="no",
            )
        )
        state = GateProgress()
        outcome: list[BaseException | None] = []
        finished = threading.Event()

        def read() -> None:
            try:
                for line in _lines(self.engine.follow_logs(name, tail=0)):
                    judged = judge(line, spec)
                    if judged is None:
                        continue
                    state.record(judged[0], judged[1], judged[2])
                    if progress:
                        progress(state)
                    if state.done(targets, spec.passes):
                        break
                outcome.append(None)
            except BaseException as exc:  # surfaces in the caller's thread
                outcome.append(exc)
            finally:
                finished.set()

        def ended() -> bool | None:
            if finished.is_set():
                return True
            self._check_running(containers)
            return None

        try:
            self.engine.start(name)
            threading.Thread(target=read, daemon=True).start()
            poll_until(self.clock, ended, timeout=spec.deadline, interval=0.25, wake=finished)
        finally:
            self._remove_later(name)
        if outcome and outcome[0] is not None and not isinstance(outcome[0], GreenroomError):
            raise HealthGateFailed(f"health probe helper failed: {outcome[0]}", where=self.engine.host)
        if not state.done(targets, spec.passes):
            raise self._not_healthy(spec, state)
        return state

    def _check_running(self, containers: list[str]) -> None:
        for name in containers:
            st = self.engine.state(name)
            if not st.running:
                raise HealthGateFailed(
                    f"{name} stopped during the health gate (exit code {st.exit_code}, "
                    f"{st.error or 'no error'})",
                    where=self.engine.host,
                    hint="its last logs are below; the old version is still serving",
                )

    def _docker_gate(
        self, containers: list[str], spec: ProbeSpec, progress: Callable[[GateProgress], None] | None
    ) -> GateProgress:
        state = GateProgress()
        last: list[Health] = []

        def healthy() -> GateProgress | None:
            self._check_running(containers)
            for name in containers:
                health = self.engine.state(name).health
                if health is None:
                    raise HealthGateFailed(
                        f"{name}: healthcheck type is docker but the image has no HEALTHCHECK",
                        where=self.engine.host,
                        hint="use healthcheck.type: http or tcp",
                    )
                last[:] = [health]
                state.record(name, health.status, health.status == "healthy")
            if progress:
                progress(state)
            return state if state.done(containers, 1) else None

        done = poll_until(self.clock, healthy, timeout=spec.deadline, interval=min(spec.interval, 0.5))
        if done is None:
            raise HealthGateFailed(
                f"not healthy within {spec.deadline:g}s: {state.summary()}",
                where=self.engine.host,
                hint="Docker's health log: " + " | ".join(last[-1].log[-3:] if last else ()),
            )
        return done
