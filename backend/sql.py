"""Reaching the database: transactions, locks, its clock, and plain SQL for the hot paths.

Every helper here uses `db.database_proxy`, bound once by `db.open_database` at start, as the models do:
there is one way to reach the database, and no caller passes a connection around.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar, cast

import peewee as pw

from .db import BaseModel, EmbeddedDatabase, database_proxy

# The first key of RedRunner's two-key advisory locks (the migration lock is a one-key lock of its own).
ADVISORY_NAMESPACE = 8787
Q = TypeVar("Q", bound="pw.ModelSelect[Any]")


class Cursor(Protocol):
    """What a DB-API cursor from sqlite3 or psycopg2 offers after a statement (peewee's is untyped)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def __iter__(self) -> Iterator[tuple[Any, ...]]: ...


def execute_sql(sql: str, params: Sequence[Any] = (), db: pw.Database | None = None) -> Cursor:
    """One statement on the bound database, or on `db` (the migrations are handed theirs), typed: peewee's
    `Database.execute_sql` carries no annotations."""
    run: Callable[[str, Sequence[Any]], Cursor] = (database_proxy if db is None else db).execute_sql
    return run(sql, params)


def cursor() -> Cursor:
    """A new cursor of the bound database's connection, for a batch (`executemany`)."""
    make: Callable[[], Cursor] = database_proxy.cursor
    return make()


def database() -> pw.Database:
    """The database `open_database` bound."""
    return cast(pw.Database, database_proxy.obj)


def is_postgres() -> bool:
    return isinstance(database_proxy.obj, pw.PostgresqlDatabase)


def rows(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples."""
    return list(cast(Iterable[tuple[Any, ...]], query.tuples()))


def records(query: Any) -> list[Any]:
    """A query's rows as attribute records named by column (`job_id`, `unit_id`, ...), for hot read paths.

    Skips peewee's model building and per-value conversion, which cost several times the query itself
    (150 Operations: 7 ms as models, 0.5 ms raw). Values are the driver's: SQLite booleans come as 0/1.
    """
    return _records(database_proxy.execute(query))


def records_in(table: type[BaseModel], key: str, values: list[int], order: str = "", columns: str = "*") -> list[Any]:
    """`SELECT columns FROM table WHERE key IN values ORDER BY order` as records, the SQL built as a string:
    peewee takes twice as long to build an IN list of 150 ids as the database takes to answer it."""
    return _records(_select_in(table, key, values, order, columns))


def rows_in(
    table: type[BaseModel], key: str, values: list[int], order: str = "", columns: str = "*"
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """records_in as the column names and the driver's plain row tuples (hashable: usable as cache keys)."""
    cursor = _select_in(table, key, values, order, columns)
    return [d[0] for d in cursor.description], [tuple(row) for row in cursor.fetchall()]


def _select_in(table: type[BaseModel], key: str, values: list[int], order: str, columns: str) -> Any:
    marks = ", ".join([database_proxy.param] * len(values))
    sql = f'SELECT {columns} FROM "{table._meta.table_name}" WHERE "{key}" IN ({marks})'
    return execute_sql(sql + (f" ORDER BY {order}" if order else ""), values)


def records_sql(sql: str, params: list[Any]) -> list[Any]:
    """Records of a hand-written query, its parameters marked `?` (rewritten to the driver's mark): for
    the few statements on hot paths (starting an Operation) where building the SQL through peewee cost
    more than running it."""
    if database_proxy.param != "?":
        sql = sql.replace("?", database_proxy.param)
    return _records(execute_sql(sql, params))


def _columns_and_values(table: type[BaseModel], fields: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The quoted column names of these model fields, and their values through each field's db_value."""
    columns: list[str] = []
    values: list[Any] = []
    for name, value in fields.items():
        field = table._meta.fields[name]
        columns.append(f'"{field.column_name}"')
        value = field.db_value(value)
        # A status enum member as its plain text: drivers adapt exact types.
        values.append(str(value) if isinstance(value, str) else value)
    return columns, values


def update_sql(table: type[BaseModel], fields: dict[str, Any], where: str, params: list[Any]) -> int:
    """`UPDATE table SET field = ?, ... WHERE where` as a string (`where` marks its parameters `?`), each
    value through its field's db_value as peewee would; returns the rows changed. For the writes every
    Operation makes (claim, counters, its end), where peewee's SQL building cost more than the statement."""
    columns, values = _columns_and_values(table, fields)
    sets = ", ".join(f"{column} = ?" for column in columns)
    sql = f'UPDATE "{table._meta.table_name}" SET {sets} WHERE {where}'
    if database_proxy.param != "?":
        sql = sql.replace("?", database_proxy.param)
    return int(execute_sql(sql, [*values, *params]).rowcount)


def insert_sql(table: type[BaseModel], fields: dict[str, Any]) -> int:
    """`INSERT INTO table (...) VALUES (...)` as a string, with the model's defaults for the fields not
    given and each value through its field's db_value, as peewee's insert; returns the new row's id. For
    the row every Operation starts with."""
    meta = table._meta
    values = dict(fields)
    for name, field in meta.fields.items():
        if name not in values and field.default is not None:
            values[name] = field.default() if callable(field.default) else field.default
    columns, params = _columns_and_values(table, values)
    marks = ", ".join([database_proxy.param] * len(columns))
    sql = f'INSERT INTO "{meta.table_name}" ({", ".join(columns)}) VALUES ({marks})'
    if is_postgres():
        returning = f'{sql} RETURNING "{meta.fields["id"].column_name}"'
        row = execute_sql(returning, params).fetchone()
        assert row is not None  # RETURNING gives the inserted row
        return int(row[0])
    inserted = execute_sql(sql, params).lastrowid
    assert inserted is not None  # an INSERT sets it
    return inserted


def _records(cursor: Any) -> list[Any]:
    names = [d[0] for d in cursor.description]
    return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def write_transaction() -> Any:
    """A transaction that takes the write lock at once on SQLite, so check-then-insert cannot interleave."""
    db = database()
    if isinstance(db, EmbeddedDatabase):
        db.check_file()
    if isinstance(db, pw.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def lock_row(query: Q) -> Q:
    """Row lock on PostgreSQL; SQLite's IMMEDIATE transaction already serializes writers."""
    return query.for_update() if is_postgres() else query


def database_now() -> Any:
    """The current time as the database sees it, as a value to write or compare in SQL. Replicas compare
    heartbeats written by other hosts: one clock (the database's) makes a skewed host clock harmless.
    SQLite is one process on one host, so its own clock is the same thing."""
    if is_postgres():
        return pw.SQL("EXTRACT(EPOCH FROM clock_timestamp())::double precision")
    return time.time()


def lock_name(name: str) -> None:
    """Hold a lock on `name` until the current transaction ends: a PostgreSQL advisory lock, for
    check-then-insert on rows that do not exist yet (nothing to lock with FOR UPDATE). SQLite's IMMEDIATE
    transaction already serializes writers."""
    if is_postgres():
        key = zlib.crc32(name.encode()) - 2**31  # a stable 32-bit key (hash() differs per process)
        execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (ADVISORY_NAMESPACE, key))
