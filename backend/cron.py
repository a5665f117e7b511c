"""Cron expressions in IANA time zones: checking, next fire times, the catch-up rule, a description.

Pure functions of their arguments (the clock is a parameter), so every rule here is tested in-process
with a fake clock. The arithmetic is cronsim's (a maintained library, the one healthchecks.io runs on),
with its Debian-cron rules for daylight-saving changes: a job at a fixed time that falls in the skipped
hour runs at the first minute after the gap, and one in the repeated hour runs once (the first pass).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ApiError

#: A firing this late is still run by a replica that was merely slow (a busy database, a paused process),
#: even with catch-up 0: catch-up is about fire times missed while no server ran.
LATE_GRACE = 60.0
# Walking fire times one by one is bounded: an every-minute cron over a catch-up window of a week is
# 10,080 steps (about 0.2 s); beyond this the window is cut, not the server's time.
MAX_STEPS = 20_000
# Files in the zoneinfo folder that are a machine's own setting, not a zone: each replica could differ.
MACHINE_ZONES = frozenset({"localtime", "posixrules"})
TIMEZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


def check_cron(value: object) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week), normalised to single spaces."""
    if not isinstance(value, str) or len(value) > 200:
        raise ApiError(400, "invalid_cron", "cron must be a text of five fields: minute hour dom month dow", "cron")
    fields = value.split()
    if len(fields) != 5:
        raise ApiError(
            400, "invalid_cron", "cron must have five fields: minute hour day-of-month month day-of-week", "cron"
        )
    expr = " ".join(fields)
    try:
        CronSim(expr, datetime(2026, 1, 1))
    except (CronSimError, ValueError, IndexError) as exc:
        raise ApiError(400, "invalid_cron", f"cron {expr!r} is not valid: {exc}", "cron") from exc
    return expr


def check_timezone(value: object) -> str:
    """An IANA time zone name that this machine (or the tzdata package) knows."""
    if value is None:
        return "UTC"
    if not isinstance(value, str) or len(value) > 64 or not TIMEZONE_NAME.fullmatch(value):
        raise ApiError(400, "invalid_timezone", "timezone must be an IANA name such as Europe/Berlin", "timezone")
    if value.lower() in MACHINE_ZONES:
        raise ApiError(
            400,
            "invalid_timezone",
            f"{value!r} is this machine's zone, not an IANA name such as Europe/Berlin",
            "timezone",
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ApiError(400, "invalid_timezone", f"unknown time zone {value!r}", "timezone") from exc
    return value


def next_fire(expr: str, timezone: str, after: float) -> float | None:
    """The first fire time strictly after `after` (epoch seconds), or None if the cron never fires again."""
    tz = ZoneInfo(timezone)
    start = datetime.fromtimestamp(math.floor(after), tz)
    sim = CronSim(expr, start)
    for _ in range(MAX_STEPS):
        try:
            when = next(sim).timestamp()
        except StopIteration:
            return None
        # Wall-clock arithmetic can step back across a repeated hour: only later instants count.
        if when > after:
            return when
    return None


@dataclass(frozen=True)
class Due:
    """What to do with a schedule whose next fire time has come."""

    fire_at: float | None  # the fire time to run now, or None when every missed one is too old
    next_run_at: float | None  # the first fire time after now
    # Fire times passed over besides the one that runs; when older ones fell outside the window they count
    # as one (the number is for the log line, and walking them all would cost time for nothing).
    skipped: int


def due(expr: str, timezone: str, next_run_at: float, now: float, catch_up: float) -> Due:
    """The catch-up rule: of the fire times from `next_run_at` to `now`, only the latest can run, and only
    if it is less than `catch_up` seconds old (or within LATE_GRACE); the others are skipped."""
    window = max(catch_up, LATE_GRACE)
    following = next_fire(expr, timezone, now)
    if next_run_at > now:
        return Due(None, next_run_at, 0)
    low = max(next_run_at, now - window)
    first = next_run_at if next_run_at >= low else next_fire(expr, timezone, math.ceil(low) - 1)
    skipped_before = 0 if first == next_run_at else 1  # at least one older fire time lies outside the window
    if first is None or first > now:
        return Due(None, following, 1)
    latest, steps = first, 0
    while steps < MAX_STEPS:
        nxt = next_fire(expr, timezone, latest)
        if nxt is None or nxt > now:
            break
        latest, steps = nxt, steps + 1
    return Due(latest, following, skipped_before + steps)


def describe(expr: str) -> str:
    """The cron in words, e.g. "At 02:00 every day" (cronsim's explainer), or the expression itself."""
    try:
        return str(CronSim(expr, datetime(2026, 1, 1)).explain())
    except Exception:  # an explainer gap must never fail a listing
        return expr
