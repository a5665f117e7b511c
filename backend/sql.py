"""peewee's raw SQL with types: `Database.execute_sql` and its cursor carry no annotations.

`execute_sql(db, sql, params)` is the typed call; the DB-API cursor it returns is `Cursor`, the part of
sqlite3's and psycopg2's cursors that RedRunner uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import peewee as pw


class Cursor(Protocol):
    """What a DB-API cursor from sqlite3 or psycopg2 offers after a statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def __iter__(self) -> Iterator[tuple[Any, ...]]: ...


def execute_sql(db: pw.Database | pw.DatabaseProxy, sql: str, params: Sequence[Any] = ()) -> Cursor:
    """Run one statement on `db` (the caller's connection and transaction, as peewee runs it)."""
    run: Callable[[str, Sequence[Any]], Cursor] = db.execute_sql
    return run(sql, params)
