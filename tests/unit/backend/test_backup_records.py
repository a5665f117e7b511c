"""The backups table: what record() stores, and that the index-backed keep query agrees with keep.py."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backend import backup_records, db, keep_query, migrations, sql
from backend.db import BackupRecord, Job, Operation, Unit
from backend.keep import KeepPolicy, kept_in_group, period_keys
from backend.sql import records_sql

DAY = 86400.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """The table on both databases: the keep statement is hand-written SQL (a recursive loose index scan)."""
    if request.param == "sqlite":
        database = db.open_database(f"sqlite:///{tmp_path / 'rr.db'}")
        migrations.migrate(database)
        yield
        database.close()
        return
    import psycopg2

    name = f"rr_keep_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(dbname="postgres", host="127.0.0.1", port=5432, user="postgres", connect_timeout=5)
    except psycopg2.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        database = db.open_database(f"postgresql://postgres@127.0.0.1:5432/{name}")
        migrations.migrate(database)
        yield
        database.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def finished(
    job: Job, unit: Unit, at: float, artifacts: dict[str, Any] | None, status: str = "successful"
) -> SimpleNamespace:
    op = Operation.create(
        job=job,
        unit=unit,
        unit_name=unit.name,
        action="backup.yml",
        status=status,
        created_at=at,
        finished_at=at,
        artifacts=json.dumps(artifacts) if artifacts is not None else None,
    )
    return SimpleNamespace(
        id=op.id, job_id=job.id, unit_name=unit.name, status=status, finished_at=at, artifacts=op.artifacts
    )


def test_record_stores_backups_and_drills(database: None) -> None:
    job = Job.create(tag="backup", created_at=1.0, status="successful")
    unit = Unit.create(job=job, name="db", created_at=1.0)
    good = finished(job, unit, 100.0, {"redrunner_backup": {"path": "/b/1", "size": "12", "sha256": "ab"}})
    failed = finished(job, unit, 101.0, {"redrunner_backup": {"path": "/b/2"}}, status="failed")
    plain = finished(job, unit, 102.0, None)
    backup_records.record([good, failed, plain], {job.id: "backup"})
    [row] = BackupRecord.select()
    assert (row.operation.id, row.grp, row.path, row.size, row.sha256) == (good.id, "backup/db", "/b/1", 12, "ab")

    drill_job = Job.create(tag="backup-verify", created_at=2.0, status="successful")
    drill_unit = Unit.create(job=drill_job, name="db", created_at=2.0)
    verify = {"redrunner_verify": {"backup_path": "/b/1", "verified_at": "2026-01-02T03:04:05Z"}}
    backup_records.record([finished(drill_job, drill_unit, 200.0, verify)], {drill_job.id: "backup-verify"})
    other_job = Job.create(tag="other-verify", created_at=2.0, status="successful")
    other_unit = Unit.create(job=other_job, name="db", created_at=2.0)
    later = {"redrunner_verify": {"backup_path": "/b/1", "verified_at": "2027-01-01T00:00:00Z"}}
    backup_records.record([finished(other_job, other_unit, 300.0, later)], {other_job.id: "other-verify"})
    assert BackupRecord.get().verified_at == 1767323045.0  # the backup tag's drill, not other's


def test_the_keep_query_agrees_with_keep_py(database: None) -> None:
    for seed in range(3):
        agree_on_random_backups(seed)


# SQLite only: PostgreSQL's operation ids are 32-bit, always packable.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_keep_query_agrees_past_the_packed_ids(database: None) -> None:
    """Operation ids from keep_query.SHIFT up do not fit its packed probes: the statement goes unpacked."""
    agree_on_random_backups(0)
    job = Job.create(tag="big", created_at=1.0, status="successful")
    unit = Unit.create(job=job, name="db", created_at=1.0)
    big = Operation.create(
        id=keep_query.SHIFT + 5,
        job=job,
        unit=unit,
        unit_name="db",
        action="b.yml",
        status="successful",
        created_at=2.0,
        finished_at=2.0,
        artifacts=json.dumps({"redrunner_backup": {"path": "/b/big"}}),
    )
    backup_records.record(records_sql('SELECT * FROM "operation" WHERE id = ?', [big.id]), {job.id: "big"})
    assert not keep_query.packable()
    agree_on_random_backups(1)


def agree_on_random_backups(seed: int) -> None:
    rng = random.Random(seed)
    tag = f"backup{seed}"
    jobs = [Job.create(tag=tag, created_at=1.0, status="successful") for _ in range(6)]
    units = {
        (job.id, name): Unit.create(job=job, name=name, created_at=1.0) for job in jobs for name in ("files", "sqlite")
    }
    at = 1_767_225_600.0  # 2026-01-01
    made: dict[str, list[tuple[int, float]]] = {f"{tag}/files": [], f"{tag}/sqlite": []}
    job_of: dict[int, int] = {}
    ops = []
    for _ in range(200):
        at += rng.choice([600.0, 3 * 3600.0, DAY, 3 * DAY, 9 * DAY])
        job, name = rng.choice(jobs), rng.choice(["files", "sqlite"])
        op = finished(job, units[job.id, name], at, {"redrunner_backup": {"path": f"/b/{at}"}})
        ops.append(op)
        made[f"{tag}/{name}"].append((op.id, at))
        job_of[op.id] = job.id
    backup_records.record(ops, {job.id: tag for job in jobs})
    for policy in (KeepPolicy(), KeepPolicy(last=3, daily=7), KeepPolicy(weekly=4, monthly=6), KeepPolicy(2, 5, 3, 12)):
        expected = set()
        for backups in made.values():
            expected.update(kept_in_group(sorted(backups, reverse=True), policy))
        assert backup_records.kept_in([*made, f"{tag}/none"], policy) == expected, policy
        holding = {job_of[op_id] for op_id in expected}
        assert holding <= backup_records.kept_jobs(policy), policy
        assert {job.id for job in jobs if backup_records.holds_kept(job.id, policy)} == holding, policy


def test_upgrading_fills_the_table_from_the_stored_operations(database: None) -> None:
    """A database from before the backups table: the migration records the backups and drills already stored
    (more than one batch of them), as record() would have at each Operation's end."""
    job = Job.create(tag="backup", created_at=1.0, status="successful")
    units = [Unit.create(job=job, name=f"u{i}", created_at=1.0) for i in range(3)]
    at = 1_767_225_600.0
    rows = []
    for i in range(1400):  # over 900 successful ones: more than one batch of the backfill
        status = "failed" if i % 7 == 3 else "successful"
        published = {"redrunner_backup": {"path": f"/b/{i}", "size": i, "sha256": f"{i:064x}"}} if i % 5 else {}
        rows.append(
            {
                "job": job.id,
                "unit": units[i % 3].id,
                "unit_name": units[i % 3].name,
                "action": "backup.yml",
                "status": status,
                "created_at": at + i * 3600.0,
                "finished_at": at + i * 3600.0 + 60.0,
                "artifacts": json.dumps(published),
            }
        )
    Operation.insert_many(rows).execute()
    drill_job = Job.create(tag="backup-verify", created_at=2.0, status="successful")
    drill_unit = Unit.create(job=drill_job, name="u1", created_at=2.0)
    verify = {"redrunner_verify": {"backup_path": "/b/1", "verified_at": 1_800_000_000}}
    finished(drill_job, drill_unit, 1_800_000_000.0, verify)

    handle = sql.database()
    before = migrations.MIGRATIONS.index(migrations._v_backup_records)
    with handle.atomic():
        sql.execute_sql("DROP TABLE backup_record")
        sql.execute_sql("DELETE FROM schema_version")
        sql.execute_sql(f"INSERT INTO schema_version (version, applied_at) VALUES ({before}, 1.0)")
    assert migrations.migrate(handle) == migrations.SCHEMA_VERSION

    ops = {op.id: op for op in records_sql('SELECT * FROM "operation" WHERE job_id = ?', [job.id])}
    expected = {i for i, op in ops.items() if op.status == "successful" and json.loads(op.artifacts)}
    found = {r.operation_id: r for r in records_sql("SELECT * FROM backup_record", [])}
    assert set(found) == expected and len(expected) > 900
    for op_id, r in found.items():
        op, n = ops[op_id], int(ops[op_id].unit_name[1:])
        assert (r.job_id, r.tag, r.unit, r.grp, r.created_at) == (
            job.id,
            "backup",
            op.unit_name,
            f"backup/u{n}",
            op.finished_at,
        )
        assert (r.day, r.week, r.month) == period_keys(op.finished_at)
        published = json.loads(op.artifacts)["redrunner_backup"]
        assert (r.path, r.size, r.sha256) == (published["path"], published["size"], published["sha256"])
        assert r.verified_at == (1_800_000_000.0 if r.path == "/b/1" else None)


