"""Driving the console under Textual's pilot: shared by the console tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

#: The terminal size the console tests run at.
SIZE = (120, 40)


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Let the app run until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # the screen may still be composing
            value = None
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
