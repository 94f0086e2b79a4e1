"""Generic load-balancer hooks: a command before and after each host's hand-off.

For any load balancer greenroom has no adapter for: `before_host` takes the host out
(greenroom waits for it to exit 0 before touching the host), `after_host` puts it back.
A command is a list of words (run as they are) or a string (run by `sh -c`, so it may use
`$GREENROOM_HOST` and pipes). Its environment is greenroom's plus:

    GREENROOM_HOST     the host's name in greenroom.yml
    GREENROOM_APP      the app being deployed ("" for a proxy reboot or upgrade)
    GREENROOM_VERSION  the version going live ("" when none)
    GREENROOM_PHASE    before_host or after_host
    GREENROOM_ACTION   what greenroom does on the host: deploy, rollback, proxy-reboot, ...

(prefixed names: a plain HOST or VERSION is already meaningful to many programs.)
A hook has a deadline; past it its whole process group is killed. Its output is kept
for the report (its last lines) with every secret value masked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from greenroom.clock import Clock, SystemClock
from greenroom.errors import LoadBalancerError
from greenroom.secrets import mask_text

Phase = Literal["before_host", "after_host"]
KEPT_OUTPUT = 4000  # characters of a hook's output kept for the report
TAIL_LINES = 10


@dataclass(frozen=True)
class HookContext:
    host: str
    phase: Phase
    action: str = "deploy"
    app: str = ""
    version: str = ""

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        return {
            **base,
            "GREENROOM_HOST": self.host,
            "GREENROOM_APP": self.app,
            "GREENROOM_VERSION": self.version,
            "GREENROOM_PHASE": self.phase,
            "GREENROOM_ACTION": self.action,
        }


@dataclass(frozen=True)
class HookResult:
    command: str  # as shown: masked
    returncode: int
    output: str  # the last KEPT_OUTPUT characters, masked
    seconds: float


def argv(command: str | Sequence[str]) -> list[str]:
    return ["sh", "-c", command] if isinstance(command, str) else list(command)


def shown(command: str | Sequence[str], secrets: Iterable[str]) -> str:
    text = command if isinstance(command, str) else " ".join(command)
    return mask_text(text, secrets)


def tail(output: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def run_hook(
    command: str | Sequence[str],
    context: HookContext,
    *,
    timeout: float,
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> HookResult:
    """Run one hook; a LoadBalancerError if it cannot start, fails or outlives `timeout`."""
    clock = clock or SystemClock()
    secret_list = [s for s in secrets if s]
    where = f"load_balancer.hooks.{context.phase}"
    display = shown(command, secret_list)
    env = context.environment(os.environ if environ is None else environ)
    started = clock.monotonic()
    try:
        proc = subprocess.Popen(
            argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: killed whole on timeout
        )
    except OSError as exc:
        raise LoadBalancerError(
            f"cannot run the {context.phase} hook `{display}` for host {context.host}: {exc.strerror or exc}",
            where=where,
            hint="the first word must be a program on PATH or a path to one",
        ) from None
    try:
        raw, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raw, _ = _leftover(proc)
        output = mask_text(raw.decode("utf-8", "replace"), secret_list)[-KEPT_OUTPUT:]
        raise LoadBalancerError(
            f"the {context.phase} hook `{display}` for host {context.host} did not finish within "
            f"{timeout:g}s and was killed",
            where=where,
            hint=_hint("raise load_balancer.hooks.timeout, or make the hook return sooner", output),
        ) from None
    output = mask_text(raw.decode("utf-8", "replace"), secret_list)[-KEPT_OUTPUT:]
    result = HookResult(display, proc.returncode, output, clock.monotonic() - started)
    if proc.returncode != 0:
        raise LoadBalancerError(
            f"the {context.phase} hook `{display}` for host {context.host} failed (exit {proc.returncode})",
            where=where,
            hint=_hint(
                "the host was not touched" if context.phase == "before_host" else "the host was switched",
                output,
            ),
        )
    return result


def _hint(advice: str, output: str) -> str:
    last = tail(output)
    return f"{advice}; its last output:\n{last}" if last else f"{advice}; it printed nothing"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _leftover(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes | None]:
    try:
        out, err = proc.communicate(timeout=2)  # a grandchild that left the group may hold the pipe
    except subprocess.TimeoutExpired:
        proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()
        return b"", None
    return out or b"", err
