"""The backups table: what GET /backups lists, /metrics reports and retention keeps.

A row is written in the transaction that ends a successful Operation publishing
`artifacts.redrunner_backup` (transitions.record_operations_finished), and goes with its Operation (a
foreign key, ON DELETE CASCADE). A successful Operation in a Job tagged `<tag>-verify` that publishes
`redrunner_verify: {backup_path, verified_at}` sets `verified_at` of the `<tag>` backups at that path.
Which rows are kept is computed per group (`<tag>/<unit>`) by keep.py's rules, asked of the indexes by
keep_query.py: one statement for all the groups wanted, a probe per kept backup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from . import keep_query
from .db import BackupRecord, Job, Operation
from .keep import KeepPolicy, period_keys
from .paging import decode_cursor, encode_cursor
from .sql import cursor, is_postgres, records_in, records_sql
from .statuses import OperationStatus
from .timeutil import iso
from .validation import check_tag, check_unit_name

VERIFY_SUFFIX = "-verify"


def group_key(tag: str, unit: str) -> str:
    return f"{tag}/{unit}"


def _published(text: str | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(redrunner_backup, redrunner_verify) of an Operation's stored artifacts, each a dict or None."""
    if not text:
        return None, None
    try:
        found = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(found, dict):
        return None, None
    backup, verify = found.get("redrunner_backup"), found.get("redrunner_verify")
    return (backup if isinstance(backup, dict) else None), (verify if isinstance(verify, dict) else None)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= limit else None