def latest_group_by_group() -> list[tuple[str, str, float, float | None]]:
    """latest_by_group as it was before its one statement: two statements per group."""
    result = []
    groups = records_sql(f"WITH RECURSIVE {keep_query.ALL_GROUPS} SELECT grp FROM g WHERE grp IS NOT NULL", [])
    for grp in [str(g.grp) for g in groups]:
        newest = records_sql(
            "SELECT tag, unit, created_at FROM backup_record WHERE grp = ? ORDER BY operation_id DESC LIMIT 1", [grp]
        )
        verified = records_sql(
            "SELECT verified_at FROM backup_record WHERE grp = ? AND verified_at IS NOT NULL "
            "ORDER BY verified_at DESC LIMIT 1",
            [grp],
        )
        if newest:
            row = newest[0]
            result.append((row.tag, row.unit, float(row.created_at), verified[0].verified_at if verified else None))
    return result


def test_latest_by_group_agrees_with_the_statements_per_group(database: None) -> None:
    """/metrics' newest backup and verification per group, in one statement: the same rows, in the same order,
    as the two statements per group it replaced, on random backups and drills."""
    assert backup_records.latest_by_group() == []
    for seed in range(3):
        rng = random.Random(seed)
        tags = [f"t{seed}{i}" for i in range(rng.randint(1, 4))] + (["T0", "t-0"] if seed == 1 else [])
        names = ["files", "db", "Db", "u1"][: rng.randint(1, 4)]
        ops, tag_of = [], {}
        for tag in tags:
            job = Job.create(tag=tag, created_at=1.0, status="successful")
            tag_of[job.id] = tag
            units = [Unit.create(job=job, name=name, created_at=1.0) for name in names]
            for _ in range(rng.randint(0, 12)):
                # Ends out of id order: the newest backup is the highest id, not the latest end.
                at = 1_767_225_600.0 + rng.uniform(0, 90 * DAY)
                ops.append(finished(job, rng.choice(units), at, {"redrunner_backup": {"path": f"/b/{rng.random()}"}}))
        backup_records.record(ops, tag_of)
        for row in records_sql("SELECT operation_id FROM backup_record ORDER BY operation_id", []):
            if rng.random() < 0.3:
                verified = rng.choice([rng.uniform(1.7e9, 1.9e9), 1_800_000_000.0])
                BackupRecord.update(verified_at=verified).where(BackupRecord.operation == row.operation_id).execute()
        expected = latest_group_by_group()
        assert expected and any(v is not None for *_, v in expected)
        assert backup_records.latest_by_group() == expected
