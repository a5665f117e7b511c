"""A new database is made at the current schema in one step, and its tables are the ones an old database
reaches by upgrading (the same columns, types and keys; the hand-made old database has no secondary
indexes to compare)."""

from __future__ import annotations

import logging
from pathlib import Path

import peewee as pw
import pytest

from backend import db as store
from backend import migrations
from backend.sql import execute_sql
from tests.backend.test_artifacts_and_ids import old_database


def schema(database: pw.Database) -> dict[str, object]:
    """Every table's columns: name, type, not null, default, primary key."""
    tables = [t for (t,) in execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'", db=database)]
    shape: dict[str, object] = {}
    for table in sorted(t for t in tables if t != "sqlite_sequence"):
        shape[table] = [row[1:] for row in execute_sql(f'PRAGMA table_info("{table}")', db=database).fetchall()]
    return shape


def test_a_new_database_is_created_in_one_step(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = store.open_database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        with caplog.at_level(logging.INFO, logger=migrations.__name__):
            assert migrations.migrate(database) == migrations.SCHEMA_VERSION
        assert [r.getMessage() for r in caplog.records] == [
            f"database created at schema version {migrations.SCHEMA_VERSION}"
        ]
        versions = [v for (v,) in execute_sql("SELECT version FROM schema_version", db=database)]
        assert versions == [migrations.SCHEMA_VERSION]
        caplog.clear()
        assert migrations.migrate(database) == migrations.SCHEMA_VERSION  # nothing left to do, nothing logged
        assert caplog.records == []
        new_shape = schema(database)
    finally:
        database.close()

    old_path = tmp_path / "old.db"
    old_database(old_path)
    upgraded = store.open_database(f"sqlite:///{old_path}")
    try:
        migrations.migrate(upgraded)
        assert schema(upgraded) == new_shape
    finally:
        upgraded.close()
