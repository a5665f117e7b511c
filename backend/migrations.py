"""Schema versions: each entry of MIGRATIONS upgrades the schema from the version before it.

A schema change is one new function appended to MIGRATIONS; never edit a released entry. Migrations run
on the database they are given (at start, right after `db.open_database`), before anything else uses it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import peewee as pw

from .db import (
    AuditRecord,
    BackupRecord,
    BaseModel,
    Delivery,
    Event,
    Job,
    Operation,
    Replica,
    Schedule,
    SchemaVersion,
    Unit,
    Webhook,
)
from .errors import StartupError
from .sql import execute_sql

log = logging.getLogger(__name__)


def _v1_initial(db: pw.Database) -> None:
    db.create_tables([Job, Unit, Operation, Event, Replica], safe=True)
    # One running operation per unit, enforced by the database itself (several replicas may claim).
    execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS operation_one_running_per_unit "
        "ON operation (unit_id) WHERE status = 'running'",
        db=db,
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
    broken = execute_sql("PRAGMA foreign_key_check", db=db).fetchall()
    if broken:
        raise RuntimeError(f"rebuilding tables broke foreign keys: {broken[:5]}")


def rebuild_sqlite_table(db: pw.Database, table: str, rewrite: Callable[[str], str]) -> bool:
    """Rebuild `table` from its own CREATE statement passed through `rewrite` (SQLite cannot alter a
    primary key), keeping its rows and every index, partial ones (operation_one_running_per_unit) included.

    SQLite's documented procedure: create the new table under another name, copy, drop the old one,
    rename. The caller runs it inside a transaction with foreign keys off (see `migrate`): with them on,
    dropping the old table would cascade-delete its children. Returns whether the table changed."""
    found = execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,), db=db).fetchone()
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
        for (sql,) in execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
            db=db,
        ).fetchall()
    ]
    columns = ", ".join(f'"{c.name}"' for c in db.get_columns(table))
    execute_sql(new_sql, db=db)
    execute_sql(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"', db=db)
    execute_sql(f'DROP TABLE "{table}"', db=db)
    execute_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"', db=db)
    for sql in indexes:
        execute_sql(sql, db=db)
    return True


def _v_job_source(db: pw.Database) -> None:
    """Job.source_job: the backup Job a restore Job restores from (api.md "Backups kept and proven")."""
    add_missing_columns(db, Job, "source_job")


def _v_backup_records(db: pw.Database) -> None:
    """The backups table, filled from the Operations already stored (api.md "Backups kept and proven")."""
    from .backup_records import backfill

    # The indexes after the rows: built from sorted keys at the end, where eight indexes updated per inserted
    # row were half of the backfill's time (100,000 backups: 2.2 -> 1.0 s of CPU).
    schema = pw.SchemaManager(BackupRecord, db)
    schema.create_table(safe=True)
    backfill()
    schema.create_indexes(safe=True)


def _v_access_audit(db: pw.Database) -> None:
    """Who created Jobs, Schedules and Webhooks and requested Operations, and the audit trail (issue 25)."""
    add_missing_columns(db, Job, "created_by")
    add_missing_columns(db, Operation, "requested_by")
    add_missing_columns(db, Schedule, "created_by")
    add_missing_columns(db, Webhook, "created_by")
    db.create_tables([AuditRecord], safe=True)


MIGRATIONS = [
    _v1_initial,
    _v_job_actions,
    _v_schedules_webhooks,
    _v_operation_artifacts,
    _v_ids_never_reused,
    _v_job_source,
    _v_backup_records,
    _v_access_audit,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: pw.Database) -> int:
    """Bring the schema up to SCHEMA_VERSION; safe to run from several replicas at once."""
    sqlite = isinstance(db, pw.SqliteDatabase)
    if sqlite:
        # Table rebuilds drop tables that others reference: with foreign keys on, SQLite would cascade the
        # drop to their rows. The pragma is a no-op inside a transaction, hence here; checked after.
        execute_sql("PRAGMA foreign_keys = OFF", db=db)
    try:
        return _migrate(db)
    finally:
        if sqlite:
            execute_sql("PRAGMA foreign_keys = ON", db=db)


def _migrate(db: pw.Database) -> int:
    with db.atomic():
        if isinstance(db, pw.PostgresqlDatabase):
            # Serialize concurrent upgrades of replicas starting together.
            execute_sql("SELECT pg_advisory_xact_lock(87870001)", db=db)
        db.create_tables([SchemaVersion], safe=True)
        row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
        current = int(row or 0)
        if current > SCHEMA_VERSION:
            raise StartupError(f"the database schema is version {current}, newer than this server ({SCHEMA_VERSION})")
        if current == 0:
            _create_current(db)
            return SCHEMA_VERSION
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
            SchemaVersion.create(version=version, applied_at=time.time())
            log.info("database schema upgraded to version %d", version)
    return SCHEMA_VERSION


def _create_current(db: pw.Database) -> None:
    """A new database is made at the current schema in one step: one version row, one log line. Every
    migration still runs (inside the caller's transaction): each is written to be correct on a new database,
    and running them keeps one definition of the schema instead of a second, hand-kept one to drift."""
    for step in MIGRATIONS:
        step(db)
    SchemaVersion.create(version=SCHEMA_VERSION, applied_at=time.time())
    log.info("database created at schema version %d", SCHEMA_VERSION)
