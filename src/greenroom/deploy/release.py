"""The release command: once per deploy, in a one-off container of the new image, before
any switch. Planned here (pure: `release_step`), run here (`ReleaseRunner`).

State lives in Docker: the one-off container is labelled role=release with the key of
what it ran for (the image's ID and the command). One that exited 0 is kept as the
record that the command ran for that image (the newest few per app); one still running
or failed, left by a greenroom killed mid-way, is removed by the next command's repair or
release. A deploy of an image the command already ran for skips it, unless rerun."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from greenroom import labels
from greenroom.clock import Clock, poll_until
from greenroom.config import AppConfig, Config
from greenroom.deploy.context import Context
from greenroom.deploy.outcome import Reporter
from greenroom.deploy.state import HostState
from greenroom.deploy.steps import EnsureNetwork, Plan, PullImage, RemoveRelease, RunRelease, Step
from greenroom.deploy.worker import home_and_back
from greenroom.engine.model import ContainerInfo, ContainerSpec
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, ReleaseFailed
from greenroom.proxy.model import ProxySpec

KEEP_RECORDS = 3  # successful release containers kept per app (the newest)
TAIL = 20  # lines of its output a failure shows
NOT_ON_ROLLBACK = (
    "the release command does not run on rollback: a rollback starts a retained release as it was, "
    "and a command written for a newer version (a migration) would not undo itself"
)


@runtime_checkable
class LineSink(Protocol):
    """A reporter that can show a command's output, line by line (masked by it)."""

    def output_line(self, text: str) -> None: ...


def release_key(image_id: str, command: Sequence[str]) -> str:
    return hashlib.sha256("\0".join([image_id, *command]).encode()).hexdigest()[:16]


def one_off_spec(
    name: str,
    app_name: str,
    app: AppConfig,
    image: str,
    command: tuple[str, ...] | None,
    role: str,
    extra: dict[str, str],
) -> ContainerSpec:
    """A one-off container of the app: its image, environment, secrets and volumes, on its
    back network (the gateway's home, as for its replicas), never restarted."""
    return ContainerSpec(
        name=name,
        image=image,
        network=labels.back_network(app_name),
        command=command,
        env=app.env(),
        labels={**app.labels, **labels.owned(role, app_name), **extra},
        gw_priority=10,
        volumes=tuple(app.volumes),
        memory=app.resources.memory,
        nano_cpus=int(app.resources.cpus * 1e9) if app.resources.cpus else None,
        stop_timeout=int(app.stop_timeout),
        restart="no",
    )


def release_step(name: str, app: AppConfig, image: str, ctx: Context, *, rerun: bool) -> RunRelease | None:
    """Pure: the app's release step for this deploy, None when it has no release command."""
    if app.release is None:
        return None
    extra = {
        labels.DEPLOY: ctx.deploy_id,
        labels.IMAGE: image,
        labels.VERSION: image.rsplit("/", 1)[-1],
        labels.DEPLOYED_AT: ctx.now,
        labels.DEPLOYED_BY: ctx.user,
    }
    spec = one_off_spec(
        labels.release_name(name, ctx.deploy_id),
        name,
        app,
        image,
        app.release.command,
        labels.ROLE_RELEASE,
        extra,
    )
    return RunRelease(name, ctx.deploy_id, spec, tuple(app.networks), app.release.timeout, rerun)


def plan_release(
    cfg: Config, proxy: ProxySpec, state: HostState, name: str, image: str | None, ctx: Context, release: str
) -> Plan:
    """Pure: the release command alone, for a fleet's first host before any host deploys:
    the app's back network made (a first deploy), its leftovers removed, the image made
    sure of, the command run."""
    app = cfg.app(name)
    st = state.app(name)
    image = image or app.image
    step = release_step(name, app, image, ctx, rerun=release == "rerun")
    back = labels.back_network(name)
    nets = home_and_back(cfg, proxy, state, name, ctx)
    steps: list[Step] = [s for s in nets if isinstance(s, EnsureNetwork) and s.name == back]
    steps += [
        RemoveRelease(name, c.labels.get(labels.DEPLOY, "?"), (c.name,), "left by an interrupted deploy")
        for c in st.stale_runs
    ]
    if step is not None:
        steps += [PullImage(image), step]
    return Plan(name, "release", ctx.deploy_id, tuple(steps))


def _lines(chunks: Iterator[str]) -> Iterator[str]:
    buf = ""
    for chunk in chunks:
        buf += chunk
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            yield line.rstrip("\r")
    if buf:
        yield buf


