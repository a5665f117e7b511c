"""What the client subcommands print: aligned tables for people, one JSON document for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from console.backups import Backup
from console.models import Job, Operation, Schedule, WireModel

Row = Sequence[object]


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


def operations_table(ops: Iterable[Operation]) -> None:
    table(
        ("ID", "JOB", "UNIT", "ACTION", "STATUS", "RC", "TASKS", "STARTED", "FINISHED"),
        (
            (op.id, op.job_id, op.unit, op.action, op.status, op.rc, _tasks(op), op.started_at, op.finished_at)
            for op in ops
        ),
    )


def jobs_table(jobs: Iterable[Job]) -> None:
    table(
        ("ID", "TAG", "STATUS", "UNITS", "CREATED"),
        ((job.id, job.tag, job.status, len(job.units), job.created_at) for job in jobs),
    )


def job_detail(job: Job) -> None:
    sys.stdout.write(f"Job {job.id}  tag {job.tag}  status {job.status}  created {job.created_at}\n\n")
    rows: list[Row] = []
    for unit in job.units:
        op = unit.latest_operation
        if op is None:
            rows.append((unit.name, unit.status, None, None, None, None))
        else:
            rows.append((unit.name, unit.status, op.id, op.action, op.rc, op.finished_at))
    table(("UNIT", "STATUS", "OPERATION", "ACTION", "RC", "FINISHED"), rows)


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
