"""The API's writes: create Jobs and Units, delete a Job, start, rerun and cancel Operations.

All methods are blocking and run in the database thread pool (never on the IOLoop). Each validates
everything first, writes in one transaction (all or nothing), and announces what changed after the commit.
"""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

from . import backup_records
from .announce import Announcer
from .backups import published_paths, remove_backup_folders
from .config import Settings
from .db import ACTIVE, TERMINAL, Event, Job, Operation, Unit
from .errors import ApiError, invalid_parameter, shutting_down
from .queries import Queries, job_or_404
from .run_request import (
    RunRequest,
    check_retries,
    check_retry_delay,
    check_statuses,
    parse_run_request,
    require_action,
    stored_request,
)
from .sql import is_postgres, lock_name, lock_row, records_sql, rows, write_transaction
from .statuses import JobStatus, OperationStatus
from .timeutil import now
from .transitions import Transitions
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


class Commands:
    def __init__(self, settings: Settings, queries: Queries, transitions: Transitions, announce: Announcer) -> None:
        self.settings = settings
        self.queries = queries
        self.transitions = transitions
        self.announce = announce

    # -- Jobs and Units ---------------------------------------------------------------------------

    def create_job(self, tag: Any, units: Any, reuse: Any, source_job: Any = None) -> tuple[dict[str, Any], bool]:
        tag = check_tag(tag)
        names = check_unit_list(units)
        if reuse not in (None, "latest"):
            raise invalid_parameter("reuse", 'reuse must be "latest"')
        source = check_job_ref(source_job, "source_job")
        created = False
        with write_transaction():
            if source is not None and not Job.select().where(Job.id == source).exists():
                raise ApiError(400, "invalid_source_job", f"source_job names no Job: no job {source}", "source_job")
            job = None
            if reuse == "latest":
                # Find-or-create must not interleave: on PostgreSQL (several replicas, READ COMMITTED) two
                # requests would both find no Job and both create one. SQLite's IMMEDIATE already serializes.
                lock_name(f"job-tag:{tag}")
                job = Job.select().where(Job.tag == tag).order_by(Job.id.desc()).first()
                if job is not None:  # add_unit on the same Job takes this lock too
                    lock_row(Job.select().where(Job.id == job.id)).first()
            if job is None:
                job = Job.create(tag=tag, created_at=now(), status=JobStatus.NEW, source_job=source)
                created = True
            existing = {u.name for u in Unit.select(Unit.name).where(Unit.job == job.id)}
            added = [n for n in names if n not in existing]
            for name in added:
                Unit.create(job=job.id, name=name, created_at=now())
        result = self.queries.job(job.id)
        if created or added:
            self.announce.job(result, units=[u for u in result["units"] if u["name"] in added])
        return result, created

    def add_unit(self, job_id: int, name: Any) -> tuple[dict[str, Any], bool]:
        name = check_unit_name(name)
        with write_transaction():
            # The Job's row lock serializes check-then-insert of its units across replicas.
            if lock_row(Job.select().where(Job.id == job_id)).first() is None:
                raise ApiError(404, "job_not_found", f"no job {job_id}")
            created = Unit.get_or_none((Unit.job == job_id) & (Unit.name == name)) is None
            if created:
                Unit.create(job=job_id, name=name, created_at=now())
        unit = self.queries.unit(job_id, name)
        if created:
            self.announce.job(self.queries.job(job_id), units=[unit])
        return unit, created

    def delete_job(self, job_id: int, keep_backups: bool = False) -> None:
        """Delete the Job with everything in it; with `keep_backups` (retention), not while it holds a
        kept backup, checked in the deleting transaction (a newer backup may have gone since it was chosen)."""
        with write_transaction():
            job = lock_row(Job.select().where(Job.id == job_id)).first()
            if job is None:
                raise ApiError(404, "job_not_found", f"no job {job_id}")
            if keep_backups and backup_records.holds_kept(job_id, self.settings.keep):
                raise ApiError(409, "job_keeps_backup", f"job {job_id} holds a backup that retention keeps")
            if Operation.select().where((Operation.job == job_id) & Operation.status.in_(ACTIVE)).exists():
                raise ApiError(409, "job_busy", f"job {job_id} has an operation pending or running")
            op_ids = [o.id for o in Operation.select(Operation.id).where(Operation.job == job_id)]
            backups = self._backups_of_job_alone(job_id)
            if op_ids:
                Event.delete().where(Event.operation.in_(op_ids)).execute()
            Operation.delete().where(Operation.job == job_id).execute()
            Unit.delete().where(Unit.job == job_id).execute()
            Job.delete().where(Job.id == job_id).execute()
        self.announce.job_deleted(job_id, job.tag)
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

    # -- starting Operations ----------------------------------------------------------------------

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
        job = job_or_404(job_id)
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
        job = job_or_404(job_id)
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
        with write_transaction():
            self._lock_units([u.id for u, _ in plans])
            for unit, _ in plans:
                self._check_idle(unit, False, "unit")
            for unit, op in plans:
                ids.append(
                    self.transitions.insert_operation(job.id, unit, op.action, stored_request(op), rerun_of=op.id)
                )
            self.transitions.refresh_job_status(job.id)
        published = self.announce.operations(ids)
        return [published[i] for i in ids]

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
        if not is_postgres():
            return  # SQLite's IMMEDIATE transaction already serializes writers: the SELECT would lock nothing
        lock_row(Unit.select(Unit.id).where(Unit.id.in_(sorted(unit_ids))).order_by(Unit.id)).execute()

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

    def _insert_operations(
        self, job_id: int, planned: list[tuple[Unit, str]], request: RunRequest, field: str | None
    ) -> list[dict[str, Any]]:
        """All planned Operations in one transaction, or none: a busy Unit aborts them all. Returns them
        as published, in the planned order."""
        ids: list[int] = []
        with write_transaction():
            self._lock_units([u.id for u, _ in planned])
            for unit, _ in planned:
                self._check_idle(unit, request.queue, field)
            for unit, action in planned:
                ids.append(self.transitions.insert_operation(job_id, unit, action, request))
            self.transitions.refresh_job_status(job_id)
        published = self.announce.operations(ids)
        return [published[i] for i in ids]

    # -- canceling --------------------------------------------------------------------------------

    def cancel(self, op_id: int) -> tuple[dict[str, Any], bool]:
        """Returns the Operation and whether its runner must be told to stop."""
        with write_transaction():
            op = lock_row(Operation.select().where(Operation.id == op_id)).first()
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
                    self.transitions.record_operations_finished([op_id])
                self.transitions.refresh_job_status(op.job_id)
        self.announce.operations([op_id])
        return self.queries.operation(op_id), running

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
