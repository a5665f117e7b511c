"""5. Ingest ceiling: synthetic events through the server's own persistence and fan-out path, no ansible.

In-process: the real OperationRun event handler (numbering, trimming, serialization) hands EventItems to
the real EventWriter (group commit), which publishes committed frames through the real Publisher to a Bus
on an IOLoop thread, where one subscriber serializes each frame as a WebSocket stream would and counts it.
Sustained rate = events / (first event handed over -> last frame delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee as pw
from tornado.ioloop import IOLoop

from backend.announce import Announcer
from backend.bus import Bus, Publisher
from backend.commands import Commands
from backend.config import Settings
from backend.db import Event, Operation, Unit, open_database
from backend.metrics import Metrics
from backend.migrations import migrate
from backend.queries import Queries
from backend.run_queue import Claim
from backend.runner import OperationRun
from backend.streams import event_text
from backend.transitions import Transitions
from backend.writer import EventWriter

from .results import Row, check

NAME = "ingest"
GOAL_SQLITE = 10_000.0
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def synthetic_events(count: int, playbook: str = "synthetic.yml") -> Iterator[dict[str, Any]]:
    """Events shaped like ansible-runner's for a debug-task playbook: task start, on_start, on_ok."""
    play_uuid = str(uuid.uuid4())
    kinds = ("playbook_on_task_start", "runner_on_start", "runner_on_ok")
    for i in range(count - 1):
        kind = kinds[i % 3]
        task = f"step {i // 3}"
        data: dict[str, Any] = {
            "playbook": playbook,
            "playbook_uuid": play_uuid,
            "play": "all",
            "play_uuid": play_uuid,
            "play_pattern": "all",
            "task": task,
            "task_uuid": str(uuid.uuid4()),
            "task_action": "debug",
            "resolved_action": "ansible.builtin.debug",
            "task_args": "",
            "task_path": f"/data/project/{playbook}:{i}",
            "uuid": str(uuid.uuid4()),
        }
        stdout = ""
        if kind != "playbook_on_task_start":
            data.update({"host": "localhost", "remote_addr": "localhost"})
        if kind == "playbook_on_task_start":
            stdout = f"\r\nTASK [{task}] " + "*" * 60
        elif kind == "runner_on_ok":
            data["res"] = {"msg": task, "_ansible_verbose_always": True, "_ansible_no_log": False, "changed": False}
            data.update(
                {
                    "start": "2026-01-01T00:00:00.000000+00:00",
                    "end": "2026-01-01T00:00:00.010000+00:00",
                    "duration": 0.01,
                    "event_loop": None,
                }
            )
            stdout = f'ok: [localhost] => {{\r\n    "msg": "{task}"\r\n}}'
        yield {
            "uuid": data["uuid"],
            "counter": i + 1,
            "stdout": stdout,
            "start_line": i,
            "end_line": i + 1,
            "runner_ident": "synthetic",
            "event": kind,
            "parent_uuid": play_uuid,
            "created": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "event_data": data,
        }
    yield {
        "uuid": str(uuid.uuid4()),
        "counter": count,
        "stdout": "PLAY RECAP",
        "event": "playbook_on_stats",
        "created": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        "event_data": {
            "playbook": playbook,
            "ok": {"localhost": count // 3},
            "changed": {},
            "failures": {},
            "dark": {},
            "skipped": {},
            "ignored": {},
            "rescued": {},
            "processed": {"localhost": 1},
        },
    }


class LoopThread:
    """An IOLoop of its own in a thread, as the server's main loop is to its writer."""

    def __init__(self) -> None:
        self.aloop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.ioloop: IOLoop | None = None
        self._thread = threading.Thread(target=self._main, name="bench-ioloop", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.aloop)
        self.ioloop = IOLoop.current()
        self._ready.set()
        self.aloop.run_forever()

    def __enter__(self) -> LoopThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.aloop.call_soon_threadsafe(self.aloop.stop)
        self._thread.join(10)


def measure(database: str, state_dir: Path, count: int) -> tuple[float, float]:
    """(sustained events/s end to end, events/s of the handler alone) on the given database URL."""
    settings = Settings(data_dir=state_dir, state_dir=state_dir, database=database)
    db = open_database(database)
    migrate(db)
    with LoopThread() as lt:
        assert lt.ioloop is not None
        bus = Bus()
        publisher = Publisher(bus, lt.ioloop)
        queries = Queries(settings)
        announce = Announcer(queries, publisher)
        transitions = Transitions(settings, queries)
        writer = EventWriter(transitions, announce, Metrics())
        job, _ = Commands(settings, queries, transitions, announce).create_job("bench-ingest", ["u"], None)
        unit = Unit.get((Unit.job == job["id"]) & (Unit.name == "u"))
        started = time.time()
        op = Operation.create(
            job=job["id"],
            unit=unit.id,
            unit_name="u",
            action="synthetic.yml",
            status="running",
            created_at=started,
            started_at=started,
        )
        run = OperationRun(
            settings, Claim(op.id, job["id"], "bench-ingest", "u", "synthetic.yml", {}, None, started), writer
        )
        run.pid = 1  # no process to look up: these events come from no playbook
        events = list(synthetic_events(count))
        delivered: dict[str, float] = {}
        done = threading.Event()

        async def subscriber(sub_ready: threading.Event) -> None:
            sub = bus.subscribe(("op", op.id), settings.ws_queue_limit)
            sub_ready.set()
            n = 0
            try:
                while n < count:
                    frame = await sub.get()
                    if frame is None:
                        return
                    if frame.kind == "event":
                        event_text(frame)
                        n += 1
                delivered["at"] = time.perf_counter()
            finally:
                bus.unsubscribe(sub)
                done.set()

        sub_ready = threading.Event()
        asyncio.run_coroutine_threadsafe(subscriber(sub_ready), lt.aloop)
        sub_ready.wait(10)
        writer.start()
        try:
            t0 = time.perf_counter()
            for ev in events:
                run._event_handler(ev)
            handed = time.perf_counter() - t0
            check(done.wait(300), "the subscriber never got every frame")
            check("at" in delivered, "the subscriber overflowed or was closed before getting every frame")
            took = delivered["at"] - t0
            writer.flush()
        finally:
            writer.stop()
        stored, top = (
            Event.select(pw.fn.COUNT(Event.id), pw.fn.MAX(Event.seq))
            .where(Event.operation == op.id)
            .scalar(as_tuple=True)
        )
        check(stored == count and top == count, f"{stored} events stored (max seq {top}) of {count}")
        check(Operation.get_by_id(op.id).event_count == count, "event_count does not match the events stored")
    db.close()
    return count / took, count / handed


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database `rr_bench_<hex>` on the local PostgreSQL, dropped afterwards; None if there is none."""
    try:
        import psycopg2
    except ImportError:
        yield None
        return
    name = f"rr_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except psycopg2.Error:
        yield None
        return
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run(ws: Any, quick: bool) -> list[Row]:
    count = 3000 if quick else 100_000
    rows: list[Row] = []
    rate, handler = measure(f"sqlite:///{ws.root / 'ingest.db'}", ws.root, count)
    rows.append(
        Row(
            "5",
            f"ingest, SQLite, {count} events",
            f"{rate:,.0f} ev/s",
            "AWX ~1,300 ev/s",
            f"{rate:,.0f} ev/s",
            f">= {GOAL_SQLITE:,.0f} ev/s",
            (rate >= GOAL_SQLITE) if not quick else None,
            [f"SQLite: handler alone {handler:,.0f} ev/s; every event stored, seq 1..N, and delivered"],
        )
    )
    with postgres_database() as url:
        if url is None:
            rows.append(
                Row("5", "ingest, PostgreSQL", "-", "-", "skipped: no PostgreSQL at 127.0.0.1:5432", "report", None, [])
            )
        else:
            rate, handler = measure(url, ws.root, count)
            rows.append(
                Row(
                    "5",
                    f"ingest, PostgreSQL, {count} events",
                    f"{rate:,.0f} ev/s",
                    "AWX ~1,300 ev/s",
                    f"{rate:,.0f} ev/s",
                    "report",
                    None,
                    [f"PostgreSQL: handler alone {handler:,.0f} ev/s"],
                )
            )
    return rows
