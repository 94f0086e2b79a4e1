"""The pure core imports no engine SDK: config, the gateway rules, routes, sockets, subnets,
the nginx render, the proxy's model, the planner and its steps and pools, the doctor."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "greenroom.config",
    "greenroom.gateway.rules",
    "greenroom.gateway.decision",
    "greenroom.gateway.routes",
    "greenroom.sockets",
    "greenroom.subnets",
    "greenroom.proxy.render",
    "greenroom.proxy.model",
    "greenroom.deploy.state",
    "greenroom.deploy.steps",
    "greenroom.deploy.pools",
    "greenroom.deploy.plan",
    "greenroom.deploy.infrastructure",
    "greenroom.deploy.releases",
    "greenroom.deploy.release",
    "greenroom.deploy.worker",
    "greenroom.deploy.addresses",
    "greenroom.deploy.context",
    "greenroom.deploy.canary",
    "greenroom.deploy.staged_plan",
    "greenroom.config.canary",
    "greenroom.gateway.plan",
    "greenroom.gateway.doctor",
    "greenroom.secrets",
    "greenroom.config.fleet",
    "greenroom.lb.haproxy_text",
    "greenroom.fleet.rollout",
    "greenroom.engine.ssh_command",
    "greenroom.engine.bound",
    "greenroom.deploy.lease",
]


@pytest.mark.parametrize("module", PURE)
def test_module_imports_without_docker(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'docker' in sys.modules else 0)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{module} imports docker (directly or through another module)\n{res.stderr}"
