"""Rendered terminal Operations, keyed by their row: the same resource as rendering afresh, and a changed
row (from any replica) is never answered from the cache."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from backend.db import Operation
from backend.serialize import RenderedOperations, operation_dict

NAMES = [f.column_name for f in Operation._meta.sorted_fields]


def row(**changes: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "id": 7,
        "job_id": 2,
        "unit_id": 3,
        "unit_name": "db",
        "action": "backup-db.yml",
        "status": "successful",
        "rc": 0,
        "created_at": 1700000000.0,
        "started_at": 1700000001.0,
        "finished_at": 1700000009.5,
        "extravars": '{"password": "x", "level": 3}',
        "event_count": 12,
        "tasks_done": 4,
        "tasks_total": 4,
        "stats": '{"ok": 4}',
        "error": None,
        "truncated": 0,
        "timeout": None,
        "cancel_requested": 0,
        "owner": "r1",
        "pid": None,
        "pid_started": None,
        "run_ident": None,
        "hostname": "h",
        "check_mode": 0,
        "diff_mode": 0,
        "attempt": 1,
        "retries": 0,
        "retry_delay": 10.0,
        "retry_of": None,
        "rerun_of": None,
        "not_before": None,
        "artifacts": None,
        "requested_by": "nightly",
    }
    values.update(changes)
    return tuple(values[n] for n in NAMES)


def fresh(values: tuple[Any, ...]) -> dict[str, Any]:
    return operation_dict(SimpleNamespace(**dict(zip(NAMES, values, strict=True))))  # type: ignore[arg-type]


def test_a_rendered_operation_is_the_resource_and_is_reused_for_the_same_row() -> None:
    cache = RenderedOperations()
    first = cache.render(NAMES, row())
    assert first == fresh(row())
    assert first["extravars"]["password"] == "$redacted$"
    assert cache.render(NAMES, row()) is first


def test_a_changed_row_is_rendered_again() -> None:
    cache = RenderedOperations()
    cache.render(NAMES, row())
    changed = cache.render(NAMES, row(error="retention note", event_count=13))
    assert changed["error"] == "retention note" and changed["event_count"] == 13


def test_active_operations_are_not_kept_and_the_cache_stays_bounded() -> None:
    cache = RenderedOperations(limit=2)
    running = cache.render(NAMES, row(status="running", finished_at=None))
    assert running["status"] == "running"
    assert cache.render(NAMES, row(status="running", finished_at=None)) is not running
    for i in range(5):
        cache.render(NAMES, row(id=100 + i))
    assert len(cache._rendered) <= 2
