"""Times as the console shows them; functions take `now` so screens (and snapshots) stay deterministic."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ts(value: str | None) -> datetime | None:
    """The contract's ISO 8601 UTC timestamps (`...Z`); None for missing or malformed values."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float | None) -> str:
    """Compact: `42s`, `3m05s`, `2h04m`."""
    if seconds is None:
        return "—"
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def relative(value: str | None, now: datetime) -> str:
    """`just now`, `5m ago`, `3h ago`, `2d ago`."""
    moment = parse_ts(value)
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def elapsed(start: str | None, end: str | None, now: datetime) -> float | None:
    """Seconds an Operation has run: to `end` when finished, else to `now`."""
    begin = parse_ts(start)
    if begin is None:
        return None
    stop = parse_ts(end) or now
    return max(0.0, (stop - begin).total_seconds())
