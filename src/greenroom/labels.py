"""Docker labels are greenroom's state: every object it owns says what it is."""

from __future__ import annotations

PREFIX = "greenroom."
MANAGED = "greenroom.managed"
ROLE = "greenroom.role"
APP = "greenroom.app"
COLOR = "greenroom.color"
DEPLOY = "greenroom.deploy"
VERSION = "greenroom.version"
IMAGE = "greenroom.image"
DIGEST = "greenroom.digest"
CONFIG = "greenroom.config"
DEPLOYED_AT = "greenroom.deployed_at"
DEPLOYED_BY = "greenroom.deployed_by"
REPLICA = "greenroom.replica"
HOLDER = "greenroom.holder"
HOLDER_PID = "greenroom.holder_pid"
HOLDER_HOST = "greenroom.holder_host"
SINCE = "greenroom.since"
RELEASE_KEY = "greenroom.release_key"  # what a release command ran for: image ID and command

ROLE_APP = "app"
ROLE_PROXY = "proxy"
ROLE_LOCK = "lock"
ROLE_BACK = "back"
ROLE_FRONT = "front"
ROLE_HOME = "proxy-home"
ROLE_PROBE = "probe"
ROLE_RELEASE = "release"  # a release command's one-off container (kept, exited 0, as its record)
ROLE_RUN = "run"  # a one-off `greenroom run` container


def owned(role: str, app: str | None = None, **extra: str) -> dict[str, str]:
    out = {MANAGED: "true", ROLE: role}
    if app:
        out[APP] = app
    out.update({f"{PREFIX}{k}": v for k, v in extra.items()})
    return out


def back_network(app: str) -> str:
    return f"gr-{app}-back"


def front_network(app: str) -> str:
    return f"gr-{app}-front"


def container_name(app: str, color: str, deploy: str, replica: int) -> str:
    return f"{app}-{color}-{deploy}-{replica}"


def release_name(app: str, deploy: str) -> str:
    return f"{app}-release-{deploy}"


def lock_name(app: str) -> str:
    return f"greenroom-lock-{app}"


def other_color(color: str | None) -> str:
    return "green" if color == "blue" else "blue"
