"""The API's reads: Jobs, Units, Operations, their events and output, playbooks, and counts.

All methods are blocking and run in the database thread pool (never on the IOLoop).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import peewee as pw

from . import terminal_text
from .config import Settings
from .db import ACTIVE, TERMINAL, EmbeddedDatabase, Event, Job, Operation, Unit
from .errors import ApiError, invalid_parameter
from .paging import newest_first
from .serialize import RenderedOperations, event_dict, job_dict, operation_dict, unit_dict
from .sql import database, execute_sql, records, records_in, rows, rows_in
from .statuses import JobStatus, OperationStatus
from .validation import check_tag, check_unit_name

JOB_STATUSES = tuple(str(s) for s in JobStatus)
OP_STATUSES = tuple(str(s) for s in OperationStatus)


def job_or_404(job_id: int) -> Job:
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job {job_id}")
    return job


class Queries:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rendered_operations = RenderedOperations()

    def units_of(self, job_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Units of the given jobs, each with its operation ids (newest first) and latest operation."""
        result: dict[int, list[dict[str, Any]]] = {jid: [] for jid in job_ids}
        if not job_ids:
            return result
        units = records_in(Unit, "job_id", job_ids, order="id")
        op_ids: dict[int, list[int]] = {u.id: [] for u in units}
        for op in records_in(Operation, "job_id", job_ids, order="id DESC", columns="id, unit_id"):
            op_ids[op.unit_id].append(op.id)
        latest_ids = [ids[0] for ids in op_ids.values() if ids]
        latest: dict[int, dict[str, Any]] = {}
        if latest_ids:
            names, found = rows_in(Operation, "id", latest_ids)
            unit_id = names.index("unit_id")
            latest = {row[unit_id]: self.rendered_operations.render(names, row) for row in found}
        for unit in units:
            result[unit.job_id].append(unit_dict(unit, op_ids[unit.id], latest.get(unit.id)))
        return result

    def job(self, job_id: int) -> dict[str, Any]:
        job = job_or_404(job_id)
        return job_dict(job, self.units_of([job.id])[job.id])

    def jobs(self, tag: str | None, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        query = Job.select()
        if tag is not None:
            query = query.where(Job.tag == check_tag(tag))
        if status is not None:
            if status not in JOB_STATUSES:
                raise invalid_parameter("status", f"status must be one of {', '.join(JOB_STATUSES)}")
            query = query.where(Job.status == status)
        page, next_cursor = newest_first(query, Job.id, limit, cursor, plain=True)
        units = self.units_of([j.id for j in page])
        return {"items": [job_dict(j, units[j.id]) for j in page], "next": next_cursor}

    def latest_job(self, tag: str) -> dict[str, Any]:
        job = Job.select().where(Job.tag == check_tag(tag)).order_by(Job.id.desc()).first()
        if job is None:
            raise ApiError(404, "job_not_found", f"no job with tag {tag}")
        return job_dict(job, self.units_of([job.id])[job.id])

    def unit(self, job_id: int, name: str) -> dict[str, Any]:
        job_or_404(job_id)
        check_unit_name(name)
        for unit in self.units_of([job_id])[job_id]:
            if unit["name"] == name:
                return unit
        raise ApiError(404, "unit_not_found", f"job {job_id} has no unit {name}")

    def units(self, job_id: int) -> dict[str, Any]:
        job_or_404(job_id)
        return {"items": self.units_of([job_id])[job_id], "next": None}

    def operation(self, op_id: int) -> dict[str, Any]:
        # Read on every long-poll wake-up and after every start: as a string, not built by peewee.
        found = records_in(Operation, "id", [op_id])
        if not found:
            raise ApiError(404, "operation_not_found", f"no operation {op_id}")
        return operation_dict(found[0])

    def operations(
        self,
        job_id: int | None,
        unit: str | None,
        status: str | None,
        action: str | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        query = Operation.select()
        if job_id is not None:
            query = query.where(Operation.job == job_id)
        if unit is not None:
            query = query.where(Operation.unit_name == check_unit_name(unit, "unit"))
        if status is not None:
            if status not in OP_STATUSES:
                raise invalid_parameter("status", f"status must be one of {', '.join(OP_STATUSES)}")
            query = query.where(Operation.status == status)
        if action is not None:
            query = query.where(Operation.action == action)
        page, next_cursor = newest_first(query, Operation.id, limit, cursor)
        return {"items": [operation_dict(o) for o in page], "next": next_cursor}

    def events(self, op_id: int, after: int, limit: int) -> dict[str, Any]:
        op = Operation.get_or_none(Operation.id == op_id)
        if op is None:
            raise ApiError(404, "operation_not_found", f"no operation {op_id}")
        # Status is read before the events: a terminal status is only committed after all its events.
        terminal = op.status in TERMINAL
        items = self.event_page(op_id, after, limit)
        next_after = items[-1]["seq"] if items else after
        return {"items": items, "next_after": next_after, "complete": terminal and next_after >= op.event_count}

    def event_page(self, op_id: int, after: int, limit: int, upto: int | None = None) -> list[dict[str, Any]]:
        query = Event.select().where((Event.operation == op_id) & (Event.seq > after))
        if upto is not None:
            query = query.where(Event.seq <= upto)
        return [event_dict(ev, op_id) for ev in records(query.order_by(Event.seq).limit(limit))]

    def stdout_chunks(self, op_id: int, ansi: bool = False, chunk_events: int = 2000) -> Iterator[str]:
        """The output in pieces, safe for a terminal: plain text, or with its colours (SGR) only if `ansi`;
        no other escape sequence or control character ever (backend/terminal_text.py)."""
        self.operation(op_id)
        after = 0
        while True:
            page = rows(
                Event.select(Event.seq, Event.stdout)
                .where((Event.operation == op_id) & (Event.seq > after))
                .order_by(Event.seq)
                .limit(chunk_events)
            )
            if not page:
                return
            after = page[-1][0]
            text = "".join(f"{text}\n" for _, text in page if text)
            yield terminal_text.for_terminal(text, ansi)

    def playbooks(self, unit: str | None) -> dict[str, Any]:
        if unit is not None:
            check_unit_name(unit, "unit")
        root = self.settings.project_dir
        items = []
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.suffix not in (".yml", ".yaml") or not path.is_file():
                continue
            stem = path.stem
            action, _, component = stem.partition("-")
            if unit is not None and component != unit:
                continue
            items.append({"name": path.name, "action": action, "component": component or None})
        return {"items": items, "next": None}

    def ping(self) -> bool:
        db = database()
        if isinstance(db, EmbeddedDatabase):
            db.check_file()
        execute_sql("SELECT 1", db=db).fetchone()
        return True

    def operation_counts(self) -> dict[str, int]:
        """How many Operations are in each status (for /metrics)."""
        query = Operation.select(Operation.status, pw.fn.COUNT(Operation.id)).group_by(Operation.status)
        return {str(s): int(n) for s, n in rows(query)}

    def activity_since(self, since: float) -> tuple[list[tuple[int, int, int]], list[int], list[int]]:
        """What may have changed since `since`, for a change-notice listener back from an outage: the
        active Operations (id, job id, event count), the ids of those finished since, and new Jobs' ids."""
        active = [
            (int(i), int(j), int(n))
            for i, j, n in rows(
                Operation.select(Operation.id, Operation.job, Operation.event_count).where(Operation.status.in_(ACTIVE))
            )
        ]
        finished = [int(i) for (i,) in rows(Operation.select(Operation.id).where(Operation.finished_at >= since))]
        new_jobs = [int(i) for (i,) in rows(Job.select(Job.id).where(Job.created_at >= since))]
        return active, finished, new_jobs
