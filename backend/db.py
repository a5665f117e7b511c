"""Storage: peewee models, the database connection from a URL, and schema versioning.

Times are stored as UTC epoch seconds (floats) so SQLite and PostgreSQL sort and compare them alike.
JSON columns are text, written and read by the service layer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import peewee as pw
from playhouse.db_url import parse as parse_url
from playhouse.shortcuts import ReconnectMixin

from . import statuses

log = logging.getLogger(__name__)

database_proxy = pw.DatabaseProxy()
Q = TypeVar("Q", bound="pw.ModelSelect[Any]")

# Tuples for peewee's IN clauses, in a stable order.
ACTIVE = tuple(str(s) for s in sorted(statuses.ACTIVE))
TERMINAL = tuple(str(s) for s in sorted(statuses.TERMINAL))


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Job(BaseModel):
    id = pw.AutoField()
    tag = pw.CharField(max_length=128, index=True)
    created_at = pw.DoubleField()
    # Kept current by the service on every operation change, so listing and filtering by status is one query.
    status = pw.CharField(max_length=16, default="new", index=True)

    class Meta:
        indexes = ((("tag", "id"), False),)


class Unit(BaseModel):
    job_id: int
    id = pw.AutoField()
    job = pw.ForeignKeyField(Job, backref="units", on_delete="CASCADE")
    name = pw.CharField(max_length=63)
    created_at = pw.DoubleField()

    class Meta:
        indexes = ((("job", "name"), True),)


class Operation(BaseModel):
    job_id: int
    unit_id: int
    id = pw.AutoField()
    job = pw.ForeignKeyField(Job, backref="operations", on_delete="CASCADE")
    unit = pw.ForeignKeyField(Unit, backref="operations", on_delete="CASCADE")
    unit_name = pw.CharField(max_length=63)
    action = pw.CharField(max_length=255)
    status = pw.CharField(max_length=16, default="pending")
    rc = pw.IntegerField(null=True)
    created_at = pw.DoubleField()
    started_at = pw.DoubleField(null=True)
    finished_at = pw.DoubleField(null=True)
    extravars = pw.TextField(default="{}")
    event_count = pw.IntegerField(default=0)
    tasks_done = pw.IntegerField(default=0)
    tasks_total = pw.IntegerField(null=True)
    stats = pw.TextField(default="{}")
    error = pw.TextField(null=True)
    truncated = pw.BooleanField(default=False)
    timeout = pw.DoubleField(null=True)
    cancel_requested = pw.BooleanField(default=False)
    owner = pw.CharField(max_length=128, null=True, index=True)
    pid = pw.IntegerField(null=True)
    pid_started = pw.DoubleField(null=True)
    run_ident = pw.CharField(max_length=64, null=True)
    hostname = pw.CharField(max_length=255, null=True)
    # The request's modes and retry policy (api.md "More on Operations"). `check` is an SQL keyword, hence
    # the `_mode` column names; the API calls them `check` and `diff`.
    check_mode = pw.BooleanField(default=False)
    diff_mode = pw.BooleanField(default=False)
    attempt = pw.IntegerField(default=1)
    retries = pw.IntegerField(default=0)
    retry_delay = pw.DoubleField(default=10.0)
    retry_of = pw.IntegerField(null=True)
    rerun_of = pw.IntegerField(null=True)
    # A pending retry waits until this time (epoch seconds) before a dispatcher may claim it.
    not_before = pw.DoubleField(null=True)

    class Meta:
        indexes = (
            (("unit", "status"), False),
            (("job", "id"), False),
            (("status", "id"), False),
            (("action", "unit_name", "status"), False),
        )


class Event(BaseModel):
    operation_id: int
    id = pw.BigAutoField()
    operation = pw.ForeignKeyField(Operation, backref="events", on_delete="CASCADE", index=False)
    seq = pw.IntegerField()
    event = pw.CharField(max_length=64)
    created = pw.DoubleField()
    host = pw.CharField(max_length=255, null=True)
    task = pw.TextField(null=True)
    play = pw.TextField(null=True)
    stdout = pw.TextField(default="")
    data = pw.TextField(default="{}")

    class Meta:
        indexes = ((("operation", "seq"), True),)


class Replica(BaseModel):
    id = pw.CharField(max_length=128, primary_key=True)
    hostname = pw.CharField(max_length=255)
    pid = pw.IntegerField()
    started_at = pw.DoubleField()
    heartbeat_at = pw.DoubleField(index=True)


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DoubleField()


MODELS: list[type[BaseModel]] = [Job, Unit, Operation, Event, Replica, SchemaVersion]


class ReconnectingPostgresqlDatabase(ReconnectMixin, pw.PostgresqlDatabase):
    """Each thread keeps its connection for the life of the server: once PostgreSQL drops it (restart,
    failover, a proxy's idle timeout), every statement on it would fail forever, and the replica would
    answer 500 and stop heartbeating. A statement outside a transaction (BEGIN included) that finds its
    connection dead reconnects and runs once more; within a transaction the error reaches the caller.
    """

    reconnect_errors = (
        (pw.OperationalError, "server closed the connection"),
        (pw.OperationalError, "terminating connection"),
        (pw.OperationalError, "connection has been closed"),
        (pw.OperationalError, "could not receive data from server"),
        (pw.InterfaceError, "connection already closed"),
    )


def open_database(url: str) -> pw.Database:
    """Connect the models to the database named by `url` (sqlite:///path or postgresql://...)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        db = pw.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 10_000,
                "synchronous": "normal",
                "foreign_keys": 1,
                "cache_size": -16_000,
            },
            check_same_thread=False,
            timeout=10,
        )
    elif url.startswith(("postgres://", "postgresql://")):
        db = ReconnectingPostgresqlDatabase(**parse_url(url.replace("postgres://", "postgresql://", 1)))
    else:
        raise SystemExit(f"redrunner: unsupported database URL (use sqlite:/// or postgresql://): {url!r}")
    database_proxy.initialize(db)
    return db


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
    marks = ", ".join([database_proxy.param] * len(values))
    sql = f'SELECT {columns} FROM "{table._meta.table_name}" WHERE "{key}" IN ({marks})'
    return _records(database_proxy.execute_sql(sql + (f" ORDER BY {order}" if order else ""), values))


