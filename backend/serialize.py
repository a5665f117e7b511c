"""Rows to the API's JSON resources (api.md: Operation, Unit, Job, Event)."""

from __future__ import annotations

import json
import re
from typing import Any

from .db import ACTIVE, TERMINAL, Event, Job, Operation, Unit
from .timeutil import iso

#: ANSI escape sequences (colours, cursor moves) as ansible writes them.
ANSI_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_text(text: str) -> str:
    return ANSI_CODE.sub("", text)


# Every key from creation on: a resource's shape never changes with its status.
EMPTY_STATS = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0, "ignored": 0, "rescued": 0}


def operation_dict(op: Operation) -> dict[str, Any]:
    stats = {**EMPTY_STATS, **json.loads(op.stats or "{}")}
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
        "extravars": json.loads(op.extravars or "{}"),
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
    }


def progress_dict(op: Operation) -> dict[str, Any]:
    """While a run is active its total is the previous successful run's count (an estimate, which
    a longer run may pass: then unknown); once terminal, the count of tasks that ran."""
    total = op.tasks_total
    if op.status in TERMINAL:
        return {"tasks_done": op.tasks_done, "tasks_total": op.tasks_done, "estimated": False}
    if total is not None and op.tasks_done > total:
        total = None
    return {"tasks_done": op.tasks_done, "tasks_total": total, "estimated": total is not None}


def unit_dict(unit: Unit, op_ids: list[int], latest: Operation | None) -> dict[str, Any]:
    return {
        "job_id": unit.job_id,
        "name": unit.name,
        "created_at": iso(unit.created_at),
        "status": latest.status if latest is not None else "idle",
        "latest_operation": operation_dict(latest) if latest is not None else None,
        "operations": op_ids,
    }


def job_dict(job: Job, units: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": job.id,
        "tag": job.tag,
        "created_at": iso(job.created_at),
        "status": job.status,
        "units": units,
    }


def event_dict(ev: Event, operation_id: int) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "operation_id": operation_id,
        "event": ev.event,
        "created": iso(ev.created),
        "host": ev.host,
        "task": ev.task,
        "play": ev.play,
        "stdout": ev.stdout,
        "data": json.loads(ev.data or "{}"),
    }


def derive_job_status(latest_statuses: list[str], any_active: bool) -> str:
    if any_active:
        return "running"
    if not latest_statuses:
        return "new"
    if any(s != "successful" for s in latest_statuses):
        return "failed"
    return "successful"


def is_active(status: str) -> bool:
    return status in ACTIVE
