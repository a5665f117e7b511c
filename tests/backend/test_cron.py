"""Schedule arithmetic with a fake clock: next fire times, daylight-saving changes, the catch-up rule.

In-process and fast: the clock is a parameter of every function in backend/cron.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from backend.cron import LATE_GRACE, check_cron, check_timezone, describe, due, next_fire
from backend.errors import ApiError

BERLIN = ZoneInfo("Europe/Berlin")


def at(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def utc(ts: float | None) -> str:
    assert ts is not None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def fires(expr: str, tz: str, start: float, n: int) -> list[str]:
    out, t = [], start
    for _ in range(n):
        nxt = next_fire(expr, tz, t)
        assert nxt is not None and nxt > t
        out.append(utc(nxt))
        t = nxt
    return out


def test_next_fire_is_strictly_after_the_given_instant() -> None:
    start = at(ZoneInfo("UTC"), 2026, 5, 1, 2, 0)
    assert utc(next_fire("0 2 * * *", "UTC", start)) == "2026-05-02 02:00"
    assert utc(next_fire("0 2 * * *", "UTC", start - 0.5)) == "2026-05-01 02:00"
    assert fires("*/15 * * * *", "UTC", start, 3) == ["2026-05-01 02:15", "2026-05-01 02:30", "2026-05-01 02:45"]


def test_a_time_zone_moves_the_fire_time_in_utc() -> None:
    start = at(ZoneInfo("UTC"), 2026, 1, 10, 0, 0)
    assert utc(next_fire("0 2 * * *", "Europe/Berlin", start)) == "2026-01-10 01:00"  # CET, UTC+1
    assert utc(next_fire("0 2 * * *", "America/New_York", start)) == "2026-01-10 07:00"  # EST, UTC-5


def test_a_fixed_time_in_the_skipped_hour_runs_at_the_end_of_the_gap() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night.
    start = at(BERLIN, 2026, 3, 28, 12, 0)
    assert fires("30 2 * * *", "Europe/Berlin", start, 3) == [
        "2026-03-29 01:00",  # 03:00 CEST, the first minute after the gap
        "2026-03-30 00:30",  # 02:30 CEST
        "2026-03-31 00:30",
    ]


def test_a_fixed_time_in_the_repeated_hour_runs_once() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, it runs on the first.
    start = at(BERLIN, 2026, 10, 24, 12, 0)
    assert fires("30 2 * * *", "Europe/Berlin", start, 2) == ["2026-10-25 00:30", "2026-10-26 01:30"]


def test_an_hourly_cron_runs_every_elapsed_hour_across_both_changes() -> None:
    fall = fires("0 * * * *", "Europe/Berlin", at(BERLIN, 2026, 10, 25, 0, 30), 4)
    assert fall == ["2026-10-24 23:00", "2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 02:00"]
    spring = fires("0 * * * *", "Europe/Berlin", at(BERLIN, 2026, 3, 29, 0, 30), 3)
    assert spring == ["2026-03-29 00:00", "2026-03-29 01:00", "2026-03-29 02:00"]


def test_a_fire_time_not_yet_come_is_not_due() -> None:
    now = at(ZoneInfo("UTC"), 2026, 5, 1, 1, 0)
    nxt = at(ZoneInfo("UTC"), 2026, 5, 1, 2, 0)
    decision = due("0 2 * * *", "UTC", nxt, now, 3600)
    assert decision.fire_at is None and decision.next_run_at == nxt


def test_a_fire_time_that_just_came_runs_and_the_next_one_follows() -> None:
    fire = at(ZoneInfo("UTC"), 2026, 5, 1, 2, 0)
    decision = due("0 2 * * *", "UTC", fire, fire + 0.4, 3600)
    assert decision.fire_at == fire
    assert utc(decision.next_run_at) == "2026-05-02 02:00"
    assert decision.skipped == 0


def test_catch_up_runs_the_latest_missed_fire_time_once_when_recent() -> None:
    # Hourly, and no server ran from 10:00 to 15:30: only 15:00 runs (30 min old, within 3600 s).
    first_missed = at(ZoneInfo("UTC"), 2026, 5, 1, 10, 0)
    now = at(ZoneInfo("UTC"), 2026, 5, 1, 15, 30)
    decision = due("0 * * * *", "UTC", first_missed, now, 3600)
    assert utc(decision.fire_at) == "2026-05-01 15:00"
    assert utc(decision.next_run_at) == "2026-05-01 16:00"
    assert decision.skipped >= 1


def test_catch_up_skips_a_missed_fire_time_older_than_the_window() -> None:
    missed = at(ZoneInfo("UTC"), 2026, 5, 1, 2, 0)
    now = at(ZoneInfo("UTC"), 2026, 5, 1, 5, 0)  # three hours late, the window is one
    decision = due("0 2 * * *", "UTC", missed, now, 3600)
    assert decision.fire_at is None
    assert utc(decision.next_run_at) == "2026-05-02 02:00"
    assert decision.skipped == 1
    # With a wider window the same fire time still runs.
    assert due("0 2 * * *", "UTC", missed, now, 4 * 3600).fire_at == missed


def test_catch_up_zero_still_runs_a_fire_time_a_busy_replica_reaches_late() -> None:
    fire = at(ZoneInfo("UTC"), 2026, 5, 1, 2, 0)
    assert due("0 2 * * *", "UTC", fire, fire + LATE_GRACE / 2, 0).fire_at == fire
    assert due("0 2 * * *", "UTC", fire, fire + LATE_GRACE * 2, 0).fire_at is None


def test_cron_expressions_are_checked() -> None:
    assert check_cron("  0   2 * *  1-5 ") == "0 2 * * 1-5"
    for bad in ("61 * * * *", "* * * *", "0 0 * * * *", "0 0 31 2 *", "x * * * *", "", None, 5):
        with pytest.raises(ApiError) as err:
            check_cron(bad)
        assert (err.value.status, err.value.error, err.value.field) == (400, "invalid_cron", "cron")


def test_time_zones_are_checked() -> None:
    assert check_timezone(None) == "UTC"
    assert check_timezone("America/Argentina/Buenos_Aires") == "America/Argentina/Buenos_Aires"
    for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime", "Europe/", "", 3):
        with pytest.raises(ApiError) as err:
            check_timezone(bad)
        assert err.value.error == "invalid_timezone"


def test_describe_says_the_cron_in_words() -> None:
    assert describe("0 2 * * *") == "At 02:00 every day"
    assert describe("* * * * *") == "Every minute"
