"""The errors greenroom raises. Every one says what happened, where, and what to do.

    GreenroomError                  (exit code 1 unless noted)
    ├── ConfigError                 bad input: a field, a name, a value (exit 2)
    ├── LoadBalancerError           the load balancer (HAProxy's runtime API, a hook) refused or failed
    ├── EngineError                 the Docker engine refused or failed
    │   ├── EngineUnreachable       no engine at that address
    │   │   └── EngineHung          the engine took a call and did not answer within its bound
    │   │                           (the command talks to that host no more)
    │   ├── NotFound                no such container / network / image
    │   ├── Conflict                a name already taken (how locks are taken)
    │   └── SubnetOverlap           a network's subnet overlaps one the engine has
    ├── RouteReadError              the routes of a container could not be read
    ├── SubnetExhausted             no free subnet left in proxy.subnet_pool
    ├── CertificateError            an ACME CA refused or could not be reached; the
    │                               installed certificate keeps serving
    ├── DeployError                 a deploy step failed; the old version still serves
    │   ├── HealthGateFailed        the new version never became healthy
    │   ├── ReleaseFailed           the release command failed or ran past its timeout
    │   ├── ProxyError              the proxy refused a config or a switch
    │   ├── Locked                  another greenroom holds the app's lock (exit 5)
    │   ├── RolloutStopped          another host of the rollout failed: this one stopped too
    │   ├── CanaryRolledBack        a canary breached its gates and was rolled back
    │   └── DeployFailed            a command's steps failed and were undone: carries the
    │                               timeline (`outcome`); exit code of the step's error
    └── GatewayError                a default gateway moved, or would move
        ├── GatewayWouldMove        refused before acting (exit 3)
        └── GatewayMoved            acted, and the gateway moved anyway (exit 4)

Adapters translate foreign exceptions into these at the boundary (`raise ... from exc`);
the CLI is the one place that prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greenroom.deploy.outcome import Outcome


class GreenroomError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text


class ConfigError(GreenroomError):
    exit_code = 2


class EngineError(GreenroomError):
    pass


class EngineUnreachable(EngineError):
    pass


class EngineHung(EngineUnreachable):
    """A call got no answer within the host's call bound (engine.call_timeout,
    hosts[].call_timeout): the engine is frozen or overloaded. Every later call of the
    command on that host fails at once with this error instead of waiting again. `seconds`:
    how long it was given (an ssh login may have more than the bound)."""

    def __init__(
        self, message: str, *, hint: str = "", where: str = "", seconds: float | None = None
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        self.seconds = seconds


class NotFound(EngineError):
    pass


class Conflict(EngineError):
    pass


class SubnetOverlap(EngineError):
    """The engine refused a network: its subnet overlaps one the engine already has (another
    greenroom took it meanwhile). The caller observes again and plans another."""


class RouteReadError(GreenroomError):
    pass


class SubnetExhausted(GreenroomError):
    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(
            message,
            where=where,
            hint=hint
            or "enlarge proxy.subnet_pool in greenroom.yml (e.g. a /16), or remove networks no longer used",
        )


class CertificateError(GreenroomError):
    pass


class DeployError(GreenroomError):
    pass


class HealthGateFailed(DeployError):
    pass


class ProxyError(DeployError):
    pass


class ReleaseFailed(DeployError):
    """The release command exited non-zero or ran past its timeout: nothing switched."""


class Locked(DeployError):
    exit_code = 5


class RolloutStopped(DeployError):
    """This host's deploy was stopped because another host of the rollout failed."""


class CanaryRolledBack(DeployError):
    pass


class DeployFailed(DeployError):
    """A command's steps failed (and what was done was undone): `outcome` has the
    timeline and the new version's last logs; the exit code is that of the step's error."""

    def __init__(
        self, message: str, *, outcome: Outcome, exit_code: int = 1, hint: str = "", where: str = ""
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        self.outcome = outcome
        self.exit_code = exit_code


class GatewayError(GreenroomError):
    pass


class GatewayWouldMove(GatewayError):
    exit_code = 3


class GatewayMoved(GatewayError):
    exit_code = 4


class LoadBalancerError(GreenroomError):
    pass
