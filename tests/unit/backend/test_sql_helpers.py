"""sql.insert_sql and sql.update_sql write what peewee's own insert and update would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import db, sql
from backend.db import Job, Operation, Unit
from backend.migrations import migrate
from backend.sql import insert_sql, update_sql
from backend.statuses import OperationStatus


@pytest.fixture
def unit(tmp_path: Path) -> Iterator[Unit]:
    database = db.open_database(f"sqlite:///{tmp_path / 'rr.db'}")
    migrate(database)
    job = Job.create(tag="t", status="idle", created_at=1.0)
    yield Unit.create(job=job, name="db", created_at=1.0)
    database.close()


def row(op_id: int) -> dict[str, object]:
    found = sql.records_sql('SELECT * FROM "operation" WHERE id = ?', [op_id])[0]
    return {k: v for k, v in vars(found).items() if k != "id"}


def test_insert_sql_fills_the_models_defaults_like_peewee(unit: Unit) -> None:
    fields = {"job": unit.job_id, "unit": unit.id, "unit_name": "db", "action": "backup-db.yml", "created_at": 2.0}
    ours = insert_sql(Operation, {**fields, "check_mode": True, "status": OperationStatus.PENDING})
    theirs = Operation.insert(**fields, check_mode=True, status="pending").execute()
    assert ours != theirs
    assert row(ours) == row(theirs)
    assert row(ours)["status"] == "pending" and row(ours)["stats"] == "{}" and row(ours)["attempt"] == 1


def test_update_sql_sets_only_the_rows_its_where_names(unit: Unit) -> None:
    fields = {"job": unit.job_id, "unit": unit.id, "unit_name": "db", "action": "a.yml", "created_at": 2.0}
    first, second = insert_sql(Operation, fields), insert_sql(Operation, fields)
    changed = update_sql(
        Operation, {"status": OperationStatus.RUNNING, "truncated": True}, "id = ? AND status = ?", [first, "pending"]
    )
    assert changed == 1
    assert row(first)["status"] == "running" and row(first)["truncated"] == 1
    assert row(second)["status"] == "pending"
    assert update_sql(Operation, {"status": "failed"}, "id = ? AND status = ?", [first, "pending"]) == 0
