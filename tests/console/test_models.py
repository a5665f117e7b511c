"""The typed wire models and frames: defaults for missing fields, errors for wrong types (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from console.client import (
    EndFrame,
    EventFrame,
    Job,
    JobDeletedFrame,
    Operation,
    OperationFrame,
    OtherFrame,
    SnapshotFrame,
    UnitFrame,
    parse_frame,
)
from console.models import EventsPage, Stats, Unit, WireError


def wire_operation(**over: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "id": 345,
        "job_id": 12,
        "unit": "db",
        "action": "backup-db.yml",
        "status": "running",
        "rc": None,
        "created_at": "2026-11-25T12:00:00Z",
        "started_at": "2026-11-25T12:00:01Z",
        "finished_at": None,
        "extravars": {"files_path": "/srv"},
        "event_count": 41,
        "progress": {"tasks_done": 7, "tasks_total": 12},
        "stats": {"ok": 7, "changed": 2, "failed": 0, "skipped": 1, "unreachable": 0},
        "error": None,
    }
    op.update(over)
    return op


def test_operation_reads_every_contract_field() -> None:
    op = Operation.from_wire(wire_operation())
    assert (op.id, op.job_id, op.unit, op.action, op.status) == (345, 12, "db", "backup-db.yml", "running")
    assert op.progress.tasks_done == 7 and op.progress.tasks_total == 12 and not op.progress.estimated
    assert op.stats == Stats(ok=7, changed=2, failed=0, skipped=1, unreachable=0)
    assert op.active and not op.terminal
    assert op.extravars == {"files_path": "/srv"}


def test_missing_fields_get_the_contracts_zeros_and_nulls() -> None:
    op = Operation.from_wire({"id": 1, "job_id": 2, "unit": "db", "action": "a.yml", "status": "pending"})
    assert op.progress.tasks_done == 0 and op.progress.tasks_total is None
    assert op.stats.ignored == 0 and op.stats.rescued == 0
    assert (op.attempt, op.retries, op.retry_of, op.artifacts, op.check) == (1, 0, None, None, False)
    unit = Unit.from_wire({"job_id": 2, "name": "db"})
    assert unit.status == "idle" and unit.latest_operation is None and unit.operations == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "345"), ("event_count", 1.5), ("status", 3), ("progress", [1, 2]), ("truncated", "no"), ("rc", True)],
)
def test_a_wrong_type_is_a_wire_error(field: str, value: Any) -> None:
    with pytest.raises(WireError, match=field):
        Operation.from_wire(wire_operation(**{field: value}))


def test_to_dict_keeps_fields_the_model_does_not_know() -> None:
    job = Job.from_wire({"id": 3, "tag": "backup", "status": "new", "units": [], "future_field": {"x": 1}})
    out = job.to_dict()
    assert out["future_field"] == {"x": 1} and out["id"] == 3 and out["units"] == []
    op = Operation.from_wire(wire_operation(artifacts={"redrunner_backup": {"path": "/b"}}))
    assert op.to_dict()["artifacts"] == {"redrunner_backup": {"path": "/b"}}
    assert op.to_dict()["progress"] == {"tasks_done": 7, "tasks_total": 12, "estimated": False}


def test_status_frames_are_told_apart_by_kind_or_by_shape() -> None:
    unit = {"job_id": 12, "name": "db", "status": "running", "latest_operation": wire_operation(), "operations": [345]}
    assert isinstance(parse_frame({"type": "status", "data": wire_operation()}), OperationFrame)
    assert isinstance(parse_frame({"type": "status", "data": unit}), UnitFrame)
    assert isinstance(parse_frame({"type": "status", "kind": "unit", "data": unit}), UnitFrame)
    assert isinstance(parse_frame({"type": "status", "kind": "operation", "data": wire_operation()}), OperationFrame)


def test_other_frames() -> None:
    event = {"seq": 4, "operation_id": 345, "event": "runner_on_ok", "stdout": "ok: [localhost]", "task": "Dump"}
    frame = parse_frame({"type": "event", "operation_id": 345, "seq": 4, "data": event})
    assert isinstance(frame, EventFrame) and frame.seq == 4 and frame.event.task == "Dump"
    snap = parse_frame({"type": "snapshot", "data": {"id": 12, "tag": "backup", "units": []}})
    assert isinstance(snap, SnapshotFrame) and snap.job.tag == "backup"
    end = parse_frame({"type": "end", "data": wire_operation(status="successful", rc=0)})
    assert isinstance(end, EndFrame) and end.operation is not None and end.operation.terminal
    deleted = parse_frame({"type": "end", "data": {"id": 12, "tag": "backup"}})
    assert isinstance(deleted, EndFrame) and deleted.operation is None
    assert parse_frame({"type": "job_deleted", "data": {"id": 12, "tag": "t"}}) == JobDeletedFrame(12, "t")
    assert parse_frame({"type": "newfangled", "data": {"a": 1}}) == OtherFrame("newfangled", {"a": 1})
    with pytest.raises(WireError):
        parse_frame({"type": "status", "data": {"action": "x.yml"}})  # an Operation without an id
    with pytest.raises(WireError):
        parse_frame(["not", "an", "object"])


def test_events_page() -> None:
    page = EventsPage.from_wire({"items": [{"seq": 1, "operation_id": 9}], "next_after": 1, "complete": True})
    assert [e.seq for e in page.items] == [1] and page.complete and page.items[0].stdout == ""
