"""Schedules: stored crons that create a Job and start an action on its Units at each fire time.

A fire time runs exactly once across replicas: the replica that moves `next_run_at` on with a conditional
UPDATE (`WHERE next_run_at = <the value it read>`) owns it, and creates the Job and its Operations in
the same transaction, so a crash leaves either the fire time unclaimed (another replica, or this one
after a restart, runs it) or claimed with its Job, never one without the other. Which missed fire times
still run is `cron.due`'s catch-up rule.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import peewee as pw

from . import cron
from .announce import Announcer
from .commands import Commands
from .config import Settings
from .db import Job, Schedule, Unit
from .errors import ApiError, invalid_parameter
from .failure_log import RepeatedFailure
from .names import MAX_RETRIES, SCHEDULE_NAME, SCHEDULE_NAME_PATTERN
from .paging import newest_first
from .queries import Queries
from .redaction import redact
from .sql import database, records_sql, rows, write_transaction
from .timeutil import iso, now
from .validation import check_bool, check_extravars, check_tag, check_timeout, check_unit_list, resolve_action

log = logging.getLogger(__name__)

# The fields a new schedule must give, and the error code of each one missing.
REQUIRED = {"cron": "invalid_cron", "tag": "invalid_tag", "units": "invalid_units", "action": "invalid_action"}
FIELDS = ("cron", "timezone", "tag", "units", "action", "extravars", "timeout", "check", "retries", "enabled")


def schedule_dict(s: Schedule, last_job_status: str | None = None) -> dict[str, Any]:
    return {
        "name": s.name,
        "cron": s.cron,
        "description": cron.describe(s.cron),
        "timezone": s.timezone,
        "tag": s.tag,
        "units": json.loads(s.units),
        "action": s.action,
        # Real values stay stored for the firings; what is shown hides secret-looking keys.
        "extravars": redact(json.loads(s.extravars or "{}")),
        "timeout": s.timeout,
        "check": bool(s.check_mode),
        "retries": s.retries,
        "enabled": bool(s.enabled),
        "next_run_at": iso(s.next_run_at),
        "last_run_at": iso(s.last_run_at),
        "last_job_id": s.last_job_id,
        "last_job_status": last_job_status,
        "last_error": s.last_error,
        "created_at": iso(s.created_at),
    }


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not SCHEDULE_NAME.fullmatch(value):
        raise ApiError(400, "invalid_name", f"name must match {SCHEDULE_NAME_PATTERN}", "name")
    return value


def check_retries(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.isdigit() and len(value) <= 2:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise invalid_parameter("retries", f"retries must be an integer from 0 to {MAX_RETRIES}")
    return value


def require_new_fields(body: dict[str, Any]) -> None:
    """A new schedule names its cron, tag, Units and action."""
    for required, code in REQUIRED.items():
        if body.get(required) is None:
            raise ApiError(400, code, f"{required} is required", required)


class ScheduleService:
    def __init__(self, settings: Settings, queries: Queries, commands: Commands, announce: Announcer) -> None:
        self.settings = settings
        self.queries = queries
        self.commands = commands
        self.announce = announce

    # -- the resource -----------------------------------------------------------------------------

    def _get_or_404(self, name: str) -> Schedule:
        found = Schedule.get_or_none(Schedule.name == name)
        if found is None:
            raise ApiError(404, "schedule_not_found", f"no schedule {name}")
        return found

    def _checked(self, body: dict[str, Any], current: Schedule | None) -> dict[str, Any]:
        """The model fields for the given body fields; with `current`, fields not given keep their value."""
        given = {k: body[k] for k in FIELDS if k in body}
        if current is None:
            require_new_fields(body)
        out: dict[str, Any] = {}
        if "cron" in given:
            out["cron"] = cron.check_cron(given["cron"])
        if "timezone" in given or current is None:
            out["timezone"] = cron.check_timezone(given.get("timezone"))
        if "tag" in given:
            out["tag"] = check_tag(given["tag"])
        if "units" in given or "action" in given:
            out.update(self._checked_units_and_action(given, current))
        if "extravars" in given:
            out["extravars"] = json.dumps(check_extravars(given["extravars"], self.settings.allow_templated_extravars))
        if "timeout" in given:
            out["timeout"] = check_timeout(given["timeout"])
        if "check" in given:
            out["check_mode"] = check_bool(given["check"], "check")
        if "retries" in given:
            out["retries"] = check_retries(given["retries"])
        if "enabled" in given:
            out["enabled"] = check_bool(given["enabled"], "enabled") if given["enabled"] is not None else True
        return out

    def _checked_units_and_action(self, given: dict[str, Any], current: Schedule | None) -> dict[str, Any]:
        """The Units and the action, given or kept, checked together: the action must resolve on every Unit
        now, so a mistake shows at once rather than at 2 a.m."""
        out: dict[str, Any] = {}
        units = json.loads(current.units) if current is not None else []
        if "units" in given:
            units = check_unit_list(given["units"])
            if not units:
                raise ApiError(400, "invalid_units", "units must name at least one unit", "units")
            out["units"] = json.dumps(units)
        action = given.get("action", current.action if current is not None else None)
        for unit in units:
            try:
                resolve_action(self.settings.project_dir, action, unit)
            except ApiError as exc:
                raise ApiError(exc.status, exc.error, exc.message, unit if exc.status == 404 else exc.field) from None
        out["action"] = action
        return out

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(body.get("name"))
        fields = self._checked(body, None)
        fields.setdefault("enabled", True)
        at = now()
        fields["next_run_at"] = cron.next_fire(fields["cron"], fields["timezone"], at) if fields["enabled"] else None
        with write_transaction():
            if Schedule.select().where(Schedule.name == name).exists():
                raise ApiError(409, "schedule_exists", f"a schedule named {name} exists", "name")
            try:
                Schedule.create(name=name, created_at=at, **fields)
            except pw.IntegrityError as exc:
                raise ApiError(409, "schedule_exists", f"a schedule named {name} exists", "name") from exc
        return self.get(name)

    def _dicts(self, schedules: list[Schedule]) -> list[dict[str, Any]]:
        """Each with its last Job's status (None once that Job is deleted), in one query."""
        job_ids = [s.last_job_id for s in schedules if s.last_job_id is not None]
        status = dict(rows(Job.select(Job.id, Job.status).where(Job.id.in_(job_ids)))) if job_ids else {}
        return [schedule_dict(s, status.get(s.last_job_id)) for s in schedules]

    def get(self, name: str) -> dict[str, Any]:
        return self._dicts([self._get_or_404(name)])[0]

    def listing(self, limit: int, cursor: str | None) -> dict[str, Any]:
        page, next_cursor = newest_first(Schedule.select(), Schedule.id, limit, cursor)
        return {"items": self._dicts(page), "next": next_cursor}

    def update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if "name" in body and body["name"] != name:
            raise invalid_parameter("name", "a schedule's name cannot change; create another one")
        with write_transaction():
            current = self._get_or_404(name)
            fields = self._checked(body, current)
            if {"cron", "timezone", "enabled"} & set(fields):
                # A new rule starts from now: fire times of the old rule, or while disabled, are not caught up.
                enabled = fields.get("enabled", current.enabled)
                expr, tz = fields.get("cron", current.cron), fields.get("timezone", current.timezone)
                fields["next_run_at"] = cron.next_fire(expr, tz, now()) if enabled else None
            if fields:
                Schedule.update(fields).where(Schedule.id == current.id).execute()
        return self.get(name)

    def delete(self, name: str) -> None:
        with write_transaction():
            self._get_or_404(name)
            Schedule.delete().where(Schedule.name == name).execute()

    # -- firing -----------------------------------------------------------------------------------

    def run_now(self, name: str, accepting: bool) -> dict[str, Any]:
        """`POST /schedules/{name}/run`: a firing now, besides the cron's; errors reach the caller."""
        if not accepting:
            raise ApiError(503, "shutting_down", "the server is shutting down and accepts no new operations")
        with write_transaction():
            schedule = self._get_or_404(name)
            job_id, op_ids = self._create_firing(schedule)
            Schedule.update(last_run_at=now(), last_job_id=job_id, last_error=None).where(
                Schedule.id == schedule.id
            ).execute()
        self._publish(job_id, op_ids)
        return self.queries.job(job_id)

    def run_due(self, at: float) -> tuple[list[int], float | None]:
        """Fire every schedule whose fire time has come and that no other replica fired. Returns the new
        Job ids and the earliest fire time still ahead (None without enabled schedules)."""
        # Asked every second on every replica: one plain statement, not built by peewee, gives both.
        times = records_sql(
            'SELECT id, next_run_at FROM "schedule" WHERE enabled = ? AND next_run_at IS NOT NULL', [True]
        )
        due = [s.id for s in times if s.next_run_at <= at]
        fired = []
        for schedule_id in due:
            job_id = self.fire_due(schedule_id, at)
            if job_id is not None:
                fired.append(job_id)
        if due:
            # Firing moved those schedules' next fire times.
            return fired, self.next_due_at()
        return fired, min((float(s.next_run_at) for s in times), default=None)

    def next_due_at(self) -> float | None:
        found = records_sql('SELECT MIN(next_run_at) AS at FROM "schedule" WHERE enabled = ?', [True])
        value = found[0].at if found else None
        return float(value) if value is not None else None

    def fire_due(self, schedule_id: int, at: float) -> int | None:
        """Claim this schedule's due fire time and, if it is to run, create its Job: one transaction."""
        op_ids: list[int] = []
        job_id = None
        with write_transaction():
            s = Schedule.get_or_none(Schedule.id == schedule_id)
            if s is None or not s.enabled or s.next_run_at is None or s.next_run_at > at:
                return None
            decision = cron.due(s.cron, s.timezone, s.next_run_at, at, self.settings.schedule_catch_up)
            claim: dict[str, Any] = {"next_run_at": decision.next_run_at}
            claimed = (
                Schedule.update(claim).where((Schedule.id == s.id) & (Schedule.next_run_at == s.next_run_at)).execute()
            )
            if not claimed:
                return None  # another replica took this fire time
            if decision.skipped:
                log.warning(
                    "schedule %s: skipped %d missed fire time(s) (older than the catch-up window)",
                    s.name,
                    decision.skipped,
                )
            if decision.fire_at is None:
                return None
            try:
                with database().atomic():
                    job_id, op_ids = self._create_firing(s)
                error = None
            except ApiError as exc:
                # The fire time stays claimed (it must not repeat every second); the reason shows on the schedule.
                job_id, error = None, f"{exc.error}: {exc.message}"
                log.error("schedule %s could not fire at %s: %s", s.name, iso(decision.fire_at), error)
            Schedule.update(last_run_at=decision.fire_at, last_job_id=job_id or s.last_job_id, last_error=error).where(
                Schedule.id == s.id
            ).execute()
        if job_id is not None:
            log.info("schedule %s fired for %s: job %s", s.name, iso(decision.fire_at), job_id)
            self._publish(job_id, op_ids)
        return job_id

    def _create_firing(self, s: Schedule) -> tuple[int, list[int]]:
        """A new Job with the schedule's tag and Units, and the action started on every Unit (in the caller's
        transaction). Returns the Job id and the new Operation ids."""
        at = now()
        job = Job.create(tag=s.tag, created_at=at, status="new", schedule=s.name)
        for unit in json.loads(s.units):
            Unit.create(job=job.id, name=unit, created_at=at)
        ops = self.start_actions(job.id, s)
        return int(job.id), [int(op["id"]) for op in ops]

    def start_actions(self, job_id: int, s: Schedule) -> list[dict[str, Any]]:
        """Start the schedule's action on every Unit of the Job: the very path of `POST /jobs/{id}/actions`."""
        return self.commands.start_actions(
            job_id,
            s.action,
            None,  # every Unit, in the Job's order
            json.loads(s.extravars or "{}"),
            s.timeout,
            bool(s.check_mode),
            False,
            s.retries,
        )

    def _publish(self, job_id: int, op_ids: list[int]) -> None:
        """After the commit: followers see the new Job and its Operations."""
        job = self.queries.job(job_id)
        self.announce.job(job, job["units"])
        self.announce.operations(op_ids)


class Scheduler:
    """The thread that fires due schedules on this replica (every replica runs one; claims decide)."""

    POLL = 1.0

    def __init__(self, schedules: ScheduleService, accepting: Callable[[], bool], fired: Callable[[], None]) -> None:
        self.schedules = schedules
        self.accepting = accepting
        self.fired = fired
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redrunner-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def run_now(self, name: str) -> dict[str, Any]:
        """`POST /schedules/{name}/run`: fire it now (a new Job) and wake the dispatcher for its Operations."""
        job = self.schedules.run_now(name, self.accepting())
        self.fired()
        return job

    def _loop(self) -> None:
        wait = 0.0
        failures = RepeatedFailure(log, "firing schedules")
        while not self._stopping.wait(wait):
            wait = self.POLL
            if not self.accepting():
                continue
            try:
                fired, upcoming = self.schedules.run_due(now())
                if fired:
                    self.fired()
                if upcoming is not None:
                    # Wake at the fire time itself rather than up to a poll period after it.
                    wait = min(self.POLL, max(0.01, upcoming - now()))
                failures.succeeded()
            except Exception as exc:
                failures.failed(exc)
