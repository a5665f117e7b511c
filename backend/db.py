"""Storage: peewee models and the database connection from a URL.

Times are stored as UTC epoch seconds (floats) so SQLite and PostgreSQL sort and compare them alike.
JSON columns are text, written and read by the role modules (queries, commands, run_queue, ...).
`open_database` binds `database_proxy` once at start; everything else reaches the database through it
(the models, and the SQL helpers of sql.py). Schema versions are in migrations.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import peewee as pw
from playhouse.db_url import parse as parse_url
from playhouse.shortcuts import ReconnectMixin

from . import statuses
from .errors import ApiError, StartupError
from .names import ACTION_MAX, TAG_MAX, UNIT_NAME_MAX

database_proxy = pw.DatabaseProxy()

# Tuples for peewee's IN clauses, in a stable order.
ACTIVE = tuple(str(s) for s in sorted(statuses.ACTIVE))
TERMINAL = tuple(str(s) for s in sorted(statuses.TERMINAL))


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Job(BaseModel):
    id = pw.AutoField()
    tag = pw.CharField(max_length=TAG_MAX, index=True)
    created_at = pw.DoubleField()
    # Kept current on every Operation change (transitions.py), so listing and filtering by status is one query.
    status = pw.CharField(max_length=16, default="new", index=True)
    # The name of the Schedule whose firing created this Job, or None.
    schedule = pw.CharField(max_length=UNIT_NAME_MAX, null=True)
    # The Job a restore (or a drill) was made from, or None. A plain id, not a foreign key: pruning the
    # source must neither cascade to nor be blocked by the Jobs that name it.
    source_job = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("tag", "id"), False),)


class Unit(BaseModel):
    job_id: int
    id = pw.AutoField()
    job = pw.ForeignKeyField(Job, backref="units", on_delete="CASCADE")
    name = pw.CharField(max_length=UNIT_NAME_MAX)
    created_at = pw.DoubleField()

    class Meta:
        indexes = ((("job", "name"), True),)


class Operation(BaseModel):
    job_id: int
    unit_id: int
    id = pw.AutoField()
    job = pw.ForeignKeyField(Job, backref="operations", on_delete="CASCADE")
    unit = pw.ForeignKeyField(Unit, backref="operations", on_delete="CASCADE")
    unit_name = pw.CharField(max_length=UNIT_NAME_MAX)
    action = pw.CharField(max_length=ACTION_MAX)
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
    name = pw.CharField(max_length=UNIT_NAME_MAX, unique=True)
    cron = pw.CharField(max_length=200)
    timezone = pw.CharField(max_length=64, default="UTC")
    tag = pw.CharField(max_length=TAG_MAX)
    units = pw.TextField(default="[]")  # JSON list of unit names
    action = pw.CharField(max_length=ACTION_MAX)
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


class BackupRecord(BaseModel):
    """One backup: an Operation that ended successful publishing artifacts.redrunner_backup, written with
    its end (backend/backup_records.py). Kept here, not searched for in Operations' artifacts: retention
    and GET /backups read a group's newest backups through an index instead of every Operation."""

    operation = pw.ForeignKeyField(Operation, primary_key=True, on_delete="CASCADE")
    job = pw.ForeignKeyField(Job, on_delete="CASCADE", index=True)
    tag = pw.CharField(max_length=TAG_MAX)
    unit = pw.CharField(max_length=UNIT_NAME_MAX)
    # "<tag>/<unit>": the group that keep rules count in ('/' is in neither name), one indexed key.
    grp = pw.CharField(max_length=TAG_MAX + 1 + UNIT_NAME_MAX)
    created_at = pw.DoubleField()  # the Operation's end
    # created_at's UTC day, ISO week and month (keep.day_key, week_key, month_key), for the calendar rules.
    day = pw.IntegerField()
    week = pw.IntegerField()
    month = pw.IntegerField()
    path = pw.TextField(null=True)
    size = pw.BigIntegerField(null=True)
    sha256 = pw.CharField(max_length=128, null=True)
    verified_at = pw.DoubleField(null=True)

    class Meta:
        indexes = (
            (("grp", "operation", "created_at"), False),
            (("grp", "day", "operation"), False),
            (("grp", "week", "operation"), False),
            (("grp", "month", "operation"), False),
            (("grp", "verified_at"), False),
            (("tag", "operation"), False),
            (("unit", "operation"), False),
            (("path",), False),
        )


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    applied_at = pw.DoubleField()


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
        """Give the lock up: a server process never does (it ends), an in-process test server stops."""
        if self._file is not None:
            self._file.close()
            self._file = None
