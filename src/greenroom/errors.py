"""The errors greenroom raises. Every one says what happened, where, and what to do.

    GreenroomError                  (exit code 1 unless noted)
    ├── ConfigError                 bad input: a field, a name, a value (exit 2)
    ├── EngineError                 the Docker engine refused or failed
    │   ├── EngineUnreachable       no engine at that address
    │   ├── NotFound                no such container / network / image
    │   └── Conflict                a name already taken (how locks are taken)
    ├── RouteReadError              the routes of a container could not be read
    ├── DeployError                 a deploy step failed; the old version still serves
    │   ├── HealthGateFailed        the new version never became healthy
    │   ├── ProxyError              the proxy refused a config or a switch
    │   └── Locked                  another greenroom holds the app's lock
    └── GatewayError                a default gateway moved, or would move
        ├── GatewayWouldMove        refused before acting (exit 3)
        └── GatewayMoved            acted, and the gateway moved anyway (exit 4)

Adapters translate foreign exceptions into these at the boundary (`raise ... from exc`);
the CLI is the one place that prints them.
"""

from __future__ import annotations


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


class NotFound(EngineError):
    pass


class Conflict(EngineError):
    pass


class RouteReadError(GreenroomError):
    pass


class DeployError(GreenroomError):
    pass


class HealthGateFailed(DeployError):
    pass


class ProxyError(DeployError):
    pass


class Locked(DeployError):
    exit_code = 5


class GatewayError(GreenroomError):
    pass


class GatewayWouldMove(GatewayError):
    exit_code = 3


class GatewayMoved(GatewayError):
    exit_code = 4
