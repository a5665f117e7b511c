"""The service layer: every read and write of Jobs, Units and Operations.

All methods are blocking and run in the database thread pool (never on the IOLoop). Changes that
followers must see are handed to the Publisher after their transaction commits.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import peewee as pw

from . import outbox
from .backups import published_paths, remove_backup_folders
from .bus import Change, Publisher
from .config import Settings
from .db import (
    ACTIVE,
    TERMINAL,
    EmbeddedDatabase,
    Event,
    Job,
    Operation,
    Replica,
    Unit,
    database_now,
    insert_sql,
    is_postgres,
    lock_name,
    lock_row,
    records,
    records_in,
    records_sql,
    rows,
    rows_in,
    update_sql,
    write_transaction,
)
from .errors import ApiError, invalid_parameter, shutting_down
from .retries import wants_retry
from .run_request import (
    RunRequest,
    check_retries,
    check_retry_delay,
    check_statuses,
    parse_run_request,
    require_action,
    stored_request,
)
from .serialize import (
    RenderedOperations,
    derive_job_status,
    event_dict,
    job_dict,
    operation_dict,
    plain_text,
    unit_dict,
)
from .statuses import JobStatus, OperationStatus
from .timeutil import now
from .validation import (
    check_bool,
    check_extravars,
    check_job_ref,
    check_tag,
    check_timeout,
    check_unit_list,
    check_unit_name,
    resolve_action,
)

log = logging.getLogger(__name__)

JOB_STATUSES = tuple(str(s) for s in JobStatus)
OP_STATUSES = tuple(str(s) for s in OperationStatus)
HOSTNAME = socket.gethostname()
MAX_ID = 2**63 - 1  # the largest id both databases can compare


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid_parameter("cursor", "cursor is not one this server handed out") from exc
    if not text.startswith("id:") or not text[3:].isdigit() or len(text) > 24 or int(text[3:]) > MAX_ID:
        raise invalid_parameter("cursor", "cursor is not one this server handed out")
    return int(text[3:])


def newest_first(
    query: Any, id_field: Any, limit: int, cursor: str | None, plain: bool = False
) -> tuple[list[Any], str | None]:
    """One page of `query`, newest first, and the cursor of the next page (None on the last). With
    `plain`, the rows come as records (db.records), not models: for the hot lists."""
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(id_field < before)
    query = query.order_by(id_field.desc()).limit(limit + 1)
    found = records(query) if plain else list(query)
    page = found[:limit]
    return page, encode_cursor(page[-1].id) if len(found) > limit else None


@dataclass
class Claim:
    """An Operation this replica has claimed to run: what the worker needs to start it."""

    op_id: int
    job_id: int
    job_tag: str
    unit: str
    action: str
    extravars: dict[str, Any]
    timeout: float | None
    started_at: float
    check: bool = False
    diff: bool = False


class Service:
    def __init__(self, settings: Settings, db: pw.Database, publisher: Publisher) -> None:
        self.settings = settings
        self.db = db
        self.publisher = publisher
        self.rendered_operations = RenderedOperations()

    # -- reading ----------------------------------------------------------------------------------

    def _job_or_404(self, job_id: int) -> Job:
        job = Job.get_or_none(Job.id == job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {job_id}")
        return job

    def _units_of(self, job_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
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
        job = self._job_or_404(job_id)
        return job_dict(job, self._units_of([job.id])[job.id])

    def jobs(self, tag: str | None, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        query = Job.select()
        if tag is not None:
            query = query.where(Job.tag == check_tag(tag))
        if status is not None:
            if status not in JOB_STATUSES:
                raise invalid_parameter("status", f"status must be one of {', '.join(JOB_STATUSES)}")
            query = query.where(Job.status == status)
        page, next_cursor = newest_first(query, Job.id, limit, cursor, plain=True)
        units = self._units_of([j.id for j in page])
        return {"items": [job_dict(j, units[j.id]) for j in page], "next": next_cursor}

    def latest_job(self, tag: str) -> dict[str, Any]:
        job = Job.select().where(Job.tag == check_tag(tag)).order_by(Job.id.desc()).first()
        if job is None:
            raise ApiError(404, "job_not_found", f"no job with tag {tag}")
        return job_dict(job, self._units_of([job.id])[job.id])

    def unit(self, job_id: int, name: str) -> dict[str, Any]:
        self._job_or_404(job_id)
        check_unit_name(name)
        for unit in self._units_of([job_id])[job_id]:
            if unit["name"] == name:
                return unit
        raise ApiError(404, "unit_not_found", f"job {job_id} has no unit {name}")

    def units(self, job_id: int) -> dict[str, Any]:
        self._job_or_404(job_id)
        return {"items": self._units_of([job_id])[job_id], "next": None}

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
        """The output in pieces; ANSI colour codes removed unless `ansi` (plain text for scripts and grep)."""
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
            yield text if ansi else plain_text(text)

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
        if isinstance(self.db, EmbeddedDatabase):
            self.db.check_file()
        self.db.execute_sql("SELECT 1").fetchone()
        return True

    # -- writing ----------------------------------------------------------------------------------

    def create_job(self, tag: Any, units: Any, reuse: Any, source_job: Any = None) -> tuple[dict[str, Any], bool]:
        tag = check_tag(tag)
        names = check_unit_list(units)
        if reuse not in (None, "latest"):
            raise invalid_parameter("reuse", 'reuse must be "latest"')
        source = check_job_ref(source_job, "source_job")
        created = False
        with write_transaction(self.db):
            if source is not None and not Job.select().where(Job.id == source).exists():
                raise ApiError(400, "invalid_source_job", f"source_job names no Job: no job {source}", "source_job")
            job = None
            if reuse == "latest":
                # Find-or-create must not interleave: on PostgreSQL (several replicas, READ COMMITTED) two
                # requests would both find no Job and both create one. SQLite's IMMEDIATE already serializes.
                lock_name(self.db, f"job-tag:{tag}")
                job = Job.select().where(Job.tag == tag).order_by(Job.id.desc()).first()
                if job is not None:  # add_unit on the same Job takes this lock too
                    lock_row(self.db, Job.select().where(Job.id == job.id)).first()
            if job is None:
                job = Job.create(tag=tag, created_at=now(), status=JobStatus.NEW, source_job=source)
                created = True
            existing = {u.name for u in Unit.select(Unit.name).where(Unit.job == job.id)}
            added = [n for n in names if n not in existing]
            for name in added:
                Unit.create(job=job.id, name=name, created_at=now())
        result = self.job(job.id)
        if created or added:
            self._publish_job(result, units=[u for u in result["units"] if u["name"] in added])
        return result, created

    def add_unit(self, job_id: int, name: Any) -> tuple[dict[str, Any], bool]:
        name = check_unit_name(name)
        with write_transaction(self.db):
            # The Job's row lock serializes check-then-insert of its units across replicas.
            if lock_row(self.db, Job.select().where(Job.id == job_id)).first() is None:
                raise ApiError(404, "job_not_found", f"no job {job_id}")
            created = Unit.get_or_none((Unit.job == job_id) & (Unit.name == name)) is None
            if created:
                Unit.create(job=job_id, name=name, created_at=now())
        unit = self.unit(job_id, name)
        if created:
            self._publish_job(self.job(job_id), units=[unit])
        return unit, created

    def delete_job(self, job_id: int) -> None:
        with write_transaction(self.db):
            job = lock_row(self.db, Job.select().where(Job.id == job_id)).first()
            if job is None:
                raise ApiError(404, "job_not_found", f"no job {job_id}")
            if Operation.select().where((Operation.job == job_id) & Operation.status.in_(ACTIVE)).exists():
                raise ApiError(409, "job_busy", f"job {job_id} has an operation pending or running")
            op_ids = [o.id for o in Operation.select(Operation.id).where(Operation.job == job_id)]
            backups = self._backups_of_job_alone(job_id)
            if op_ids:
                Event.delete().where(Event.operation.in_(op_ids)).execute()
            Operation.delete().where(Operation.job == job_id).execute()
            Unit.delete().where(Unit.job == job_id).execute()
            Job.delete().where(Job.id == job_id).execute()
        self.publisher.publish([Change("job_deleted", job_id, {"id": job_id, "tag": job.tag}, tag=job.tag)])
        # After the commit: a folder is never removed for a Job that is still there.
        remove_backup_folders(backups, self.settings.backup_root)

    def _backups_of_job_alone(self, job_id: int) -> list[str]:
        """The backup folders the Job's Operations published that no other Job's Operation names."""
        if self.settings.backup_root is None:
            return []
        texts = Operation.select(Operation.artifacts).where(
            (Operation.job == job_id) & Operation.artifacts.is_null(False)
        )
        paths = published_paths(op.artifacts for op in texts)
        return [
            p
            for p in paths
            if not Operation.select()
            .where((Operation.job != job_id) & Operation.artifacts.contains(json.dumps(p)))
            .exists()
        ]

    def create_operation(self, job_id: int, unit_name: str, body: dict[str, Any], accepting: bool) -> dict[str, Any]:
        """Validate everything, then insert the pending Operation; nothing is created on any error."""
        check_unit_name(unit_name)
        action = require_action(body)
        unit = self._job_unit_or_404(job_id, unit_name)
        resolved = resolve_action(self.settings.project_dir, action, unit_name)
        request = parse_run_request(body, self.settings.allow_templated_extravars)
        if not accepting:
            raise shutting_down()
        [op] = self._insert_operations(job_id, [(unit, resolved)], request, field=None)
        return op

    def start_actions(
        self,
        job_id: int,
        action: Any,
        units: Any = None,
        extravars: Any = None,
        timeout: Any = None,
        check: Any = False,
        diff: Any = False,
        retries: Any = 0,
        retry_delay: Any = None,
        queue: Any = False,
        accepting: bool = True,
    ) -> list[dict[str, Any]]:
        """Start `action` on the listed Units of the Job (all of them when `units` is None), all or nothing.

        What `POST /jobs/{id}/actions` and a schedule firing call. Every value is checked as the API checks
        it; an error names the Unit it is about in `field`, and then no Operation is created. Concurrent
        calls (also from other replicas) lock the Units in id order, so each sees the others' Operations
        whole or not at all. Returns the new Operations in the Job's Unit order; the caller kicks the
        executor (`Executor.kick`) so they start at once.
        """
        job = self._job_or_404(job_id)
        if action is None:
            raise ApiError(400, "invalid_action", "action is required", "action")
        chosen = self._units_named(job.id, units)
        if not chosen:
            raise ApiError(400, "invalid_units", f"job {job_id} has no units to run {action!r} on", "units")
        planned = []
        for unit in chosen:
            try:
                planned.append((unit, resolve_action(self.settings.project_dir, action, unit.name)))
            except ApiError as exc:
                raise exc.about(unit.name if exc.error == "playbook_not_found" else exc.field) from None
        request = RunRequest(
            action=action,
            extravars=check_extravars(extravars, self.settings.allow_templated_extravars),
            timeout=check_timeout(timeout),
            queue=check_bool(queue, "queue"),
            check=check_bool(check, "check"),
            diff=check_bool(diff, "diff"),
            retries=check_retries(retries),
            retry_delay=check_retry_delay(retry_delay),
        )
        if not accepting:
            raise shutting_down()
        return self._insert_operations(job.id, planned, request, field="unit")

    def start_actions_request(self, job_id: int, body: dict[str, Any], accepting: bool) -> list[dict[str, Any]]:
        """`POST /jobs/{id}/actions`: the body's fields, checked, to start_actions."""
        return self.start_actions(
            job_id,
            body.get("action"),
            body.get("units"),
            body.get("extravars"),
            body.get("timeout"),
            body.get("check"),
            body.get("diff"),
            body.get("retries"),
            body.get("retry_delay"),
            body.get("queue"),
            accepting,
        )

    def rerun(self, job_id: int, statuses: Any, units: Any, accepting: bool) -> list[dict[str, Any]]:
        """Start again, with the same stored request (real extravars, timeout, modes, retry policy), every
        listed Unit's latest Operation that ended in one of `statuses`; all or nothing like start_actions."""
        job = self._job_or_404(job_id)
        wanted = check_statuses(statuses)
        chosen = self._units_named(job.id, units)
        if not chosen:
            return []
        latest_ids = (
            Operation.select(pw.fn.MAX(Operation.id))
            .where(Operation.unit.in_([u.id for u in chosen]))
            .group_by(Operation.unit)
        )
        latest = {op.unit_id: op for op in Operation.select().where(Operation.id.in_(latest_ids))}
        plans: list[tuple[Unit, Operation]] = [
            (u, latest[u.id]) for u in chosen if u.id in latest and latest[u.id].status in wanted
        ]
        if not plans:
            return []
        for unit, op in plans:
            try:
                resolve_action(self.settings.project_dir, op.action, unit.name)
            except ApiError as exc:
                raise exc.about(unit.name) from None
        if not accepting:
            raise shutting_down()
        ids: list[int] = []
        with write_transaction(self.db):
            self._lock_units([u.id for u, _ in plans])
            for unit, _ in plans:
                self._check_idle(unit, False, "unit")
            for unit, op in plans:
                ids.append(self._insert_one(job.id, unit, op.action, stored_request(op), rerun_of=op.id))
            self.refresh_job_status(job.id)
        published = self.publish_changes(ids)
        return [published[i] for i in ids]

    # -- creating Operations: one path for a Unit, /actions, /rerun and retries ---------------------

    def _unit_or_404(self, job_id: int, name: str) -> Unit:
        unit = Unit.get_or_none((Unit.job == job_id) & (Unit.name == name))
        if unit is None:
            raise ApiError(404, "unit_not_found", f"job {job_id} has no unit {name}")
        return unit

    def _job_unit_or_404(self, job_id: int, name: str) -> Unit:
        """The Job's Unit `name` in one query; 404 job_not_found before unit_not_found, as two lookups would."""
        found = records_sql(
            'SELECT u.id AS unit_id, u.name AS name FROM "job" j LEFT JOIN "unit" u ON u.job_id = j.id AND u.name = ? '
            "WHERE j.id = ?",
            [name, job_id],
        )
        if not found:
            raise ApiError(404, "job_not_found", f"no job {job_id}")
        if found[0].unit_id is None:
            raise ApiError(404, "unit_not_found", f"job {job_id} has no unit {name}")
        return Unit(id=found[0].unit_id, job=job_id, name=found[0].name)

    def _units_named(self, job_id: int, units: Any) -> list[Unit]:
        """The Job's Units named in `units` (all when None), in the Job's Unit order; a name the Job
        lacks is `404 unit_not_found` with `field` naming it."""
        all_units = list(Unit.select().where(Unit.job == job_id).order_by(Unit.id))
        if units is None:
            return all_units
        names = check_unit_list(units)
        known = {u.name for u in all_units}
        for name in names:
            if name not in known:
                raise ApiError(404, "unit_not_found", f"job {job_id} has no unit {name}", name)
        return [u for u in all_units if u.name in names]

    def _lock_units(self, unit_ids: list[int]) -> None:
        """Lock the Units' rows, always in id order, so two multi-Unit requests cannot deadlock."""
        if not is_postgres(self.db):
            return  # SQLite's IMMEDIATE transaction already serializes writers: the SELECT would lock nothing
        lock_row(self.db, Unit.select(Unit.id).where(Unit.id.in_(sorted(unit_ids))).order_by(Unit.id)).execute()

    def _check_idle(self, unit: Unit, queue: bool, field: str | None) -> None:
        if queue:
            return
        busy = records_sql(
            'SELECT 1 AS busy FROM "operation" WHERE unit_id = ? AND status IN (?, ?) LIMIT 1', [unit.id, *ACTIVE]
        )
        if busy:
            raise ApiError(
                409,
                "unit_busy",
                f"unit {unit.name} already has an operation pending or running; pass queue=true to wait for it",
                unit.name if field else None,
            )

    def _insert_one(
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
        """Insert one pending Operation, inside the caller's write transaction."""
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

    def _insert_operations(
        self, job_id: int, planned: list[tuple[Unit, str]], request: RunRequest, field: str | None
    ) -> list[dict[str, Any]]:
        """All planned Operations in one transaction, or none: a busy Unit aborts them all. Returns them
        as published, in the planned order."""
        ids: list[int] = []
        with write_transaction(self.db):
            self._lock_units([u.id for u, _ in planned])
            for unit, _ in planned:
                self._check_idle(unit, request.queue, field)
            for unit, action in planned:
                ids.append(self._insert_one(job_id, unit, action, request))
            self.refresh_job_status(job_id)
        published = self.publish_changes(ids)
        return [published[i] for i in ids]

    def cancel(self, op_id: int) -> tuple[dict[str, Any], bool]:
        """Returns the Operation and whether its runner must be told to stop."""
        with write_transaction(self.db):
            op = lock_row(self.db, Operation.select().where(Operation.id == op_id)).first()
            if op is None:
                raise ApiError(404, "operation_not_found", f"no operation {op_id}")
            if op.status in TERMINAL:
                raise ApiError(409, "not_running", f"operation {op_id} is already {op.status}")
            running = op.status == OperationStatus.RUNNING
            if running:
                Operation.update(cancel_requested=True).where(Operation.id == op_id).execute()
            else:
                n = (
                    Operation.update(
                        status="canceled", finished_at=now(), cancel_requested=True, error="canceled before it started"
                    )
                    .where((Operation.id == op_id) & (Operation.status == "pending"))
                    .execute()
                )
                if n:
                    self.record_operations_finished([op_id])
                self.refresh_job_status(op.job_id)
        self.publish_changes([op_id])
        return self.operation(op_id), running

    # -- running ----------------------------------------------------------------------------------

    def claim(self, owner: str, slots: int) -> list[Claim]:
        """Claim up to `slots` runnable Operations: the oldest pending one of each idle unit."""
        if slots <= 0:
            return []
        claimed: list[int] = []
        with write_transaction(self.db):
            # Run on every wake-up of the dispatcher: as a string, not built by peewee.
            pending = records_sql(
                'SELECT id, unit_id, not_before FROM "operation" WHERE status = ? AND unit_id NOT IN '
                '(SELECT unit_id FROM "operation" WHERE status = ?) ORDER BY id LIMIT ?',
                [OperationStatus.PENDING.value, OperationStatus.RUNNING.value, slots * 4 + 16],
            )
            seen: set[int] = set()
            started = now()
            for op in pending:
                if op.unit_id in seen:
                    continue
                seen.add(op.unit_id)
                if op.not_before is not None and op.not_before > started:
                    continue  # a retry waiting out its delay; what is queued behind it waits too
                try:
                    with self.db.atomic():
                        n = update_sql(
                            Operation,
                            {
                                "status": OperationStatus.RUNNING,
                                "owner": owner,
                                "started_at": now(),
                                "hostname": HOSTNAME,
                            },
                            "id = ? AND status = ?",
                            [op.id, OperationStatus.PENDING.value],
                        )
                except pw.IntegrityError:
                    continue  # another replica started this unit's operation first
                if n:
                    claimed.append(op.id)
                    if len(claimed) >= slots:
                        break
        if not claimed:
            return []
        self.publish_changes(claimed)
        ops = records_in(Operation, "id", sorted(claimed), order="id")
        tags = {j.id: j.tag for j in records_in(Job, "id", sorted({o.job_id for o in ops}), columns="id, tag")}
        return [
            Claim(
                op.id,
                op.job_id,
                tags[op.job_id],
                op.unit_name,
                op.action,
                json.loads(op.extravars or "{}"),
                op.timeout,
                op.started_at or now(),
                bool(op.check_mode),
                bool(op.diff_mode),
            )
            for op in ops
        ]

    def cancel_requested(self, op_ids: list[int]) -> list[int]:
        if not op_ids:
            return []
        return [o.id for o in records_in(Operation, "id", op_ids, columns="id, cancel_requested") if o.cancel_requested]

    def not_running(self, op_ids: list[int]) -> list[int]:
        """Of these Operations, those the database no longer has running (e.g. marked lost by a survivor)."""
        if not op_ids:
            return []
        return [
            o.id
            for o in Operation.select(Operation.id).where(
                Operation.id.in_(op_ids) & (Operation.status != OperationStatus.RUNNING)
            )
        ]

    def mark_lost(self, where: Any, why: str) -> list[Operation]:
        """Mark the active Operations matching `where` lost; returns them as they were.

        A lost Operation with retries left gets its next attempt in the same transaction."""
        with write_transaction(self.db):
            ops, retries = self._mark_lost(where, why)
        self.publish_changes([o.id for o in ops] + retries)
        return ops

    def _mark_lost(self, where: Any, why: str) -> tuple[list[Operation], list[int]]:
        """mark_lost within the caller's transaction; the caller publishes after its commit. Returns the
        Operations as they were and the next attempts scheduled for those with retries left; the webhook
        outbox gets their endings in the same transaction."""
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

    def set_run_ident(self, op_id: int, run_ident: str) -> None:
        """Record the run's marker, by which a later server finds and kills what a crash left behind."""
        update_sql(Operation, {"run_ident": run_ident}, "id = ?", [op_id])

    def cancel_pending(self, error: str) -> int:
        """End every pending Operation `canceled` with `error` (shutdown on SQLite: nobody else will run it)."""
        ended = 0
        # A retry waiting out its delay stays pending: its chain goes on after the restart.
        first_attempts = Operation.retry_of.is_null()
        for (op_id,) in rows(Operation.select(Operation.id).where((Operation.status == "pending") & first_attempts)):
            try:
                self.cancel(op_id)
            except ApiError:
                continue  # claimed or ended meanwhile
            Operation.update(error=error).where((Operation.id == op_id) & (Operation.status == "canceled")).execute()
            ended += 1
        return ended

    def operation_counts(self) -> dict[str, int]:
        """How many Operations are in each status (for /metrics)."""
        query = Operation.select(Operation.status, pw.fn.COUNT(Operation.id)).group_by(Operation.status)
        return {str(s): int(n) for s, n in rows(query)}

    # -- replicas ---------------------------------------------------------------------------------

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

    def heartbeat(self, replica_id: str) -> None:
        """Record that this replica is alive, on the database's clock."""
        t = database_now(self.db)
        with write_transaction(self.db):
            if not Replica.update(heartbeat_at=t).where(Replica.id == replica_id).execute():
                Replica.insert(
                    id=replica_id, hostname=HOSTNAME, pid=os.getpid(), started_at=now(), heartbeat_at=t
                ).on_conflict_ignore().execute()

    def forget_replica(self, replica_id: str) -> None:
        Replica.delete().where(Replica.id == replica_id).execute()

    def take_over_dead_replicas(self, timeout: float, why: str) -> list[Operation]:
        """Mark the active Operations of every replica silent for `timeout` seconds `lost`, and forget those
        replicas; returns the Operations as they were.

        One transaction, the dead replicas' rows locked first: a replica that heartbeats meanwhile waits
        for the takeover to commit and then finds itself forgotten (its dispatcher sees its Operations are
        no longer running and stops them), and two survivors never take over the same replica twice.
        Silence is measured on the database's clock, never on a replica's own."""
        with write_transaction(self.db):
            silent = Replica.select(Replica.id).where(Replica.heartbeat_at < database_now(self.db) - timeout)
            dead = [r for (r,) in rows(lock_row(self.db, silent))]
            if not dead:
                return []
            ops, retries = self._mark_lost(Operation.owner.in_(dead), why)
            Replica.delete().where(Replica.id.in_(dead)).execute()
        self.publish_changes([o.id for o in ops] + retries)
        return ops

    # -- retention --------------------------------------------------------------------------------

    def oldest_prunable_job(self, older_than: float) -> int | None:
        """The oldest Job created before `older_than` with nothing pending or running."""
        active_jobs = Operation.select(Operation.job).where(Operation.status.in_(ACTIVE))
        query = Job.select(Job.id).where((Job.created_at < older_than) & Job.id.not_in(active_jobs))
        found = rows(query.order_by(Job.id).limit(1))
        return int(found[0][0]) if found else None

    def delete_event_batch(self, job_id: int, batch: int) -> int:
        """Delete up to `batch` events of the Job's Operations; returns how many (0 when none are left).
        One statement, the write lock taken up front: a read transaction that later upgrades to write gets
        "database is locked" on SQLite whenever another writer got in between."""
        ops = Operation.select(Operation.id).where(Operation.job == job_id)
        with write_transaction(self.db):
            chunk = Event.select(Event.id).where(Event.operation.in_(ops)).limit(batch)
            return int(Event.delete().where(Event.id.in_(chunk)).execute())

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
        retry_id = self._insert_one(
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

    def next_start_after(self) -> float | None:
        """When the earliest pending retry's delay ends (epoch seconds), for the dispatcher's sleep. Only
        delays still running count: a retry already due that waits for a worker must not make it spin."""
        found = records_sql(
            'SELECT MIN(not_before) AS at FROM "operation" WHERE status = ? AND not_before > ?',
            [OperationStatus.PENDING.value, now()],
        )
        value = found[0].at if found else None
        return float(value) if value is not None else None

    def refresh_job_status(self, job_id: int) -> tuple[str, str]:
        """Recompute the Job's stored status from its units' latest operations, inside the caller's
        transaction.

        On PostgreSQL the Job's row is locked first: two replicas ending the last two Operations of a Job
        at once would otherwise each read the other's Operation as still running (neither commit visible
        yet) and both leave the Job `running` for ever, with no `job.finished` webhook. With the lock the
        second waits for the first to commit and then reads its result. NO KEY UPDATE, not UPDATE: a
        transaction that inserted Operations already holds KEY SHARE on the Job (the foreign key), and two
        of them asking for FOR UPDATE would deadlock; NO KEY UPDATE waits only for another refresh."""
        lock = " FOR NO KEY UPDATE" if is_postgres(self.db) else ""
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
                outbox.record(outbox.JOB_FINISHED, job.tag, lambda: self.job(job_id))
        return job.status, new

    def record_operations_finished(self, op_ids: list[int]) -> None:
        """Queue `operation.finished` for these Operations that just became terminal (inside the transaction)."""
        if not op_ids:
            return
        ops = records_in(Operation, "id", sorted(set(op_ids)), order="id")
        tags = {j.id: j.tag for j in records_in(Job, "id", sorted({o.job_id for o in ops}), columns="id, tag")}
        for op in ops:
            outbox.record(outbox.OPERATION_FINISHED, tags.get(op.job_id), functools.partial(operation_dict, op))

    # -- publishing -------------------------------------------------------------------------------

    def publish_changes(self, op_ids: list[int], remote: bool = True) -> dict[int, dict[str, Any]]:
        """Publish the committed state of these Operations, their Units and Jobs; returns the Operations
        as published, by id.

        A Job's Units and the Job itself are rendered only when a follower here watches that Job or the
        Job list: re-rendering a whole Job (every Unit's latest Operation) is most of the cost of a change,
        and nothing else reads those changes. Other replicas get the Operation ids and do the same."""
        if not op_ids:
            return {}
        ops = records_in(Operation, "id", sorted(set(op_ids)), order="id")
        rendered = {op.id: operation_dict(op) for op in ops}
        job_ids = sorted({o.job_id for o in ops})
        jobs = {j.id: j for j in records_in(Job, "id", job_ids)}
        units = self._units_of([j for j in job_ids if j in jobs and self.publisher.watches_job(j)])
        changes: list[Change] = []
        for op in ops:
            tag = jobs[op.job_id].tag if op.job_id in jobs else None
            changes.append(Change("operation", op.job_id, rendered[op.id], op_id=op.id, tag=tag))
            for unit in units.get(op.job_id, []):
                if unit["name"] == op.unit_name:
                    changes.append(Change("unit", op.job_id, unit, tag=tag))
        for job_id, job_units in units.items():
            job = jobs[job_id]
            changes.append(Change("job", job_id, job_dict(job, job_units), tag=job.tag))
        self.publisher.publish(changes, remote=remote)
        return rendered

    def _publish_job(self, job: dict[str, Any], units: list[dict[str, Any]]) -> None:
        changes = [Change("unit", job["id"], u, tag=job["tag"]) for u in units]
        changes.append(Change("job", job["id"], job, tag=job["tag"]))
        self.publisher.publish(changes)
