"""The one writer of events: worker threads queue events and status changes; this thread commits them.

Group commit: whatever is queued when the writer wakes goes into one transaction, at once (no timer),
so the write lag is one transaction. Frames are published only after the commit, so a follower never
sees an event the database does not have. A terminal status is queued after its run's last event by
the same worker thread, so it is committed after (or with) every event of that run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from .bus import Frame, Publisher
from .db import TERMINAL, Event, Operation, is_postgres, write_transaction
from .metrics import Metrics
from .service import Service

log = logging.getLogger(__name__)

MAX_BATCH = 5000
# The Event row as the runner builds it (field names), and where it goes.
EVENT_FIELDS = ("operation", "seq", "event", "created", "host", "task", "play", "stdout", "data")
EVENT_TABLE = Event._meta.table_name
EVENT_COLUMNS = ", ".join(Event._meta.fields[name].column_name for name in EVENT_FIELDS)
PROGRESS_INTERVAL = 0.5


@dataclass
class EventItem:
    op_id: int
    job_id: int
    row: dict[str, Any]
    event: dict[str, Any]  # the API's Event, for publishing
    counters: dict[str, Any]  # Operation fields current after this event
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class StatusItem:
    op_id: int
    job_id: int
    fields: dict[str, Any]


@dataclass
class FlushItem:
    done: threading.Event = field(default_factory=threading.Event)


Item = EventItem | StatusItem | FlushItem


class EventWriter:
    def __init__(self, db: pw.Database, service: Service, publisher: Publisher, metrics: Metrics) -> None:
        self.db = db
        self.service = service
        self.publisher = publisher
        self.metrics = metrics
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="redrunner-writer", daemon=True)
        self._progress_sent: dict[int, float] = {}

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def flush(self, timeout: float = 30.0) -> bool:
        item = FlushItem()
        self._queue.put(item)
        return item.done.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch: list[Item] = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit_with_retry(batch)
            if stop:
                return

    def _commit_with_retry(self, batch: list[Item]) -> None:
        delay = 0.05
        while True:
            try:
                self._commit(batch)
                return
            except (pw.OperationalError, pw.InterfaceError):
                # The database is briefly away (PostgreSQL restart, SQLite lock storm): keep the batch and
                # retry, since dropping events would break the no-gap promise.
                log.warning("event batch commit failed; retrying in %.2f s", delay, exc_info=True)
                with contextlib.suppress(Exception):
                    self.db.close()
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:
                log.exception("event batch commit failed; committing its items one by one")
                break
        # A bad item must not take the others down with it: above all, every terminal status must land.
        for item in batch:
            try:
                self._commit([item])
            except Exception:
                log.exception("dropped an item the database refused: %r", type(item).__name__)
                if isinstance(item, FlushItem):
                    item.done.set()

    def _insert_events(self, rows: list[dict[str, Any]]) -> None:
        """One prepared INSERT for the whole batch: building it with peewee cost more than the insert itself."""
        values = [tuple(row[name] for name in EVENT_FIELDS) for row in rows]
        cursor = self.db.cursor()
        if is_postgres(self.db):
            from psycopg2.extras import execute_values

            execute_values(cursor, f"INSERT INTO {EVENT_TABLE} ({EVENT_COLUMNS}) VALUES %s", values, page_size=500)
        else:
            marks = ", ".join([self.db.param] * len(EVENT_FIELDS))
            cursor.executemany(f"INSERT INTO {EVENT_TABLE} ({EVENT_COLUMNS}) VALUES ({marks})", values)

    def _commit(self, batch: list[Item]) -> None:
        events = [i for i in batch if isinstance(i, EventItem)]
        counters: dict[int, dict[str, Any]] = {}
        for ev in events:
            counters[ev.op_id] = ev.counters
        status_ops: dict[int, dict[str, Any]] = {}
        status_jobs: set[int] = set()
        for item in batch:
            if isinstance(item, StatusItem):
                status_ops.setdefault(item.op_id, {}).update(item.fields)
                if "status" in item.fields:
                    status_jobs.add(item.job_id)
        terminal_ops: list[int] = []
        retry_ops: list[int] = []  # next attempts of retry chains, inserted with their predecessor's end
        with write_transaction(self.db):
            if events:
                self._insert_events([e.row for e in events])
            for op_id, fields in counters.items():
                update = {k: v for k, v in fields.items()}
                if "stats" in update:
                    update["stats"] = json.dumps(update["stats"])
                Operation.update(update).where(Operation.id == op_id).execute()
            for op_id, fields in status_ops.items():
                fields = dict(fields)
                if "stats" in fields:
                    fields["stats"] = json.dumps(fields["stats"])
                # Terminal states never change again.
                n = (
                    Operation.update(fields)
                    .where((Operation.id == op_id) & Operation.status.not_in(TERMINAL))
                    .execute()
                )
                if n and fields.get("status") in TERMINAL:
                    terminal_ops.append(op_id)
                    retry = self.service.schedule_retry(op_id)
                    if retry is not None:
                        retry_ops.append(retry)
            for job_id in status_jobs:
                self.service.refresh_job_status(job_id)
        committed = time.monotonic()
        if events:
            self.metrics.events_stored.inc(len(events))
            for ev in events:
                self.metrics.event_write_latency.observe(committed - ev.queued_at)
            self.publisher.publish(
                [Frame("event", ev.job_id, ev.event, op_id=ev.op_id, seq=ev.event["seq"]) for ev in events]
            )
        changed = [op_id for op_id, fields in status_ops.items() if "status" in fields]
        # Progress and counts are Operation changes too: followers get them, at most every PROGRESS_INTERVAL.
        mono = time.monotonic()
        for op_id in counters:
            if op_id not in changed and mono - self._progress_sent.get(op_id, 0.0) >= PROGRESS_INTERVAL:
                changed.append(op_id)
        for op_id in changed:
            self._progress_sent[op_id] = mono
        for op_id in terminal_ops:
            self._progress_sent.pop(op_id, None)
        changed.extend(retry_ops)
        if changed:
            self.service.publish_changes(changed)
        if terminal_ops:
            for op_id in terminal_ops:
                status = status_ops[op_id].get("status", "")
                self.metrics.operations.labels(status=status).inc()
        for item in batch:
            if isinstance(item, FlushItem):
                item.done.set()
