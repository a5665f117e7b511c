"""The embedded database refuses writes once its file is deleted or replaced, however the file system
hands out inode numbers."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from backend.db import DatabaseGone, EmbeddedDatabase, database_proxy
from backend.sql import execute_sql, write_transaction


def test_a_new_file_at_the_path_is_refused_even_when_every_connection_was_closed(tmp_path: Path) -> None:
    path = tmp_path / "rr.db"
    database = EmbeddedDatabase(str(path))
    database_proxy.initialize(database)
    execute_sql("CREATE TABLE t (x INTEGER)")
    database.check_file()
    # Deleted, and every connection to it closed: the writer's retry closes its own and opens another.
    # A file system that reuses the freed inode (ext4 and overlayfs here do, at once) gave the new empty
    # file at the path the number the old one had, and it passed for the original.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    database.close()
    sqlite3.connect(path).close()
    assert path.exists()
    with pytest.raises(DatabaseGone):
        database.check_file()
    with pytest.raises(DatabaseGone), write_transaction():
        execute_sql("INSERT INTO t VALUES (1)")


def test_the_file_it_opened_passes_and_a_replaced_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "rr.db"
    database = EmbeddedDatabase(str(path))
    database_proxy.initialize(database)
    execute_sql("CREATE TABLE t (x INTEGER)")
    with write_transaction():
        execute_sql("INSERT INTO t VALUES (1)")
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, path)
    with pytest.raises(DatabaseGone):
        database.check_file()
    database.close()
