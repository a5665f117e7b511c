"""What the client subcommands print: aligned tables for people, one JSON document for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from console.backups import Backup
from console.failure import Failure
from console.models import Delivery, Job, Operation, Schedule, Webhook, WireModel

Row = Sequence[object]
Failures = dict[int, Failure]


def table(headers: Sequence[str], rows: Iterable[Row], out: TextIO | None = None) -> None:
    """Columns padded to their widest cell; `None` shows as `-`, so empty cells stay visible."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    stream = out or sys.stdout
    for row in cells:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def plain(value: Any) -> Any:
    """Models as the server sent them (their `raw` object, unknown fields included), lists as lists."""
    if isinstance(value, WireModel):
        return dict(value.raw)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def emit_json(document: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(plain(document), indent=2, sort_keys=True) + "\n")


def _tasks(op: Operation) -> str:
    total = op.progress.tasks_total
    return f"{op.progress.tasks_done}/{total if total is not None else '?'}"


def failed_task(op: Operation, failures: Failures) -> str | None:
    found = failures.get(op.id)
    return found.task if found else None


def error_text(op: Operation, failures: Failures) -> str | None:
    """Why it did not succeed: the server's `error` (it could not run, it was lost), else the failure's message."""
    found = failures.get(op.id)
    return op.error or (found.message if found else None)


def operations_table(ops: Iterable[Operation], failures: Failures | None = None) -> None:
    """The failing task and the error close each row: a long message is the last cell, cut by nothing."""
    known = failures or {}
    table(
        ("ID", "JOB", "UNIT", "ACTION", "STATUS", "RC", "TASKS", "STARTED", "FINISHED", "FAILED TASK", "ERROR"),
        (
            (
                op.id,
                op.job_id,
                op.unit,
                op.action,
                op.status,
                op.rc,
                _tasks(op),
                op.started_at,
                op.finished_at,
                failed_task(op, known),
                error_text(op, known),
            )
            for op in ops
        ),
    )


def operation_detail(op: Operation, failures: Failures) -> None:
    """One Operation as `field: value` lines, the request first, then how it ended."""
    fields: list[tuple[str, object]] = [
        ("operation", op.id),
        ("job", op.job_id),
        ("unit", op.unit),
        ("action", op.action),
        ("status", op.status),
        ("rc", op.rc),
        ("attempt", f"{op.attempt} of {op.retries + 1}" if op.retries else op.attempt),
        ("retry of", op.retry_of),
        ("rerun of", op.rerun_of),
        ("check", "yes" if op.check else None),
        ("timeout", op.timeout),
        ("extravars", json.dumps(op.extravars, sort_keys=True) if op.extravars else None),
        ("created", op.created_at),
        ("started", op.started_at),
        ("finished", op.finished_at),
        ("tasks", _tasks(op)),
        ("stats", " ".join(f"{k}={getattr(op.stats, k)}" for k in ("ok", "changed", "failed", "skipped", "rescued"))),
        ("failed task", failed_task(op, failures)),
        ("error", error_text(op, failures)),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        if value is not None:
            sys.stdout.write(f"{name + ':':<{width + 1}} {value}\n")


def jobs_table(jobs: Iterable[Job]) -> None:
    table(
        ("ID", "TAG", "STATUS", "UNITS", "CREATED"),
        ((job.id, job.tag, job.status, len(job.units), job.created_at) for job in jobs),
    )


def job_detail(job: Job, failures: Failures | None = None) -> None:
    known = failures or {}
    sys.stdout.write(f"Job {job.id}  tag {job.tag}  status {job.status}  created {job.created_at}\n\n")
    rows: list[Row] = []
    for unit in job.units:
        op = unit.latest_operation
        if op is None:
            rows.append((unit.name, unit.status, None, None, None, None, None, None))
        else:
            task, error = failed_task(op, known), error_text(op, known)
            rows.append((unit.name, unit.status, op.id, op.action, op.rc, op.finished_at, task, error))
    table(("UNIT", "STATUS", "OPERATION", "ACTION", "RC", "FINISHED", "FAILED TASK", "ERROR"), rows)


def backups_table(backups: Iterable[Backup]) -> None:
    table(
        ("JOB", "OPERATION", "TAG", "UNIT", "CREATED", "SIZE", "KEPT", "VERIFIED", "PATH"),
        (
            (
                b.job_id,
                b.operation_id,
                b.tag,
                b.unit,
                b.created_at,
                b.size,
                "yes" if b.kept else "no",
                b.verified_at or "never",
                b.path,
            )
            for b in backups
        ),
    )


def schedules_table(schedules: Iterable[Schedule]) -> None:
    table(
        ("NAME", "CRON", "TIMEZONE", "TAG", "ACTION", "UNITS", "ENABLED", "NEXT RUN", "LAST JOB"),
        (
            (
                s.name,
                s.cron,
                s.timezone,
                s.tag,
                s.action,
                ",".join(s.units),
                "yes" if s.enabled else "no",
                s.next_run_at,
                s.last_job_id,
            )
            for s in schedules
        ),
    )


def webhooks_table(hooks: Iterable[Webhook]) -> None:
    table(
        ("ID", "URL", "EVENTS", "TAGS", "SECRET", "CREATED"),
        (
            (
                h.id,
                h.url,
                ",".join(h.events),
                ",".join(h.tags) if h.tags is not None else "all",
                "yes" if h.has_secret else "no",
                h.created_at,
            )
            for h in hooks
        ),
    )


def deliveries_table(deliveries: Iterable[Delivery]) -> None:
    table(
        ("ID", "WEBHOOK", "EVENT", "STATUS", "ATTEMPTS", "ANSWER", "CREATED", "NEXT ATTEMPT", "ERROR"),
        (
            (
                d.id,
                d.webhook_id,
                d.event,
                d.status,
                d.attempts,
                d.response_status,
                d.created_at,
                d.next_attempt_at if d.status == "pending" else None,
                d.last_error,
            )
            for d in deliveries
        ),
    )