def _records(cursor: Any) -> list[Any]:
    names = [d[0] for d in cursor.description]
    return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def is_postgres(db: pw.Database) -> bool:
    return isinstance(db, pw.PostgresqlDatabase)


def write_transaction(db: pw.Database) -> Any:
    """A transaction that takes the write lock at once on SQLite, so check-then-insert cannot interleave."""
    if isinstance(db, pw.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def lock_row(db: pw.Database, query: Q) -> Q:
    """Row lock on PostgreSQL; SQLite's IMMEDIATE transaction already serializes writers."""
    return query.for_update() if is_postgres(db) else query


# -- schema versions -------------------------------------------------------------------------------
# Each entry upgrades the schema from the version before it. Never edit a released entry: append.


def _v1_initial(db: pw.Database) -> None:
    db.create_tables([Job, Unit, Operation, Event, Replica], safe=True)
    # One running operation per unit, enforced by the database itself (several replicas may claim).
    db.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS operation_one_running_per_unit "
        "ON operation (unit_id) WHERE status = 'running'"
    )


def add_missing_columns(db: pw.Database, model: type[BaseModel], *names: str) -> None:
    """Add the model's fields `names` to its table unless present. Version 1 creates tables from the
    current models, so on a new database later columns already exist: every migration that adds
    columns goes through here to stay correct on both new and upgraded databases."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run_migrations

    table = model._meta.table_name
    present = {c.name for c in db.get_columns(table)}
    migrator = SchemaMigrator.from_database(db)
    fields = model._meta.fields
    ops = [
        migrator.add_column(table, fields[n].column_name, fields[n])
        for n in names
        if fields[n].column_name not in present
    ]
    if ops:
        run_migrations(*ops)


def _v_job_actions(db: pw.Database) -> None:
    """Check/diff modes, retry chains and reruns on Operations (issue 15)."""
    add_missing_columns(
        db,
        Operation,
        "check_mode",
        "diff_mode",
        "attempt",
        "retries",
        "retry_delay",
        "retry_of",
        "rerun_of",
        "not_before",
    )


MIGRATIONS = [_v1_initial, _v_job_actions]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: pw.Database) -> int:
    """Bring the schema up to SCHEMA_VERSION; safe to run from several replicas at once."""
    with db.atomic():
        if is_postgres(db):
            # Serialize concurrent upgrades of replicas starting together.
            db.execute_sql("SELECT pg_advisory_xact_lock(87870001)")
        db.create_tables([SchemaVersion], safe=True)
        row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
        current = int(row or 0)
        if current > SCHEMA_VERSION:
            raise SystemExit(
                f"redrunner: the database schema is version {current}, newer than this server ({SCHEMA_VERSION})"
            )
        import time

        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaVersion.create(version=version, applied_at=time.time())
            log.info("database schema upgraded to version %d", version)
    return SCHEMA_VERSION
