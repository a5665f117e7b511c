"""Key latency as the operator feels it: from a key reaching the app to its effect on screen.

Pilot.press waits for the whole process to go idle, which never happens while a stream flows,
so it cannot measure responsiveness; this posts the key as the driver does and polls the effect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import App


async def key_latency(app: App[Any], key: str, done: Callable[[], bool], timeout: float = 5.0) -> float:
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    began = time.perf_counter()
    app.post_message(event)
    while not done():
        if time.perf_counter() - began > timeout:
            raise AssertionError(f"key {key!r} had no effect within {timeout}s")
        await asyncio.sleep(0.001)
    return time.perf_counter() - began
