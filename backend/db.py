"""Storage: peewee models, the database connection from a URL, and schema versioning.

Times are stored as UTC epoch seconds (floats) so SQLite and PostgreSQL sort and compare them alike.
JSON columns are text, written and read by the service layer.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import peewee as pw
from playhouse.db_url import parse as parse_url
from playhouse.shortcuts import ReconnectMixin

from . import statuses
from .errors import ApiError, StartupError

log = logging.getLogger(__name__)

database_proxy = pw.DatabaseProxy()
# The first key of RedRunner's two-key advisory locks (the migration lock is a one-key lock of its own).
ADVISORY_NAMESPACE = 8787
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
    # The name of the Schedule whose firing created this Job, or None.
    schedule = pw.CharField(max_length=63, null=True)
    # The Job a restore (or a drill) was made from, or None. A plain id, not a foreign key: pruning the
    # source must neither cascade to nor be blocked by the Jobs that name it.
    source_job = pw.IntegerField(null=True)

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
    # JSON text of what the playbook published with set_stats (aggregated, not per host), or NULL.
    artifacts = pw.TextField(null=True)

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


class Schedule(BaseModel):
    """A cron that creates a Job with `tag` and `units` and starts `action` on every Unit at each fire time."""

    id = pw.AutoField()
    name = pw.CharField(max_length=63, unique=True)
    cron = pw.CharField(max_length=200)
    timezone = pw.CharField(max_length=64, default="UTC")
    tag = pw.CharField(max_length=128)
    units = pw.TextField(default="[]")  # JSON list of unit names
    action = pw.CharField(max_length=255)
    extravars = pw.TextField(default="{}")
    timeout = pw.DoubleField(null=True)
    check_mode = pw.BooleanField(default=False)  # `check` is an SQL keyword; the API calls it `check`
    retries = pw.IntegerField(default=0)
    enabled = pw.BooleanField(default=True)
    # The fire time not yet run. A replica runs it by moving it on with a conditional UPDATE (WHERE
    # next_run_at = the value it read), so exactly one replica wins each fire time.
    next_run_at = pw.DoubleField(null=True, index=True)
    last_run_at = pw.DoubleField(null=True)
    last_job_id = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DoubleField()


class Webhook(BaseModel):
    id = pw.AutoField()
    url = pw.TextField()
    events = pw.TextField(default='["job.finished"]')  # JSON list
    tags = pw.TextField(null=True)  # JSON list, or None for every tag
    # The raw key bytes of the whsec_ secret, base64; never returned by the API nor logged.
    secret = pw.TextField(null=True)
    created_at = pw.DoubleField()


class Delivery(BaseModel):
    """The outbox: one event for one webhook, inserted in the transaction of the change that causes it."""

    webhook_id: int
    id = pw.AutoField()
    webhook = pw.ForeignKeyField(Webhook, backref="deliveries", on_delete="CASCADE")
    event = pw.CharField(max_length=32)
    body = pw.TextField()  # the exact JSON sent on every attempt
    status = pw.CharField(max_length=16, default="pending")
    attempts = pw.IntegerField(default=0)
    response_status = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DoubleField()
    next_attempt_at = pw.DoubleField(null=True)
    delivered_at = pw.DoubleField(null=True)
    # The replica sending the current attempt, until lease_until: a claim by conditional UPDATE.
    lease_owner = pw.CharField(max_length=128, null=True)
    lease_until = pw.DoubleField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False), (("webhook", "id"), False))


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DoubleField()


MODELS: list[type[BaseModel]] = [Job, Unit, Operation, Event, Replica, Schedule, Webhook, Delivery, SchemaVersion]


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


class DatabaseGone(ApiError, pw.OperationalError):
    """The embedded database file was deleted or replaced under the server. SQLite would go on writing to
    the unlinked file and answer success for data that is gone at the next start: every write checks the
    file first. An ApiError (the API answers 503) and an OperationalError (the writer retries it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            503,
            "database_unavailable",
            f"the database file {path} was deleted or replaced; nothing can be stored until the server restarts",
        )


