"""Rows to the API's JSON resources (api.md: Operation, Unit, Job, Event)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from . import terminal_text
from .db import Event, Job, Operation, Unit
from .redaction import redact, shown_artifacts
from .statuses import TERMINAL, UNIT_IDLE, JobStatus, OperationStatus
from .timeutil import iso


def plain_text(text: str) -> str:
    """Output with no escape sequence or control character (backend/terminal_text.py)."""
    return terminal_text.plain(text)


# Every key from creation on: a resource's shape never changes with its status.
EMPTY_STATS = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0, "ignored": 0, "rescued": 0}


def operation_dict(op: Operation) -> dict[str, Any]:
    stats = {**EMPTY_STATS, **json.loads(op.stats or "{}")}
    extravars = json.loads(op.extravars or "{}")
    duration = None
    if op.started_at is not None and op.finished_at is not None:
        duration = round(op.finished_at - op.started_at, 6)
    return {
        "id": op.id,
        "job_id": op.job_id,
        "unit": op.unit_name,
        "action": op.action,
        "status": op.status,
        "rc": op.rc,
        "created_at": iso(op.created_at),
        "started_at": iso(op.started_at),
        "finished_at": iso(op.finished_at),
        "extravars": redact(extravars),
        "event_count": op.event_count,
        "progress": progress_dict(op),
        "stats": stats,
        "error": op.error,
        "truncated": bool(op.truncated),
        "timeout": op.timeout,
        "duration": duration,
        "cancel_requested": bool(op.cancel_requested),
        "check": bool(op.check_mode),
        "diff": bool(op.diff_mode),
        "attempt": op.attempt,
        "retries": op.retries,
        "retry_delay": op.retry_delay,
        "retry_of": op.retry_of,
        "rerun_of": op.rerun_of,
        # When a pending retry may start (its delay), else null.
        "start_after": iso(op.not_before) if op.status == "pending" else None,
        # Data like extravars: the database keeps the real values, for the plays that read them.
        "artifacts": shown_artifacts(json.loads(op.artifacts), extravars) if op.artifacts else None,
    }


class RenderedOperations:
    """Terminal Operations already rendered, keyed by their whole database row.

    A terminal Operation's row rarely changes again, and the list of Jobs renders the same ones on
    every call (each Unit's latest): turning a row into its resource (four timestamps, two JSON texts,
    redaction) was the largest part of `GET /jobs`. The key is the row itself, so a row changed by any
    replica simply misses: nothing needs invalidating. Bounded; emptied when full. The dicts are shared
    between responses and must not be modified (nothing does: they are only serialized).
    """

    def __init__(self, limit: int = 20000) -> None:
        self.limit = limit
        self._rendered: dict[tuple[Any, ...], dict[str, Any]] = {}

    def render(self, names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
        found = self._rendered.get(row)
        if found is not None:
            return found
        record = SimpleNamespace(**dict(zip(names, row, strict=True)))
        rendered = operation_dict(record)  # type: ignore[arg-type]  # a record has the row's columns
        if record.status in TERMINAL:
            if len(self._rendered) >= self.limit:
                self._rendered.clear()
            self._rendered[row] = rendered
        return rendered


def progress_dict(op: Operation) -> dict[str, Any]:
    """While a run is active its total is the previous successful run's count (an estimate, which
    a longer run may pass: then unknown); once terminal, the count of tasks that ran."""
    total = op.tasks_total
    if op.status in TERMINAL:
        return {"tasks_done": op.tasks_done, "tasks_total": op.tasks_done, "estimated": False}
    if total is not None and op.tasks_done > total:
        total = None
    return {"tasks_done": op.tasks_done, "tasks_total": total, "estimated": total is not None}


def unit_dict(unit: Unit, op_ids: list[int], latest: dict[str, Any] | None) -> dict[str, Any]:
    """A Unit with its Operation ids (newest first) and its latest Operation, already rendered."""
    return {
        "job_id": unit.job_id,
        "name": unit.name,
        "created_at": iso(unit.created_at),
        "status": latest["status"] if latest is not None else UNIT_IDLE,
        "latest_operation": latest,
        "operations": op_ids,
    }


def job_dict(job: Job, units: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": job.id,
        "tag": job.tag,
        "created_at": iso(job.created_at),
        "status": job.status,
        "schedule": job.schedule,
        "source_job": job.source_job,
        "units": units,
    }


def event_resource(
    operation_id: int,
    seq: int,
    event: str,
    created: float | None,
    host: str | None,
    task: str | None,
    play: str | None,
    stdout: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The API's Event, the one shape for stored, paged and live events alike.

    The runner calls it for a live event (with the data it has already parsed) and `event_dict` for
    a stored row, so a follower sees the same object whether it got it live or replayed.
    """
    return {
        "seq": seq,
        "operation_id": operation_id,
        "event": event,
        "created": iso(created),
        "host": host,
        "task": task,
        "play": play,
        "stdout": stdout,
        "data": data,
    }


def event_dict(ev: Event, operation_id: int) -> dict[str, Any]:
    """A stored Event row as the API's Event."""
    return event_resource(
        operation_id, ev.seq, ev.event, ev.created, ev.host, ev.task, ev.play, ev.stdout, json.loads(ev.data or "{}")
    )


def derive_job_status(latest_statuses: list[str], any_active: bool) -> JobStatus:
    """A Job runs while any Operation of it is active, and otherwise succeeded only if every Unit's latest did."""
    if any_active:
        return JobStatus.RUNNING
    if not latest_statuses:
        return JobStatus.NEW
    if any(s != OperationStatus.SUCCESSFUL for s in latest_statuses):
        return JobStatus.FAILED
    return JobStatus.SUCCESSFUL