def _epoch(value: Any, default: float) -> float:
    """Epoch seconds from a published time (ISO 8601, or a number); `default` when it is neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return default
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return default


def record(ops: Iterable[Any], tags: dict[int, str], fresh: bool = False) -> None:
    """Store what these just-ended Operations (records with the Operation's columns) published; call it
    inside the transaction that made them terminal. `fresh` (the backfill, into an empty table) inserts
    the rows in batches without looking for them first."""
    rows: list[dict[str, Any]] = []
    verifies: list[tuple[str, str, float]] = []
    for op in ops:
        if op.status != OperationStatus.SUCCESSFUL or not op.artifacts or op.job_id not in tags:
            continue
        backup, verify = _published(op.artifacts)
        tag = tags[op.job_id]
        ended = float(op.finished_at or 0.0)
        if backup is not None:
            rows.append(_row(op, tag, ended, backup))
        path = _text_or_none((verify or {}).get("backup_path"), 4096)
        if path is not None and tag.endswith(VERIFY_SUFFIX):
            verifies.append((tag[: -len(VERIFY_SUFFIX)], path, _epoch((verify or {}).get("verified_at"), ended)))
    if fresh:
        _insert(rows)
    else:
        for row in rows:
            if not BackupRecord.select().where(BackupRecord.operation == row["operation"]).exists():
                BackupRecord.insert(**row).execute()
    # After the backups: a drill in the same batch may verify one of them.
    for tag, path, verified in verifies:
        BackupRecord.update(verified_at=verified).where(
            (BackupRecord.tag == tag)
            & (BackupRecord.path == path)
            & (BackupRecord.verified_at.is_null() | (BackupRecord.verified_at < verified))
        ).execute()


def _row(op: Any, tag: str, ended: float, backup: dict[str, Any]) -> dict[str, Any]:
    day, week, month = period_keys(ended)
    return {
        "operation": op.id,
        "job": op.job_id,
        "tag": tag,
        "unit": op.unit_name,
        "grp": group_key(tag, op.unit_name),
        "created_at": ended,
        "day": day,
        "week": week,
        "month": month,
        "path": _text_or_none(backup.get("path"), 4096),
        "size": _int_or_none(backup.get("size")),
        "sha256": _text_or_none(backup.get("sha256"), 128),
    }


_FIELDS = ("operation", "job", "tag", "unit", "grp", "created_at", "day", "week", "month", "path", "size", "sha256")


def _insert(rows: list[dict[str, Any]]) -> None:
    """One prepared INSERT for all the rows: peewee's insert_many spent ~80% of the backfill building SQL."""
    if not rows:
        return
    fields = BackupRecord._meta.fields
    columns = ", ".join(f'"{fields[name].column_name}"' for name in _FIELDS)
    values = [tuple(row[name] for name in _FIELDS) for row in rows]
    batch = cursor()
    if is_postgres():
        from psycopg2.extras import execute_values

        execute_values(batch, f"INSERT INTO backup_record ({columns}) VALUES %s", values, page_size=500)
    else:
        batch.executemany(f"INSERT INTO backup_record ({columns}) VALUES ({', '.join('?' * len(_FIELDS))})", values)


def backfill(batch: int = 900) -> None:
    """Record the backups and verifications among the Operations already stored (the migration, into
    the table it has just created)."""
    after = 0
    while True:
        ops = records_sql(
            'SELECT id, job_id, unit_name, status, finished_at, artifacts FROM "operation" '
            "WHERE id > ? AND status = ? AND artifacts IS NOT NULL ORDER BY id LIMIT ?",
            [after, str(OperationStatus.SUCCESSFUL), batch],
        )
        if not ops:
            return
        job_ids = sorted({o.job_id for o in ops})
        tags = {j.id: j.tag for j in records_in(Job, "id", job_ids, columns="id, tag")}
        record(ops, tags, fresh=True)
        after = ops[-1].id


# -- reading --------------------------------------------------------------------------------------


def kept_in(groups: Iterable[str], policy: KeepPolicy) -> set[int]:
    """The operation ids of the kept backups of these groups (one statement)."""
    wanted = sorted(set(groups))
    if not wanted:
        return set()
    found = keep_query.kept(policy, keep_query.given_groups(len(wanted)), wanted, "r.operation_id")
    return {int(row[0]) for row in found}


def kept_jobs(policy: KeepPolicy) -> set[int]:
    """The Jobs that hold a kept backup: retention never prunes them. One statement over every group."""
    found = keep_query.kept(policy, keep_query.ALL_GROUPS, [], "DISTINCT r.job_id")
    return {int(row[0]) for row in found}


def holds_kept(job_id: int, policy: KeepPolicy) -> bool:
    """Whether one of the Job's Operations holds a kept backup (checked again just before a prune)."""
    found = keep_query.kept(policy, keep_query.JOB_GROUPS, [job_id], "r.job_id")
    return any(int(row[0]) == job_id for row in found)


def backup_dict(row: Any, kept: bool) -> dict[str, Any]:
    return {
        "job_id": row.job_id,
        "operation_id": row.operation_id,
        "tag": row.tag,
        "unit": row.unit,
        "path": row.path,
        "size": row.size,
        "sha256": row.sha256,
        "created_at": iso(row.created_at),
        "kept": kept,
        "verified_at": iso(row.verified_at),
    }


def page(
    tag: str | None, unit: str | None, limit: int, before: int | None, policy: KeepPolicy
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of backups newest first (by operation id) and the last id when more follow."""
    where: list[str] = []
    params: list[Any] = []
    if tag is not None and unit is not None:
        where.append("grp = ?")
        params.append(group_key(tag, unit))
    elif tag is not None:
        where.append("tag = ?")
        params.append(tag)
    elif unit is not None:
        where.append("unit = ?")
        params.append(unit)
    if before is not None:
        where.append("operation_id < ?")
        params.append(before)
    sql = "SELECT * FROM backup_record" + (" WHERE " + " AND ".join(where) if where else "")
    found = records_sql(sql + " ORDER BY operation_id DESC LIMIT ?", [*params, limit + 1])
    rows = found[:limit]
    kept = kept_in({r.grp for r in rows}, policy)
    items = [backup_dict(r, r.operation_id in kept) for r in rows]
    return items, (int(rows[-1].operation_id) if len(found) > limit else None)


def listing(policy: KeepPolicy, tag: str | None, unit: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /backups: newest first, each with whether retention keeps it and when it was verified."""
    tag = check_tag(tag) if tag is not None else None
    unit = check_unit_name(unit, "unit") if unit is not None else None
    items, last = page(tag, unit, limit, decode_cursor(cursor), policy)
    return {"items": items, "next": encode_cursor(last) if last is not None else None}


def latest_by_group() -> list[tuple[str, str, float, float | None]]:
    """(tag, unit, newest backup's time, newest verification's time) of every group, in group order.

    One statement for all the groups (/metrics asks on every scrape; a statement per group was a round trip
    each on PostgreSQL): per group, one probe each of the loose scan, the (grp, operation) index for the
    newest backup, the (grp, verified_at) index for the newest verification, and the newest backup's row."""
    found = records_sql(
        f"WITH RECURSIVE {keep_query.ALL_GROUPS}, "
        "n(grp, id, verified) AS (SELECT grp, "
        "(SELECT MAX(operation_id) FROM backup_record b WHERE b.grp = g.grp), "
        "(SELECT MAX(verified_at) FROM backup_record v WHERE v.grp = g.grp) "
        "FROM g WHERE grp IS NOT NULL) "
        "SELECT r.tag, r.unit, r.created_at, n.verified FROM n JOIN backup_record r ON r.operation_id = n.id "
        "ORDER BY n.grp",
        [],
    )
    return [(row.tag, row.unit, float(row.created_at), row.verified) for row in found]


def job_backups(job_id: int) -> dict[str, dict[str, Any]]:
    """Unit name -> its newest successful backup Operation in the Job: one that published
    redrunner_backup, or, for the seed's plain playbooks that publish nothing, a successful
    `backup-<unit>.yml`. The dict has `operation_id` and, where published, `path`, `sha256` and `host`
    (the host the backup lives on, for a component that keeps its backups elsewhere)."""
    found: dict[str, dict[str, Any]] = {}
    ops = (
        Operation.select(Operation.id, Operation.unit_name, Operation.action, Operation.artifacts)
        .where((Operation.job == job_id) & (Operation.status == OperationStatus.SUCCESSFUL))
        .order_by(Operation.id.desc())
    )
    for op in ops:
        if op.unit_name in found:
            continue
        backup, _ = _published(op.artifacts)
        if backup is None and op.action != f"backup-{op.unit_name}.yml":
            continue
        found[op.unit_name] = {
            "operation_id": op.id,
            "path": _text_or_none((backup or {}).get("path"), 4096),
            "sha256": _text_or_none((backup or {}).get("sha256"), 128),
            "host": _text_or_none((backup or {}).get("host"), 255),
        }
    return found
