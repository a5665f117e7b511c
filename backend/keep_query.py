"""keep.py's rules asked of the backups table's indexes: which backups a set of groups keeps, in one statement.

Per group, `--keep-last N` is N probes of the (grp, operation) index from the newest; each calendar rule
hops from one period that has a backup to the one before (a recursive loose index scan of the (grp,
period, operation) index, one probe per period), so the cost is the rules' counts per group however many
backups a group or a period holds. All the groups asked about go through one statement (a recursive CTE
seeded with one row per group), not one statement each: retention asks about every group once per pass,
and on PostgreSQL a statement each would be a round trip each.

It is keep.kept_in_group's rule; they agree while operation ids grow with time, as they do.
"""

from __future__ import annotations

from typing import Any

from .db import database_proxy
from .keep import PERIODS, KeepPolicy

# keep.PERIODS' rules by the column holding their period.
PERIOD_COLUMNS = {"daily": "day", "weekly": "week", "monthly": "month"}

# A hop yields a period and that period's newest backup from one probe by packing both into one integer
# (a scalar subquery returns one value): period * SHIFT + operation id. Day ordinals stay below 2**20
# (year 2870), week and month keys (YYYYWW, YYYYMM) below 2**18, so with ids below SHIFT the product fits a
# signed 64-bit integer. Unpacked (two probes a period: the period, then its newest) above that.
SHIFT = 2**43

# Which groups a statement is about: every group with a backup (a loose index scan, one probe each), the
# groups given, or the groups of one Job's backups.
ALL_GROUPS = (
    "g(grp) AS (SELECT MIN(grp) FROM backup_record UNION ALL "
    "SELECT (SELECT MIN(grp) FROM backup_record WHERE grp > g.grp) FROM g WHERE g.grp IS NOT NULL)"
)
JOB_GROUPS = "g(grp) AS (SELECT DISTINCT grp FROM backup_record WHERE job_id = ?)"


def given_groups(count: int) -> str:
    return "g(grp) AS (VALUES " + ", ".join(["(?)"] * count) + ")"


def _last(policy: KeepPolicy) -> tuple[str, str, list[Any]]:
    cte = (
        "l(grp, id, n) AS (SELECT grp, (SELECT MAX(operation_id) FROM backup_record b WHERE b.grp = g.grp), 1 "
        "FROM g WHERE grp IS NOT NULL UNION ALL "
        "SELECT grp, (SELECT MAX(operation_id) FROM backup_record b WHERE b.grp = l.grp AND b.operation_id < l.id), "
        "n + 1 FROM l WHERE l.id IS NOT NULL AND n < ?)"
    )
    return cte, "SELECT id FROM l WHERE id IS NOT NULL", [policy.last]


def _period(name: str, c: str, count: int, packed: bool) -> tuple[str, str, list[Any]]:
    """The CTE `name` hopping over one calendar rule's last `count` periods (column `c`), and the select of
    their newest backups."""
    if packed:

        def probe(outer: str, before: str = "") -> str:
            return (
                f"(SELECT {c} * {SHIFT} + operation_id FROM backup_record b WHERE b.grp = {outer}.grp{before} "
                f"ORDER BY {c} DESC, operation_id DESC LIMIT 1)"
            )

        step = probe(name, f" AND b.{c} < {name}.k / {SHIFT}")
        # Not `%`: psycopg2 reads it as a parameter mark.
        newest = f"SELECT k - k / {SHIFT} * {SHIFT} FROM {name} WHERE k IS NOT NULL"
    else:

        def probe(outer: str, before: str = "") -> str:
            return f"(SELECT MAX({c}) FROM backup_record b WHERE b.grp = {outer}.grp{before})"

        step = probe(name, f" AND b.{c} < {name}.k")
        newest = (
            f"SELECT (SELECT MAX(operation_id) FROM backup_record b WHERE b.grp = {name}.grp AND b.{c} = {name}.k) "
            f"FROM {name} WHERE k IS NOT NULL"
        )
    cte = (
        f"{name}(grp, k, n) AS (SELECT grp, {probe('g')}, 1 FROM g WHERE grp IS NOT NULL UNION ALL "
        f"SELECT grp, {step}, n + 1 FROM {name} WHERE {name}.k IS NOT NULL AND n < ?)"
    )
    return cte, newest, [count]


def kept_sql(policy: KeepPolicy, groups: str, select: str, packed: bool = True) -> tuple[str, list[Any]]:
    """`SELECT select FROM backup_record r WHERE r.operation_id IN (the kept ones of groups)`, and the
    parameters that follow the ones `groups` (a CTE named g, above) marks. `packed` only while every
    operation id is below SHIFT (`packable`)."""
    ctes, kept, params = [groups], [], []
    parts = [_last(policy)] + [
        _period(name + "_p", PERIOD_COLUMNS[name], getattr(policy, name), packed)
        for name, _ in PERIODS
        if getattr(policy, name) > 0
    ]
    for cte, select_kept, more in parts:
        ctes.append(cte)
        kept.append(select_kept)
        params += more
    sql = (
        "WITH RECURSIVE " + ", ".join(ctes) + f" SELECT {select} FROM backup_record r "
        "WHERE r.operation_id IN (" + " UNION ALL ".join(kept) + ")"
    )
    return sql, params


def packable() -> bool:
    found = execute("SELECT MAX(operation_id) FROM backup_record", [])
    return not found or found[0][0] is None or int(found[0][0]) < SHIFT


def execute(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    if database_proxy.param != "?":
        sql = sql.replace("?", database_proxy.param)
    return list(database_proxy.execute_sql(sql, params).fetchall())


def kept(policy: KeepPolicy, groups: str, group_params: list[Any], select: str) -> list[tuple[Any, ...]]:
    """The rows of `select` over the kept backups of `groups` (its parameters `group_params`)."""
    sql, params = kept_sql(policy, groups, select, packable())
    return execute(sql, group_params + params)
