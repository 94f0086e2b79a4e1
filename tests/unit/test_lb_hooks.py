"""before_host / after_host hooks: real short commands on this machine."""

from __future__ import annotations

import time

import pytest

from greenroom.errors import LoadBalancerError
from greenroom.lb.hooks import HookContext, run_hook

CTX = HookContext(host="app-2", phase="before_host", action="deploy", app="web", version="1.5")
SECRET = "hunter2-s3cr3t"


def test_a_hook_sees_host_app_version_phase_and_action() -> None:
    done = run_hook(
        'echo "$GREENROOM_HOST $GREENROOM_APP $GREENROOM_VERSION $GREENROOM_PHASE $GREENROOM_ACTION"',
        CTX,
        timeout=10,
        environ={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0
    assert done.output.strip() == "app-2 web 1.5 before_host deploy"


def test_a_list_runs_as_words_without_a_shell() -> None:
    done = run_hook(["printf", "%s|", "$GREENROOM_HOST", "a b"], CTX, timeout=10)
    assert done.output == "$GREENROOM_HOST|a b|"


def test_a_failing_hook_names_host_phase_and_exit_with_its_last_output_masked() -> None:
    with pytest.raises(LoadBalancerError) as info:
        run_hook(f"echo token={SECRET}; echo draining failed >&2; exit 3", CTX, timeout=10, secrets=[SECRET])
    err = info.value
    assert err.where == "load_balancer.hooks.before_host"
    assert "for host app-2 failed (exit 3)" in err.message
    assert "the host was not touched" in err.hint and "draining failed" in err.hint
    assert SECRET not in str(err) and "token=******" in err.hint


def test_a_secret_in_the_command_is_masked_where_it_is_shown() -> None:
    with pytest.raises(LoadBalancerError) as info:
        run_hook(["false", SECRET], CTX, timeout=10, secrets=[SECRET])
    assert SECRET not in str(info.value) and "false ******" in info.value.message


def test_a_hook_past_its_timeout_is_killed_with_its_children() -> None:
    started = time.monotonic()
    with pytest.raises(LoadBalancerError) as info:
        run_hook("echo waiting; sleep 30 & sleep 30; wait", CTX, timeout=0.5)
    assert time.monotonic() - started < 10
    assert "did not finish within 0.5s and was killed" in info.value.message
    assert "waiting" in info.value.hint and "load_balancer.hooks.timeout" in info.value.hint


def test_a_missing_program_is_a_clear_error() -> None:
    after = HookContext(host="app-1", phase="after_host")
    with pytest.raises(LoadBalancerError) as info:
        run_hook(["/nonexistent/lb-ctl", "up"], after, timeout=5)
    assert "cannot run the after_host hook `/nonexistent/lb-ctl up` for host app-1" in info.value.message
