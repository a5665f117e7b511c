"""Operation `artifacts` (what set_stats published) on every path, and ids that are never given out twice."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw
import pytest

from backend import db as store
from backend import migrations
from backend.sql import execute_sql
from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, ServerClient, wait_until

from .helpers import make_job, start, ws
from .test_postgres import pg_url, sql  # noqa: F401  (pg_url: the fixture)
from .test_retention import age

PUBLISHED = {"redrunner_backup": {"path": "/somewhere/sealed", "size": 42}, "note": "hello"}


@pytest.mark.slow
def test_artifacts_hold_the_merged_set_stats_data_everywhere(server: RunningServer) -> None:
    job = make_job(server, "stats", ["db"])
    op = start(server, job["id"], "db", "publish.yml")
    assert op["artifacts"] is None  # known only once the run has ended
    with ws(server, f"operations/{op['id']}/stream") as conn:
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(json.loads(conn.recv(timeout=60)))
    assert frames[-1]["data"]["artifacts"] == PUBLISHED
    assert all("artifacts" in f["data"] for f in frames if f["type"] in ("status", "end"))
    assert server.get(f"operations/{op['id']}").json()["artifacts"] == PUBLISHED
    listed = server.get(f"operations?job_id={job['id']}").json()["items"]
    assert [o["artifacts"] for o in listed] == [PUBLISHED]
    assert server.get(f"jobs/{job['id']}").json()["units"][0]["latest_operation"]["artifacts"] == PUBLISHED


@pytest.mark.slow
def test_artifacts_of_a_failed_run_and_of_a_run_that_published_nothing(server: RunningServer) -> None:
    job = make_job(server, "stats", ["db"])
    failed = server.wait_terminal(start(server, job["id"], "db", "publish.yml", extravars={"fail_after": True})["id"])
    assert failed["status"] == "failed" and failed["artifacts"] == PUBLISHED
    quiet = server.wait_terminal(start(server, job["id"], "db", "hello")["id"])
    assert quiet["status"] == "successful" and quiet["artifacts"] is None


def test_openapi_describes_artifacts(app_server: InProcessServer) -> None:
    schema = app_server.get("openapi.json").json()["components"]["schemas"]["Operation"]
    assert "artifacts" in schema["required"] and schema["properties"]["artifacts"]["type"] == ["object", "null"]


# -- ids ------------------------------------------------------------------------------------------


def old_database(path: Path) -> None:
    """A database as schema version 1 left it: ids without AUTOINCREMENT, with rows in every table."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE "schema_version" ("version" INTEGER NOT NULL PRIMARY KEY, "applied_at" REAL NOT NULL);
        INSERT INTO schema_version VALUES (1, 0);
        CREATE TABLE "job" ("id" INTEGER NOT NULL PRIMARY KEY, "tag" VARCHAR(128) NOT NULL,
            "created_at" REAL NOT NULL, "status" VARCHAR(16) NOT NULL);
        CREATE INDEX "job_tag" ON "job" ("tag");
        CREATE TABLE "unit" ("id" INTEGER NOT NULL PRIMARY KEY, "job_id" INTEGER NOT NULL,
            "name" VARCHAR(63) NOT NULL, "created_at" REAL NOT NULL,
            FOREIGN KEY ("job_id") REFERENCES "job" ("id") ON DELETE CASCADE);
        CREATE UNIQUE INDEX "unit_job_id_name" ON "unit" ("job_id", "name");
        CREATE TABLE "operation" ("id" INTEGER NOT NULL PRIMARY KEY, "job_id" INTEGER NOT NULL,
            "unit_id" INTEGER NOT NULL, "unit_name" VARCHAR(63) NOT NULL, "action" VARCHAR(255) NOT NULL,
            "status" VARCHAR(16) NOT NULL, "rc" INTEGER, "created_at" REAL NOT NULL, "started_at" REAL,
            "finished_at" REAL, "extravars" TEXT NOT NULL, "event_count" INTEGER NOT NULL,
            "tasks_done" INTEGER NOT NULL, "tasks_total" INTEGER, "stats" TEXT NOT NULL, "error" TEXT,
            "truncated" INTEGER NOT NULL, "timeout" REAL, "cancel_requested" INTEGER NOT NULL,
            "owner" VARCHAR(128), "pid" INTEGER, "pid_started" REAL, "run_ident" VARCHAR(64),
            "hostname" VARCHAR(255),
            FOREIGN KEY ("job_id") REFERENCES "job" ("id") ON DELETE CASCADE,
            FOREIGN KEY ("unit_id") REFERENCES "unit" ("id") ON DELETE CASCADE);
        CREATE UNIQUE INDEX operation_one_running_per_unit ON operation (unit_id) WHERE status = 'running';
        CREATE TABLE "event" ("id" INTEGER NOT NULL PRIMARY KEY, "operation_id" INTEGER NOT NULL,
            "seq" INTEGER NOT NULL, "event" VARCHAR(64) NOT NULL, "created" REAL NOT NULL, "host" VARCHAR(255),
            "task" TEXT, "play" TEXT, "stdout" TEXT NOT NULL, "data" TEXT NOT NULL,
            FOREIGN KEY ("operation_id") REFERENCES "operation" ("id") ON DELETE CASCADE);
        CREATE TABLE "replica" ("id" VARCHAR(128) NOT NULL PRIMARY KEY, "hostname" VARCHAR(255) NOT NULL,
            "pid" INTEGER NOT NULL, "started_at" REAL NOT NULL, "heartbeat_at" REAL NOT NULL);
        INSERT INTO job VALUES (1, 'backup', 1, 'successful'), (2, 'backup', 2, 'running');
        INSERT INTO unit VALUES (1, 1, 'db', 1), (2, 2, 'db', 2);
        INSERT INTO operation VALUES
            (1, 1, 1, 'db', 'backup-db.yml', 'successful', 0, 1, 1, 2, '{}', 1, 1, 1, '{}', NULL, 0, NULL, 0,
             NULL, NULL, NULL, NULL, NULL),
            (2, 2, 2, 'db', 'backup-db.yml', 'running', NULL, 2, 2, NULL, '{}', 1, 1, 1, '{}', NULL, 0, NULL, 0,
             NULL, NULL, NULL, NULL, NULL);
        INSERT INTO event VALUES (1, 1, 1, 'playbook_on_start', 1, NULL, NULL, NULL, '', '{}');
        """
    )
    conn.commit()
    conn.close()


def test_upgrading_an_old_sqlite_database_keeps_every_row_and_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_database(path)
    database = store.open_database(f"sqlite:///{path}")
    try:
        assert migrations.migrate(database) == migrations.SCHEMA_VERSION
        tables = dict(execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        for table in ("job", "unit", "operation"):
            assert "AUTOINCREMENT" in tables[table]
        assert [j.id for j in store.Job.select().order_by(store.Job.id)] == [1, 2]
        assert [(o.id, o.unit_id, o.status) for o in store.Operation.select().order_by(store.Operation.id)] == [
            (1, 1, "successful"),
            (2, 2, "running"),
        ]
        assert store.Event.select().count() == 1
        assert store.Operation.get_by_id(1).artifacts is None
        indexes = {n for (n,) in execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"job_tag", "unit_job_id_name", "operation_one_running_per_unit"} <= indexes
        # the partial unique index still holds: a second running Operation on unit 2 is refused
        with pytest.raises(pw.IntegrityError), database.atomic():
            store.Operation.insert(
                job=2, unit=2, unit_name="db", action="x.yml", status="running", created_at=3
            ).execute()
        assert execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
        # The newest Job deleted, the next one gets a new id all the same.
        store.Job.delete().where(store.Job.id == 2).execute()
        assert store.Unit.select().where(store.Unit.job == 2).count() == 0  # cascades still work
        assert store.Job.create(tag="backup", created_at=4).id == 3
        assert migrations.migrate(database) == migrations.SCHEMA_VERSION  # and again: nothing to do
    finally:
        database.close()


def new_job_and_operation(srv: ServerClient) -> tuple[int, int]:
    job = make_job(srv, "ids", ["db"])
    op = srv.wait_terminal(start(srv, job["id"], "db", "hello")["id"])
    return job["id"], op["id"]


def check_never_reused_after_delete(srv: ServerClient) -> tuple[int, int]:
    first_job, first_op = new_job_and_operation(srv)
    job, op = new_job_and_operation(srv)
    assert srv.delete(f"jobs/{job}").status == 204  # the newest Job and Operation go
    again_job, again_op = new_job_and_operation(srv)
    assert again_job > job > first_job and again_op > op > first_op
    return again_job, again_op


@pytest.mark.slow
def test_sqlite_ids_are_never_reused_after_delete_or_retention(
    server_factory: Callable[..., RunningServer],
) -> None:
    first = server_factory()
    newest_job, newest_op = check_never_reused_after_delete(first)
    assert first.stop() == 0
    age(first, [newest_job], 3)
    srv = server_factory(state_dir=first.state_dir, database=first.database, name="retain", args=["--retain-days", "1"])
    wait_until(lambda: srv.get(f"jobs/{newest_job}").status == 404, 60, 0.2, what="retention to prune the job")
    job, op = new_job_and_operation(srv)
    assert job > newest_job and op > newest_op


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_ids_are_never_reused_after_delete_or_retention(
    pg_url: str,  # noqa: F811 - first: fixtures end in reverse, so the servers stop before the drop
    server_factory: Callable[..., RunningServer],
) -> None:
    first = server_factory(database=pg_url)
    newest_job, newest_op = check_never_reused_after_delete(first)
    assert first.stop() == 0
    shift = 3 * 86400
    sql(pg_url, "UPDATE job SET created_at = created_at - %s WHERE id = %s", (shift, newest_job))
    srv = server_factory(database=pg_url, name="retain", args=["--retain-days", "1"])
    wait_until(lambda: srv.get(f"jobs/{newest_job}").status == 404, 60, 0.2, what="retention to prune the job")
    job, op = new_job_and_operation(srv)
    assert job > newest_job and op > newest_op
