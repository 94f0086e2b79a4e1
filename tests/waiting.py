"""Waiting for a condition in tests: poll it until it holds or a generous deadline passes.

Tests assert what happens, never how long it took: a busy machine may be slow, so the deadline
only keeps a broken test from hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[..., Any], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
