"""The event writer in-process, on a real SQLite file: what it does when the database refuses a write."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.ioloop import IOLoop

from backend import db as store
from backend import migrations
from backend.announce import Announcer
from backend.bus import Bus, Publisher
from backend.config import Settings
from backend.metrics import Metrics
from backend.queries import Queries
from backend.transitions import Transitions
from backend.writer import EventWriter, StatusItem, root_cause


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[EventWriter]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    database = store.open_database(url)
    migrations.migrate(database)
    settings = Settings(database=url)
    queries = Queries(settings)
    announce = Announcer(queries, Publisher(Bus(), IOLoop(make_current=False)))
    w = EventWriter(Transitions(settings, queries), announce, Metrics())
    w.start()
    yield w
    w.stop()
    database.close()


def running_operation() -> store.Operation:
    job = store.Job.create(tag="w", created_at=time.time())
    unit = store.Unit.create(job=job, name="db", created_at=time.time())
    return store.Operation.create(
        job=job, unit=unit, unit_name="db", action="hello-db.yml", status="running", created_at=time.time()
    )


def test_a_refused_terminal_status_still_ends_the_operation(writer: EventWriter) -> None:
    op = running_operation()
    # A field the table does not have: the database (peewee) refuses the whole status change.
    writer.put(StatusItem(op.id, op.job_id, {"status": "successful", "rc": 0, "no_such_column": 1}))
    assert writer.flush(10)
    ended = store.Operation.get_by_id(op.id)
    assert ended.status == "error" and ended.finished_at is not None
    assert ended.error is not None and ended.error.startswith("its result could not be stored")


def test_the_root_cause_of_a_failed_commit_is_the_first_error() -> None:
    try:
        try:
            raise OSError("database or disk is full")
        except OSError:
            raise RuntimeError("cannot rollback - no transaction is active")  # noqa: B904 - what peewee does
    except RuntimeError as exc:
        assert str(root_cause(exc)) == "database or disk is full"
