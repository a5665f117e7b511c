"""What the client subcommands print: aligned tables for people, one JSON document for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from console.client import Job, Operation, Schedule

Row = Sequence[object]


def table(headers: Sequence[str], rows: Iterable[Row], out: TextIO | None = None) -> None:
    """Columns padded to their widest cell; `None` shows as `-`, so empty cells stay visible."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    stream = out or sys.stdout
    for row in cells:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def emit_json(document: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def _count(op: Mapping[str, Any]) -> str:
    progress = op.get("progress") or {}
    total = progress.get("tasks_total")
    return f"{progress.get('tasks_done', 0)}/{total if total is not None else '?'}"


def operations_table(ops: Iterable[Operation]) -> None:
    table(
        ("ID", "JOB", "UNIT", "ACTION", "STATUS", "RC", "TASKS", "STARTED", "FINISHED"),
        (
            (
                op.get("id"),
                op.get("job_id"),
                op.get("unit"),
                op.get("action"),
                op.get("status"),
                op.get("rc"),
                _count(op),
                op.get("started_at"),
                op.get("finished_at"),
            )
            for op in ops
        ),
    )


def jobs_table(jobs: Iterable[Job]) -> None:
    table(
        ("ID", "TAG", "STATUS", "UNITS", "CREATED"),
        (
            (job.get("id"), job.get("tag"), job.get("status"), len(job.get("units") or []), job.get("created_at"))
            for job in jobs
        ),
    )


def job_detail(job: Job) -> None:
    sys.stdout.write(
        f"Job {job.get('id')}  tag {job.get('tag')}  status {job.get('status')}  created {job.get('created_at')}\n\n"
    )
    rows = []
    for unit in job.get("units") or []:
        op: Mapping[str, Any] = unit.get("latest_operation") or {}
        rows.append(
            (unit.get("name"), unit.get("status"), op.get("id"), op.get("action"), op.get("rc"), op.get("finished_at"))
        )
    table(("UNIT", "STATUS", "OPERATION", "ACTION", "RC", "FINISHED"), rows)


def schedules_table(schedules: Iterable[Schedule]) -> None:
    table(
        ("NAME", "CRON", "TIMEZONE", "TAG", "ACTION", "UNITS", "ENABLED", "NEXT RUN", "LAST JOB"),
        (
            (
                s.get("name"),
                s.get("cron"),
                s.get("timezone"),
                s.get("tag"),
                s.get("action"),
                ",".join(s.get("units") or []),
                "yes" if s.get("enabled", True) else "no",
                s.get("next_run_at"),
                s.get("last_job_id"),
            )
            for s in schedules
        ),
    )
