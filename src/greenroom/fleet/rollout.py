"""The rollout plan, pure: which hosts do what, in which order, and what a failure means.

The fleet is one layer on top of the one-host executor: each host runs the same steps it
runs alone; this plan only says when. Two strategies:

* rolling: the hosts in their stable order (the order of `hosts:`), in batches of
  max_parallel (a count, or a percentage of the hosts rounded up), an optional canary batch
  of one host first, a pause between batches. Each host of a batch deploys completely
  (start, gate, switch, retire the old color), wrapped in the load balancer's hand-off.
* together: phase `gate` starts and health-gates the new color on every host at once;
  only when every gate passed, phase `switch` switches every host at once; then `finish`
  retires the old colors. No load-balancer hand-off around the switch: draining every
  server at once would leave the load balancer none, and a switch closes no connection.

Locks: every host's lock is taken, in plan order (one order for every greenroom, so two
rollouts never wait on each other in a cycle), before any host is touched.

What a failure means is data too (`recover`): the executor asks it which hosts to leave,
return or clean, given how far each host got.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Strategy = Literal["rolling", "together"]
PhaseKind = Literal["deploy", "gate", "switch", "finish"]


class Progress(StrEnum):
    """How far one host got when the rollout failed."""

    UNTOUCHED = "untouched"  # nothing done on it (its lock aside)
    RUNNING = "running"  # its phase is under way
    GATED = "gated"  # together: its new color passed the gate, not switched
    SWITCHED = "switched"  # serves the new version
    DONE = "done"  # switched and old color retired
    FAILED = "failed"  # its own executor failed and undid its steps


@dataclass(frozen=True)
class Phase:
    kind: PhaseKind
    hosts: tuple[str, ...]
    handoff: bool  # drain each host at the load balancer before, ready it after
    canary: bool = False
    pause_after: float = 0.0  # seconds to wait after this phase before the next


@dataclass(frozen=True)
class RolloutPlan:
    strategy: Strategy
    hosts: tuple[str, ...]  # every host, in order: the order locks are taken in
    phases: tuple[Phase, ...]
    notes: tuple[str, ...] = ()

    @property
    def batches(self) -> tuple[tuple[str, ...], ...]:
        return tuple(p.hosts for p in self.phases)


@dataclass(frozen=True)
class Recovery:
    """What the executor does after the first failure: it starts no further phase, waits for
    let_finish, then returns `rollback`, then removes the new color of `remove_new`."""

    failed: str
    let_finish: tuple[str, ...] = ()  # hosts of the failed phase still running: finish, then as below
    rollback: tuple[str, ...] = ()  # switched hosts to return to the old version
    remove_new: tuple[str, ...] = ()  # hosts whose new color is removed (never switched)
    untouched: tuple[str, ...] = ()  # hosts left as they were: the old version keeps serving
    keep_new: tuple[str, ...] = ()  # switched hosts that stay on the new version
    notes: tuple[str, ...] = field(default=())


def batch_size(max_parallel: int | str, hosts: int) -> int:
    """Hosts per batch: the count, or the percentage ("25%") of `hosts` rounded up; at least 1."""
    if hosts < 1:
        return 1
    if isinstance(max_parallel, int):
        return max(1, min(max_parallel, hosts))
    share = float(max_parallel.rstrip("%"))
    return max(1, min(hosts, math.ceil(round(hosts * share / 100, 9))))


def plan_rollout(
    hosts: Sequence[str],
    *,
    strategy: Strategy = "rolling",
    max_parallel: int | str = 1,
    pause: float = 0.0,
    canary: bool = False,
    load_balancer: bool = False,
) -> RolloutPlan:
    """The phases over `hosts` (the app's hosts, in the order of `hosts:`)."""
    order = tuple(hosts)
    if len(set(order)) != len(order):
        raise ValueError(f"a host is listed twice: {order}")
    if not order:
        return RolloutPlan(strategy, (), (), ("no host runs this app",))
    notes: list[str] = []
    handoff = load_balancer and len(order) > 1
    if load_balancer and not handoff:
        notes.append("one host: no load-balancer hand-off (draining its only server would leave none)")
    if strategy == "together":
        together = (
            Phase("gate", order, handoff=False),
            Phase("switch", order, handoff=False),
            Phase("finish", order, handoff=False),
        )
        return RolloutPlan(strategy, order, together, tuple(notes))
    size = batch_size(max_parallel, len(order))
    if handoff and size >= len(order):
        size = len(order) - 1
        notes.append(
            f"batches of {size}: draining all {len(order)} hosts at once would leave the load balancer "
            "no server"
        )
    groups: list[tuple[str, ...]] = []
    rest = order
    if canary and len(order) > 1:
        groups.append(order[:1])
        rest = order[1:]
    groups += [rest[i : i + size] for i in range(0, len(rest), size)]
    phases = tuple(
        Phase(
            "deploy",
            group,
            handoff=handoff,
            canary=canary and i == 0 and len(order) > 1,
            pause_after=pause if i < len(groups) - 1 else 0.0,
        )
        for i, group in enumerate(groups)
    )
    return RolloutPlan(strategy, order, phases, tuple(notes))


def recover(
    plan: RolloutPlan,
    progress: Mapping[str, Progress],
    failed: str,
    phase: PhaseKind,
    *,
    rollback_on_failure: bool = False,
) -> Recovery:
    """The policy after the first failure: on host `failed`, in `phase`, with every host's
    progress so far (a host missing from `progress` is untouched). `failed`'s own executor
    has undone its own steps already.

    rolling: stop; hosts not reached stay on the old version; hosts of the same batch
    still running finish; switched hosts stay on the new version unless
    rollback_on_failure, which returns them. together: in the gate phase no host
    switches and every new color is removed; a failure in the switch phase returns the
    hosts that switched (all or none is the point of together) and removes every new
    color; in finish every host has switched: the new version stays, and the failed
    host's old color is left for the next deploy to retire.
    """
    if failed not in plan.hosts:
        raise ValueError(f"{failed} is not a host of this rollout")
    if phase not in {p.kind for p in plan.phases}:
        raise ValueError(f"a {plan.strategy} rollout has no phase {phase}")

    def where(*states: Progress) -> tuple[str, ...]:
        return tuple(h for h in plan.hosts if h != failed and progress.get(h, Progress.UNTOUCHED) in states)

    untouched = where(Progress.UNTOUCHED)
    running = where(Progress.RUNNING)
    switched = where(Progress.SWITCHED, Progress.DONE)
    if plan.strategy == "rolling":
        return Recovery(
            failed=failed,
            let_finish=running,
            rollback=switched if rollback_on_failure else (),
            keep_new=() if rollback_on_failure else switched,
            untouched=untouched,
            notes=(
                "hosts not reached keep the old version"
                + (
                    "; switched hosts are returned"
                    if rollback_on_failure
                    else "; switched hosts keep the new one"
                )
                + (" (the batch's running hosts finish first, then the same)" if running else ""),
            ),
        )
    if phase == "gate":
        return Recovery(
            failed=failed,
            let_finish=running,
            remove_new=where(Progress.GATED, Progress.RUNNING),
            untouched=untouched,
            notes=("a gate failed: no host switches; every new color is removed",),
        )
    if phase == "switch":
        return Recovery(
            failed=failed,
            let_finish=running,
            rollback=switched + running,
            remove_new=(*where(Progress.GATED), failed, *switched, *running),
            untouched=untouched,
            notes=("a switch failed: the hosts that switched are returned, so all serve the old version",),
        )
    return Recovery(
        failed=failed,
        let_finish=running,
        keep_new=tuple(h for h in plan.hosts if h != failed),
        notes=(
            "every host switched and keeps the new version; the failed host's old color is retired by "
            "the next deploy",
        ),
    )