class EmbeddedDatabase(pw.SqliteDatabase):
    """SQLite that knows which file it opened, to refuse writes once that file is gone."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.path = Path(path).expanduser().resolve() if path and path != ":memory:" else None
        self.identity: tuple[int, int] | None = None
        self._anchor: int | None = None

    def _connect(self) -> Any:
        conn = super()._connect()  # type: ignore[misc]
        if self.path is not None and self.identity is None:
            # Held open for the life of the process: a deleted file's inode is then never freed, so no new
            # file at the path can get its number (file systems reuse a freed one at once) and pass for it.
            # Never closed: closing any descriptor of a file drops every POSIX lock this process holds on
            # it, SQLite's included.
            self._anchor = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            st = os.fstat(self._anchor)
            self.identity = (st.st_dev, st.st_ino)
        return conn

    def check_file(self) -> None:
        if self.path is None or self.identity is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise DatabaseGone(self.path) from None
        if (st.st_dev, st.st_ino) != self.identity:
            raise DatabaseGone(self.path)


def open_database(url: str) -> pw.Database:
    """Connect the models to the database named by `url` (sqlite:///path or postgresql://...)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        db = EmbeddedDatabase(
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
        raise StartupError(f"--database: unsupported URL {redact(url)!r} (use sqlite:/// or postgresql://)")
    database_proxy.initialize(db)
    return db


def redact(url: str) -> str:
    """The database URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}://{credentials.partition(':')[0]}@{host}"


def sqlite_path(url: str) -> Path | None:
    """The file of an embedded (SQLite) database URL; None for PostgreSQL and in-memory databases."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :]
    return Path(path).expanduser().resolve() if path and path != ":memory:" else None


class EmbeddedDatabaseLock:
    """An OS lock (flock) on `<database>.lock`, held for the server's life: one server per SQLite file.

    A second server on the same file would mark the first one's running Operations lost and kill their
    processes. The OS releases the lock when the process dies however it dies, so a crash never leaves a
    stale lock behind."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: Any = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - kept open for the server's life
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise StartupError(
                f"--database {self.path.with_suffix('')} is in use by another redrunner server (pid {holder}); "
                "an embedded database takes one server: stop it, or use PostgreSQL for several replicas"
            ) from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
    return database_proxy.execute_sql(sql + (f" ORDER BY {order}" if order else ""), values)


def records_sql(sql: str, params: list[Any]) -> list[Any]:
    """Records of a hand-written query, its parameters marked `?` (rewritten to the driver's mark): for
    the few statements on hot paths (starting an Operation) where building the SQL through peewee cost
    more than running it."""
    if database_proxy.param != "?":
        sql = sql.replace("?", database_proxy.param)
    return _records(database_proxy.execute_sql(sql, params))


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
    return int(database_proxy.execute_sql(sql, [*values, *params]).rowcount)


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
    if is_postgres(database_proxy.obj):
        returning = f'{sql} RETURNING "{meta.fields["id"].column_name}"'
        return int(database_proxy.execute_sql(returning, params).fetchone()[0])
    return int(database_proxy.execute_sql(sql, params).lastrowid)


def _records(cursor: Any) -> list[Any]:
    names = [d[0] for d in cursor.description]
    return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def is_postgres(db: pw.Database) -> bool:
    return isinstance(db, pw.PostgresqlDatabase)


def write_transaction(db: pw.Database) -> Any:
    """A transaction that takes the write lock at once on SQLite, so check-then-insert cannot interleave."""
    if isinstance(db, EmbeddedDatabase):
        db.check_file()
    if isinstance(db, pw.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def lock_row(db: pw.Database, query: Q) -> Q:
    """Row lock on PostgreSQL; SQLite's IMMEDIATE transaction already serializes writers."""
    return query.for_update() if is_postgres(db) else query


def database_now(db: pw.Database) -> Any:
    """The current time as the database sees it, as a value to write or compare in SQL. Replicas compare
    heartbeats written by other hosts: one clock (the database's) makes a skewed host clock harmless.
    SQLite is one process on one host, so its own clock is the same thing."""
    if is_postgres(db):
        return pw.SQL("EXTRACT(EPOCH FROM clock_timestamp())::double precision")
    import time

    return time.time()


def lock_name(db: pw.Database, name: str) -> None:
    """Hold a lock on `name` until the current transaction ends: a PostgreSQL advisory lock, for
    check-then-insert on rows that do not exist yet (nothing to lock with FOR UPDATE). SQLite's IMMEDIATE
    transaction already serializes writers."""
    if is_postgres(db):
        key = zlib.crc32(name.encode()) - 2**31  # a stable 32-bit key (hash() differs per process)
        db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (ADVISORY_NAMESPACE, key))


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


def _v_schedules_webhooks(db: pw.Database) -> None:
    """Schedules, webhooks and the delivery outbox; Job.schedule (issue 16)."""
    db.create_tables([Schedule, Webhook, Delivery], safe=True)
    add_missing_columns(db, Job, "schedule")


def _v_operation_artifacts(db: pw.Database) -> None:
    add_missing_columns(db, Operation, "artifacts")


# The tables whose ids the API hands out (Job, Operation, Webhook, and Delivery, whose id is the
# `webhook-id` receivers drop repeats by) and Unit, whose id Operations keep.
NEVER_REUSED_IDS = ("job", "unit", "operation", "webhook", "delivery")
_INTEGER_PRIMARY_KEY = re.compile(r'("?\w+"?\s+INTEGER\s+(?:NOT\s+NULL\s+)?PRIMARY\s+KEY)(?!\s+AUTOINCREMENT)', re.I)


def _v_ids_never_reused(db: pw.Database) -> None:
    """SQLite hands out max(id)+1, so deleting the newest Job (or pruning it) gave its id to the next one.
    AUTOINCREMENT makes ids strictly increasing for the life of the database; PostgreSQL sequences
    already are. Runs on new databases too (v1 creates the tables from the models without it)."""
    if not isinstance(db, pw.SqliteDatabase):
        return
    for table in NEVER_REUSED_IDS:
        rebuild_sqlite_table(db, table, lambda sql: _INTEGER_PRIMARY_KEY.sub(r"\1 AUTOINCREMENT", sql, count=1))
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rebuilding tables broke foreign keys: {broken[:5]}")


def rebuild_sqlite_table(db: pw.Database, table: str, rewrite: Callable[[str], str]) -> bool:
    """Rebuild `table` from its own CREATE statement passed through `rewrite` (SQLite cannot alter a
    primary key), keeping its rows and every index, partial ones (operation_one_running_per_unit) included.

    SQLite's documented procedure: create the new table under another name, copy, drop the old one,
    rename. The caller runs it inside a transaction with foreign keys off (see `migrate`): with them on,
    dropping the old table would cascade-delete its children. Returns whether the table changed."""
    found = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if found is None:
        return False
    old_sql = found[0]
    new_sql = rewrite(old_sql)
    if new_sql == old_sql:
        return False
    temp = f"{table}__rebuild"
    head = re.compile(r'^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?("?)' + re.escape(table) + r"\1", re.I)
    new_sql, n = head.subn(f'CREATE TABLE "{temp}"', new_sql, count=1)
    if n != 1:
        raise RuntimeError(f"cannot read the CREATE statement of table {table}: {old_sql[:200]}")
    indexes = [
        sql
        for (sql,) in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
        ).fetchall()
    ]
    columns = ", ".join(f'"{c.name}"' for c in db.get_columns(table))
    db.execute_sql(new_sql)
    db.execute_sql(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"')
    db.execute_sql(f'DROP TABLE "{table}"')
    db.execute_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for sql in indexes:
        db.execute_sql(sql)
    return True


def _v_job_source(db: pw.Database) -> None:
    """Job.source_job: the backup Job a restore Job restores from (api.md "Backups kept and proven")."""
    add_missing_columns(db, Job, "source_job")


MIGRATIONS = [
    _v1_initial,
    _v_job_actions,
    _v_schedules_webhooks,
    _v_operation_artifacts,
    _v_ids_never_reused,
    _v_job_source,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: pw.Database) -> int:
    """Bring the schema up to SCHEMA_VERSION; safe to run from several replicas at once."""
    sqlite = isinstance(db, pw.SqliteDatabase)
    if sqlite:
        # Table rebuilds drop tables that others reference: with foreign keys on, SQLite would cascade the
        # drop to their rows. The pragma is a no-op inside a transaction, hence here; checked after.
        db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        return _migrate(db)
    finally:
        if sqlite:
            db.execute_sql("PRAGMA foreign_keys = ON")


def _migrate(db: pw.Database) -> int:
    with db.atomic():
        if is_postgres(db):
            # Serialize concurrent upgrades of replicas starting together.
            db.execute_sql("SELECT pg_advisory_xact_lock(87870001)")
        db.create_tables([SchemaVersion], safe=True)
        row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
        current = int(row or 0)
        if current > SCHEMA_VERSION:
            raise StartupError(f"the database schema is version {current}, newer than this server ({SCHEMA_VERSION})")
        import time

        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaVersion.create(version=version, applied_at=time.time())
            log.info("database schema upgraded to version %d", version)
    return SCHEMA_VERSION
