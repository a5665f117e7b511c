"""The keep rules of retention on a fake clock: which backups of a group are kept (backend/keep.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from backend.keep import KeepPolicy, day_key, kept_by_group, kept_in_group, month_key, period_keys, week_key

START = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # a Thursday, 02:00 UTC


class FakeClock:
    """Hands out backups at times it is moved to; ids grow with time, as the database's do."""

    def __init__(self, start: datetime = START) -> None:
        self.at = start
        self.made: list[tuple[int, float]] = []

    def advance(self, **delta: float) -> FakeClock:
        self.at += timedelta(**delta)
        return self

    def backup(self) -> int:
        backup_id = len(self.made) + 1
        self.made.append((backup_id, self.at.timestamp()))
        return backup_id

    def newest_first(self) -> list[tuple[int, float]]:
        return sorted(self.made, reverse=True)

    def when(self, backup_id: int) -> str:
        return datetime.fromtimestamp(dict(self.made)[backup_id], UTC).strftime("%Y-%m-%d %H:%M")


def nightly(clock: FakeClock, nights: int, per_night: int = 1) -> list[int]:
    ids = []
    for _ in range(nights):
        for n in range(per_night):
            ids.append(clock.backup())
            clock.advance(minutes=10 * (n + 1))
        clock.at = clock.at.replace(hour=2, minute=0) + timedelta(days=1)
    return ids


def test_default_keeps_the_newest_alone_however_old() -> None:
    clock = FakeClock()
    ids = nightly(clock, 3)
    clock.advance(days=365)  # a year of failing nights: nothing newer, and the newest is still kept
    assert kept_in_group(clock.newest_first(), KeepPolicy()) == [ids[-1]]


def test_keep_last_keeps_the_newest_n() -> None:
    clock = FakeClock()
    ids = nightly(clock, 5)
    assert kept_in_group(clock.newest_first(), KeepPolicy(last=3)) == ids[:1:-1]
    assert kept_in_group(clock.newest_first(), KeepPolicy(last=10)) == ids[::-1]


def test_keep_daily_keeps_the_newest_of_each_day_that_has_one() -> None:
    clock = FakeClock()
    first = nightly(clock, 2, per_night=3)  # Jan 1 and 2, three backups each
    clock.advance(days=4)  # Jan 3..6 have none: they are not counted
    last = nightly(clock, 1, per_night=2)  # Jan 7
    kept = kept_in_group(clock.newest_first(), KeepPolicy(last=1, daily=3))
    assert kept == [last[1], first[5], first[2]]
    assert [clock.when(i) for i in kept] == ["2026-01-07 02:10", "2026-01-02 02:30", "2026-01-01 02:30"]


def test_keep_daily_uses_utc_days() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 23, 50, tzinfo=UTC))
    before_midnight = clock.backup()
    after_midnight = clock.advance(minutes=20).backup()
    assert kept_in_group(clock.newest_first(), KeepPolicy(daily=2)) == [after_midnight, before_midnight]


def test_keep_weekly_counts_iso_weeks() -> None:
    # 2026-01-01 is a Thursday of ISO week 2026-W01; Sunday 2026-01-04 ends it, Monday the 5th starts W02.
    clock = FakeClock()
    ids = nightly(clock, 14)  # Jan 1 .. Jan 14: W01 (1-4), W02 (5-11), W03 (12-14)
    kept = kept_in_group(clock.newest_first(), KeepPolicy(last=1, weekly=3))
    assert [clock.when(i)[:10] for i in kept] == ["2026-01-14", "2026-01-11", "2026-01-04"]
    assert kept == [ids[13], ids[10], ids[3]]


def test_iso_weeks_cross_the_new_year() -> None:
    # 2024-12-30 (Monday) belongs to ISO week 2025-W01, with 2025-01-01.
    clock = FakeClock(datetime(2024, 12, 29, 2, 0, tzinfo=UTC))  # Sunday of 2024-W52
    nightly(clock, 4)  # Dec 29, 30, 31, Jan 1
    kept = kept_in_group(clock.newest_first(), KeepPolicy(weekly=2))
    assert [clock.when(i)[:10] for i in kept] == ["2025-01-01", "2024-12-29"]


def test_keep_monthly_and_rules_combined() -> None:
    clock = FakeClock(datetime(2026, 1, 15, 2, 0, tzinfo=UTC))
    nightly(clock, 80)  # Jan 15 .. Apr 4
    kept = kept_in_group(clock.newest_first(), KeepPolicy(last=2, daily=3, weekly=2, monthly=3))
    assert [clock.when(i)[:10] for i in kept] == [
        "2026-04-04",  # last, daily, weekly (W14) and monthly (April)
        "2026-04-03",  # last, daily
        "2026-04-02",  # daily
        "2026-03-31",  # monthly: March's newest
        "2026-03-29",  # weekly: the Sunday ending W13
        "2026-02-28",  # monthly: February's newest
    ]


def test_a_rule_keeps_what_another_already_kept_once() -> None:
    clock = FakeClock()
    ids = nightly(clock, 2)
    assert kept_in_group(clock.newest_first(), KeepPolicy(last=2, daily=2, weekly=2, monthly=2)) == ids[::-1]


def test_reads_no_further_than_the_rules_need() -> None:
    clock = FakeClock()
    nightly(clock, 100)
    read: list[int] = []

    def lazily() -> Iterator[tuple[int, float]]:
        for pair in clock.newest_first():
            read.append(pair[0])
            yield pair

    assert len(kept_in_group(lazily(), KeepPolicy())) == 1 and len(read) == 1
    read.clear()
    assert len(kept_in_group(lazily(), KeepPolicy(last=2, daily=5))) == 5 and len(read) == 5


def test_groups_are_kept_apart() -> None:
    clock = FakeClock()
    files = [clock.backup() for _ in range(3)]
    sqlite = [clock.advance(hours=1).backup() for _ in range(2)]
    at = dict(clock.made)
    backups = [(("backup", "files"), i, at[i]) for i in files] + [(("backup", "sqlite"), i, at[i]) for i in sqlite]
    backups.append((("other", "files"), 99, at[1]))
    assert kept_by_group(reversed(backups), KeepPolicy()) == {files[-1], sqlite[-1], 99}


@pytest.mark.parametrize("bad", [{"last": 0}, {"last": -1}, {"daily": -1}, {"weekly": -2}, {"monthly": -3}])
def test_bad_policies_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KeepPolicy(**bad)


def test_period_keys_are_the_three_keys() -> None:
    """The backups table stores period_keys (one datetime per backup); keep.py's rules use each key alone."""
    rng = random.Random(3)
    # Around the new year, where the ISO week's year differs from the calendar year, and anywhere.
    times = [datetime(2024, 12, 28, tzinfo=UTC).timestamp() + h * 3600.0 for h in range(24 * 10)]
    times += [rng.uniform(0, 4_102_444_800) for _ in range(2000)]
    for at in times:
        assert period_keys(at) == (day_key(at), week_key(at), month_key(at)), at
