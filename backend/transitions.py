"""What every change of an Operation does inside the caller's transaction: the one insert of an Operation
row, the Job's stored status, the webhook outbox's `operation.finished` and `job.finished`, the next
attempt of a retry chain, and marking Operations lost.

Nothing here opens a transaction or publishes: the caller (commands, run_queue, the writer) does both,
the publishing after its commit.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import peewee as pw

from . import backup_records, outbox
from .config import Settings
from .db import ACTIVE, Job, Operation, Unit
from .queries import Queries
from .retries import wants_retry
from .run_request import RunRequest, stored_request
from .serialize import derive_job_status, operation_dict
from .sql import insert_sql, is_postgres, records_in, records_sql
from .statuses import OperationStatus
from .timeutil import now

log = logging.getLogger(__name__)


class Transitions:
    def __init__(self, settings: Settings, queries: Queries) -> None:
        self.settings = settings
        self.queries = queries

    def insert_operation(
        self,
        job_id: int,
        unit: Unit,
        action: str,
        request: RunRequest,
        *,
        attempt: int = 1,
        retry_of: int | None = None,
        rerun_of: int | None = None,
        not_before: float | None = None,
    ) -> int:
        """Insert one pending Operation: the one path for a Unit, /actions, /rerun and retries."""
        timeout = request.timeout
        if timeout is None and self.settings.operation_timeout > 0:
            timeout = self.settings.operation_timeout
        # The previous successful run's task count: this run's progress estimate.
        previous = records_sql(
            'SELECT tasks_done FROM "operation" WHERE action = ? AND unit_name = ? AND status = ? '
            "ORDER BY id DESC LIMIT 1",
            [action, unit.name, OperationStatus.SUCCESSFUL.value],
        )
        return insert_sql(
            Operation,
            dict(
                job=job_id,
                unit=unit.id,
                unit_name=unit.name,
                action=action,
                status="pending",
                created_at=now(),
                extravars=json.dumps(request.extravars),
                timeout=timeout,
                tasks_total=previous[0].tasks_done if previous else None,
                check_mode=request.check,
                diff_mode=request.diff,
                attempt=attempt,
                retries=request.retries,
                retry_delay=request.retry_delay,
                retry_of=retry_of,
                rerun_of=rerun_of,
                not_before=not_before,
            ),
        )

    def schedule_retry(self, op_id: int) -> int | None:
        """The retry hook: call it inside the transaction that has just made Operation `op_id` terminal.

        When the ending is retryable and retries are left, inserts the next attempt (same request,
        attempt + 1, retry_of = op_id), pending until `retry_delay` has passed, and returns its id; the
        caller publishes it after the commit. The caller refreshes the Job's status after this."""
        found = records_in(Operation, "id", [op_id])
        op = found[0] if found else None
        if op is None or not wants_retry(op.status, op.attempt, op.retries, bool(op.cancel_requested), op.error):
            return None
        unit = Unit.get_or_none(Unit.id == op.unit_id)
        if unit is None:
            return None
        request = stored_request(op)
        retry_id = self.insert_operation(
            op.job_id,
            unit,
            op.action,
            request,
            attempt=op.attempt + 1,
            retry_of=op.id,
            rerun_of=op.rerun_of,
            not_before=now() + request.retry_delay,
        )
        log.info(
            "operation %s ended %s: attempt %d of %d is operation %s, in %g s",
            op.id,
            op.status,
            op.attempt + 1,
            op.retries + 1,
            retry_id,
            request.retry_delay,
            extra={"operation_id": op.id, "job_id": op.job_id},
        )
        return retry_id

    def refresh_job_status(self, job_id: int) -> tuple[str, str]:
        """Recompute the Job's stored status from its units' latest operations, inside the caller's
        transaction.

        On PostgreSQL the Job's row is locked first: two replicas ending the last two Operations of a Job
        at once would otherwise each read the other's Operation as still running (neither commit visible
        yet) and both leave the Job `running` for ever, with no `job.finished` webhook. With the lock the
        second waits for the first to commit and then reads its result. NO KEY UPDATE, not UPDATE: a
        transaction that inserted Operations already holds KEY SHARE on the Job (the foreign key), and two
        of them asking for FOR UPDATE would deadlock; NO KEY UPDATE waits only for another refresh."""
        lock = " FOR NO KEY UPDATE" if is_postgres() else ""
        found = records_sql('SELECT id, tag, status FROM "job" WHERE id = ?' + lock, [job_id])
        if not found:
            raise pw.DoesNotExist(f"no job {job_id}")
        job = found[0]
        # Every active Operation and each Unit's latest, in one statement: the latest of a Unit is its
        # largest id among these rows, since the latest is always among them.
        latest: dict[int, tuple[int, str]] = {}
        any_active = False
        for op in records_sql(
            'SELECT unit_id, id, status FROM "operation" WHERE job_id = ? AND (status IN (?, ?) '
            'OR id IN (SELECT MAX(id) FROM "operation" WHERE job_id = ? GROUP BY unit_id))',
            [job_id, *ACTIVE, job_id],
        ):
            any_active = any_active or op.status in ACTIVE
            if op.unit_id not in latest or op.id > latest[op.unit_id][0]:
                latest[op.unit_id] = (op.id, op.status)
        new = derive_job_status([status for _, status in latest.values()], any_active)
        if new != job.status:
            Job.update(status=new).where(Job.id == job_id).execute()
            if job.status == "running" and new in ("successful", "failed"):
                # In the transaction of the change, so the notification commits with it or not at all.
                outbox.record(outbox.JOB_FINISHED, job.tag, lambda: self.queries.job(job_id))
        return job.status, new

    def record_operations_finished(self, op_ids: list[int]) -> None:
        """Queue `operation.finished` for these Operations that just became terminal."""
        if not op_ids:
            return
        ops = records_in(Operation, "id", sorted(set(op_ids)), order="id")
        tags = {j.id: j.tag for j in records_in(Job, "id", sorted({o.job_id for o in ops}), columns="id, tag")}
        for op in ops:
            outbox.record(outbox.OPERATION_FINISHED, tags.get(op.job_id), functools.partial(operation_dict, op))
        # A backup (or a drill's verification) is recorded in the transaction of its end.
        backup_records.record(ops, tags)

    def mark_lost(self, where: Any, why: str) -> tuple[list[Operation], list[int]]:
        """Mark the active Operations matching `where` lost. Returns the Operations as they were and the
        next attempts scheduled for those with retries left; the webhook outbox gets their endings."""
        ops = list(Operation.select().where(Operation.status.in_(ACTIVE) & where))
        lost: list[int] = []
        retries: list[int] = []
        for op in ops:
            n = (
                Operation.update(
                    status="lost", finished_at=now(), rc=None, error=f"{why} while the operation was {op.status}"
                )
                .where((Operation.id == op.id) & Operation.status.in_(ACTIVE))
                .execute()
            )
            if n:
                lost.append(op.id)
                retry = self.schedule_retry(op.id)
                if retry is not None:
                    retries.append(retry)
        self.record_operations_finished(lost)
        for job_id in sorted({o.job_id for o in ops}):
            self.refresh_job_status(job_id)
        return ops, retries