class ReleaseRunner:
    def __init__(self, engine: Engine, clock: Clock, reporter: Reporter, mask: Callable[[str], str]) -> None:
        self.engine = engine
        self.clock = clock
        # each output line, masked: printed as it comes, or (a reporter without lines) as progress
        self.show = reporter.output_line if isinstance(reporter, LineSink) else reporter.progress
        self.mask = mask

    def records(self, app: str) -> list[ContainerInfo]:
        return self.engine.containers(
            running_only=False, label=[f"{labels.ROLE}={labels.ROLE_RELEASE}", f"{labels.APP}={app}"]
        )

    def run(self, step: RunRelease) -> str:
        image_id = self.engine.image_id(step.spec.image) or step.spec.image
        key = release_key(image_id, step.spec.command or ())
        said: list[str] = []
        done: list[ContainerInfo] = []
        for c in self.records(step.app):
            st = self.engine.state(c.id)
            if not st.exited_ok:
                self.engine.remove(c.id)  # left by a greenroom killed mid-way, or a failed run
                said.append(f"removed {c.name} (left by an interrupted deploy)")
            else:
                done.append(c)
        ran = [c for c in done if c.labels.get(labels.RELEASE_KEY) == key]
        if ran and not step.rerun:
            deploy = ran[-1].labels.get(labels.DEPLOY, "?")
            said.append(
                f"skipped: it already ran for this image (deploy {deploy}); `--rerun-release` runs it again"
            )
            return "; ".join(said)
        code, tail, took = self._run(step, key, image_id)
        if code != 0:
            shown = "\n".join(tail) or "(no output)"
            words = " ".join(step.spec.command or ())
            raise ReleaseFailed(
                f"release command `{words}` exited {code}; its last lines:\n{shown}",
                where=f"{self.engine.host} {step.spec.name}",
                hint="nothing was switched; the old version is still serving. Fix the command or the "
                "data and deploy again",
            )
        self._prune(step.app, keep=step.spec.name)
        said.append(f"exit 0 in {took:.1f}s" + (f"; last line: {tail[-1]}" if tail else ""))
        return "; ".join(said)

    def _run(self, step: RunRelease, key: str, image_id: str) -> tuple[int, list[str], float]:
        spec = dataclasses.replace(
            step.spec, labels={**step.spec.labels, labels.RELEASE_KEY: key, labels.DIGEST: image_id}
        )
        name = spec.name
        tail: collections.deque[str] = collections.deque(maxlen=TAIL)
        finished = threading.Event()
        t0 = self.clock.monotonic()
        self.engine.create_container(spec)
        try:
            for net in step.networks:  # before it starts: its gateway is decided once, never moves
                self.engine.connect_network(name, net, gw_priority=-1)
            self.engine.start(name)

            def read() -> None:
                try:
                    for line in _lines(self.engine.follow_logs(name, tail=1000)):
                        masked = self.mask(line)
                        tail.append(masked)
                        self.show(masked)
                except GreenroomError:
                    pass  # the exit code decides; the tail may be short
                finally:
                    finished.set()

            reader = threading.Thread(target=read, name=f"output of {name}", daemon=True)
            reader.start()

            def exited() -> int | None:
                st = self.engine.state(name)
                return None if st.running else (st.exit_code if st.exit_code is not None else -1)

            code = poll_until(self.clock, exited, timeout=step.timeout, interval=0.1, cap=1.0)
            if code is None:
                self.engine.remove(name)
                raise ReleaseFailed(
                    f"release command `{' '.join(spec.command or ())}` ran past its timeout "
                    f"({step.timeout:g}s) and was killed",
                    where=f"{self.engine.host} {name}",
                    hint="nothing was switched; raise apps.<name>.release.timeout or make it faster",
                )
            reader.join(timeout=5)  # the rest of its output
            if code != 0:
                self.engine.remove(name)
            return code, list(tail), self.clock.monotonic() - t0
        except BaseException:
            # interrupted or failed: no half-run record stays behind
            with contextlib.suppress(GreenroomError):  # else the next command's repair removes it
                self.engine.remove(name)
            raise

    def _prune(self, app: str, keep: str) -> None:
        records = sorted(
            self.records(app), key=lambda c: (c.labels.get(labels.DEPLOYED_AT, ""), c.name), reverse=True
        )
        for c in records[KEEP_RECORDS:]:
            if c.name != keep:
                self.engine.remove(c.id)
