"""Which backups retention keeps (api.md "Backups kept and proven"). Pure: no database, no clock.

Backups are grouped by (the Job's tag, the Unit's name). In each group, walking from the newest: the
newest `last` are kept, plus the newest one of each of the last `daily` days, `weekly` ISO weeks and
`monthly` months that have one (UTC), as restic's and borg's --keep-* do. The calendar rules count
periods that have a backup, not periods back from today, so what is kept depends on the backups alone:
a week of failing nights never makes the last good backup "too old" to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class KeepPolicy:
    last: int = 1
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        # The newest good backup of every group is never given up: --keep-last 0 is refused at start.
        if self.last < 1:
            raise ValueError("keep-last must be at least 1")
        if min(self.daily, self.weekly, self.monthly) < 0:
            raise ValueError("keep-daily, keep-weekly and keep-monthly must be >= 0")


# The calendar periods as whole numbers, so the database can store, index and group by them too
# (backup_records.py asks it for the newest backup of each of a group's last N periods).


def day_key(at: float) -> int:
    """The UTC day: its proleptic Gregorian ordinal."""
    return datetime.fromtimestamp(at, UTC).date().toordinal()


def week_key(at: float) -> int:
    """The ISO week as YYYYWW (ISO year: 2024-12-30 is in 2025's week 1)."""
    year, week, _ = datetime.fromtimestamp(at, UTC).isocalendar()
    return year * 100 + week


def month_key(at: float) -> int:
    """The UTC month as YYYYMM."""
    d = datetime.fromtimestamp(at, UTC)
    return d.year * 100 + d.month


def period_keys(at: float) -> tuple[int, int, int]:
    """day_key, week_key and month_key of one time, from one datetime (the backfill makes 100,000)."""
    d = datetime.fromtimestamp(at, UTC)
    year, week, _ = d.isocalendar()
    return d.date().toordinal(), year * 100 + week, d.year * 100 + d.month


PERIODS: tuple[tuple[str, Callable[[float], int]], ...] = (
    ("daily", day_key),
    ("weekly", week_key),
    ("monthly", month_key),
)


def kept_in_group(newest_first: Iterable[tuple[int, float]], policy: KeepPolicy) -> list[int]:
    """The ids of one group's backups that `policy` keeps, from (id, created_at) pairs newest first.

    Reads the pairs only as far as a rule still wants one, so a lazy source (pages of a query) is
    read no further than needed: with the default policy, one row."""
    rules: list[tuple[Callable[[float], int], list[int | None], int]] = [
        (period, [None], getattr(policy, name)) for name, period in PERIODS if getattr(policy, name) > 0
    ]
    wanted = [count for _, _, count in rules]
    kept: list[int] = []
    for index, (backup_id, at) in enumerate(newest_first):
        keep = index < policy.last
        for i, (period, last_seen, _) in enumerate(rules):
            if wanted[i] <= 0:
                continue
            bucket = period(at)
            if bucket != last_seen[0]:
                last_seen[0] = bucket
                wanted[i] -= 1
                keep = True
        if keep:
            kept.append(backup_id)
        if index + 1 >= policy.last and all(w <= 0 for w in wanted):
            break
    return kept


def kept_by_group(backups: Iterable[tuple[Hashable, int, float]], policy: KeepPolicy) -> set[int]:
    """The ids kept across groups, from (group, id, created_at) in any order; newest is the larger id."""
    groups: dict[Hashable, list[tuple[int, float]]] = {}
    for group, backup_id, at in backups:
        groups.setdefault(group, []).append((backup_id, at))
    kept: set[int] = set()
    for members in groups.values():
        members.sort(reverse=True)
        kept.update(kept_in_group(members, policy))
    return kept
