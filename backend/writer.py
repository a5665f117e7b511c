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

from .announce import Announcer
from .bus import Change
from .db import TERMINAL, Event, Operation
from .metrics import Metrics
from .sql import cursor, database, execute_sql, is_postgres, update_sql, write_transaction
from .statuses import OperationStatus
from .transitions import Transitions

_TERMINAL_MARKS = ", ".join("?" * len(TERMINAL))

log = logging.getLogger(__name__)

MAX_BATCH = 5000
# After this long without a successful commit the writer stops waiting for the database: running
# Operations end `error` (their events cannot be stored), queued events are dropped, and only status
# changes are kept and retried, so that every Operation's end lands once the database takes writes again.
GIVE_UP_AFTER = 10.0
# The Event row as the runner builds it (field names), and where it goes.
EVENT_FIELDS = ("operation", "seq", "event", "created", "host", "task", "play", "stdout", "data")
EVENT_TABLE = Event._meta.table_name
EVENT_COLUMNS = ", ".join(Event._meta.fields[name].column_name for name in EVENT_FIELDS)
PROGRESS_INTERVAL = 0.5
# A batch smaller than LINGER_BELOW waits up to LINGER seconds for the items right behind it before it
# commits. Ansible emits a task's events a few milliseconds apart, so without it nearly every event was a
# transaction of its own (BEGIN, INSERT, UPDATE, COMMIT, publish): most of the server's CPU per event.
# 10 ms is far below what a live follower notices (the lag benchmark's p99 goal is 100 ms).
LINGER = 0.01
LINGER_BELOW = 64


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


@dataclass
class Plan:
    """What one commit writes (see EventWriter._plan)."""

    events: list[EventItem]
    counters: dict[int, dict[str, Any]] = field(default_factory=dict)  # by Operation: fields after its last event
    status_ops: dict[int, dict[str, Any]] = field(default_factory=dict)  # by Operation: its status changes, merged
    status_jobs: set[int] = field(default_factory=set)  # Jobs whose status may change


def _urgent(item: Item | None) -> bool:
    """Items that commit at once: a flush someone waits on, and a status change (a start, an end)."""
    return not isinstance(item, EventItem)


class EventWriter:
    def __init__(self, transitions: Transitions, announce: Announcer, metrics: Metrics) -> None:
        self.transitions = transitions
        self.announce = announce
        self.publisher = announce.publisher
        self.metrics = metrics
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="redrunner-writer", daemon=True)
        self._progress_sent: dict[int, float] = {}
        self._failing_since: float | None = None
        # Operations whose events were dropped: the last seq stored. Nothing after it is stored, and its
        # event_count stays there, so its events stay contiguous and complete up to what it claims.
        self._cut: dict[int, int] = {}
        self._failure: str | None = None
        self._abandon = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def flush(self, timeout: float = 30.0, while_failing: float | None = None) -> bool:
        """Wait until everything queued so far is stored; at most `timeout` s, or `while_failing` s once
        the database refuses writes (no use waiting the whole timeout for a database that is gone)."""
        item = FlushItem()
        self._queue.put(item)
        started = time.monotonic()
        while not item.done.wait(0.1):
            waited = time.monotonic() - started
            if waited >= timeout or (while_failing is not None and self.failing() and waited >= while_failing):
                return False
        return True

    def failing(self) -> bool:
        return self._failing_since is not None

    def stop(self, timeout: float = 30.0) -> None:
        """Store what is queued, waiting up to `timeout` s; then stop retrying a database that refuses it.

        What is abandoned is logged; Operations whose end was not stored are marked lost at the next start."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abandon.set()
                self._thread.join(5.0)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch: list[Item] = [first]
            stop = False
            urgent = _urgent(first)
            linger_until: float | None = None
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    # A small batch waits a moment for the events right behind it (see LINGER).
                    if urgent or len(batch) >= LINGER_BELOW:
                        break
                    if linger_until is None:
                        linger_until = time.monotonic() + LINGER
                    left = linger_until - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=left)
                    except queue.Empty:
                        break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                urgent = urgent or _urgent(nxt)
            self._commit_with_retry(batch)
            if stop or self._abandon.is_set():
                return

    # -- health ------------------------------------------------------------------------------------

    def failure(self) -> str | None:
        """Why the writer cannot write, while it cannot (for /readyz); None while it can."""
        return self._failure

    def gave_up(self) -> bool:
        """True once writes have failed for GIVE_UP_AFTER seconds: running Operations must end `error`."""
        since = self._failing_since
        return since is not None and time.monotonic() - since >= GIVE_UP_AFTER

    def _failed(self, exc: BaseException) -> None:
        cause = root_cause(exc)
        self._failure = f"{type(cause).__name__}: {cause}"
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    def _succeeded(self) -> None:
        if self._failing_since is not None:
            log.warning("the database takes writes again after %.1f s", time.monotonic() - self._failing_since)
        self._failing_since = None
        self._failure = None

    # -- committing ---------------------------------------------------------------------------------

    def _commit_with_retry(self, batch: list[Item]) -> None:
        delay = 0.05
        while True:
            if self._abandon.is_set():
                self._log_abandoned(batch)
                return
            if self.gave_up():
                batch = self._drop_events(batch)
            try:
                self._commit(batch)
                self._succeeded()
                return
            except (pw.OperationalError, pw.InterfaceError) as exc:
                # The database is briefly away (PostgreSQL restart, SQLite lock storm): keep the batch and
                # retry, since dropping events would break the no-gap promise. The real cause is logged: a
                # failed COMMIT on SQLite surfaces as "cannot rollback - no transaction is active".
                self._failed(exc)
                log.warning("event batch commit failed (%s); retrying in %.2f s", self._failure, delay)
                db = database()
                with contextlib.suppress(Exception):
                    db.close()
                if isinstance(db, pw.SqliteDatabase):
                    # A full disk often means a WAL that can no longer grow: moving it into the database
                    # and truncating it is what lets the small writes (the Operations' ends) through.
                    with contextlib.suppress(Exception):
                        execute_sql("PRAGMA wal_checkpoint(TRUNCATE)", db=db)
                self._abandon.wait(delay)
                delay = min(delay * 2, 2.0)
            except Exception as exc:
                self._failed(exc)
                log.exception("event batch commit failed (%s); committing its items one by one", self._failure)
                break
        # A bad item must not take the others down with it: above all, every terminal status must land.
        for item in batch:
            try:
                self._commit([item])
            except Exception as exc:
                log.exception("dropped an item the database refused: %r", type(item).__name__)
                if isinstance(item, FlushItem):
                    item.done.set()
                elif isinstance(item, StatusItem) and item.fields.get("status") in TERMINAL:
                    self._commit_bare_end(item, exc)

    def _log_abandoned(self, batch: list[Item]) -> None:
        ends = sorted({i.op_id for i in batch if isinstance(i, StatusItem) and i.fields.get("status") in TERMINAL})
        events = sum(isinstance(i, EventItem) for i in batch)
        log.error(
            "shutting down with the database refusing writes (%s): %d events and the ends of operations %s not "
            "stored; those operations are marked lost at the next start",
            self._failure,
            events,
            ends or "none",
        )
        for item in batch:
            if isinstance(item, FlushItem):
                item.done.set()
        while True:
            try:
                rest = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(rest, FlushItem):
                rest.done.set()

    def _commit_bare_end(self, item: StatusItem, exc: BaseException) -> None:
        """A refused terminal status would leave its Operation `running` for ever: store a bare `error` end."""
        fields = {
            "status": "error",
            "rc": None,
            "finished_at": item.fields.get("finished_at") or time.time(),
            "error": f"its result could not be stored: {type(root_cause(exc)).__name__}",
        }
        try:
            self._commit([StatusItem(item.op_id, item.job_id, fields)])
        except Exception:
            log.exception("operation %s: even a bare end could not be stored", item.op_id)

    def _drop_events(self, batch: list[Item]) -> list[Item]:
        """Keep status changes and flushes; the events cannot be stored and their Operations end `error`."""
        kept: list[Item] = [i for i in batch if not isinstance(i, EventItem)]
        dropped = len(batch) - len(kept)
        for item in batch:
            if isinstance(item, EventItem):
                seq = int(item.row["seq"])
                self._cut[item.op_id] = min(self._cut.get(item.op_id, seq - 1), seq - 1)
        if dropped:
            log.error("dropped %d events the database cannot store: %s", dropped, self._failure)
        return kept

    def _insert_events(self, rows: list[dict[str, Any]]) -> None:
        """One prepared INSERT for the whole batch: building it with peewee cost more than the insert itself."""
        values = [tuple(row[name] for name in EVENT_FIELDS) for row in rows]
        db = database()
        batch = cursor()
        if is_postgres():
            from psycopg2.extras import execute_values

            execute_values(batch, f"INSERT INTO {EVENT_TABLE} ({EVENT_COLUMNS}) VALUES %s", values, page_size=500)
        else:
            marks = ", ".join([db.param] * len(EVENT_FIELDS))
            batch.executemany(f"INSERT INTO {EVENT_TABLE} ({EVENT_COLUMNS}) VALUES ({marks})", values)

    def _commit(self, batch: list[Item]) -> None:
        plan = self._plan(batch)
        terminal_ops, retry_ops = self._store(plan)
        self._announce(plan, terminal_ops, retry_ops)
        for item in batch:
            if isinstance(item, FlushItem):
                item.done.set()

    def _plan(self, batch: list[Item]) -> Plan:
        """What the batch writes: its events (none past a cut), each Operation's latest counters, and its
        status changes merged in order."""
        cut = self._cut
        plan = Plan(
            [i for i in batch if isinstance(i, EventItem) and (i.op_id not in cut or i.row["seq"] <= cut[i.op_id])]
        )
        for ev in plan.events:
            plan.counters[ev.op_id] = ev.counters
        for item in batch:
            if isinstance(item, StatusItem):
                plan.status_ops.setdefault(item.op_id, {}).update(item.fields)
                if "status" in item.fields:
                    plan.status_jobs.add(item.job_id)
        if cut:
            self._hold_to_cut(plan)
        return plan

    def _hold_to_cut(self, plan: Plan) -> None:
        """Operations whose events were dropped claim no event past the cut, and none ends well."""
        cut = self._cut
        for table in (plan.counters, plan.status_ops):
            for op_id, fields in table.items():
                if op_id in cut and "event_count" in fields:
                    table[op_id] = dict(fields, event_count=min(int(fields["event_count"]), cut[op_id]), truncated=True)
        for op_id, fields in plan.status_ops.items():
            # A run that ended by itself before noticing the writer gave up still lost events: it ends
            # `error`, never `successful` with a hole in its record (canceled and timeout stay what they are).
            if op_id in cut and fields.get("status") in (OperationStatus.SUCCESSFUL, OperationStatus.FAILED):
                why = self._failure or "the database refused them"
                fields.update(status=OperationStatus.ERROR, rc=None, error=f"its events cannot be stored: {why}")

    def _store(self, plan: Plan) -> tuple[list[int], list[int]]:
        """The plan in one transaction. Returns the Operations it ended and the next attempts of retry
        chains, inserted with their predecessor's end."""
        terminal_ops: list[int] = []
        retry_ops: list[int] = []
        with write_transaction():
            if plan.events:
                self._insert_events([e.row for e in plan.events])
            for op_id, fields in plan.counters.items():
                update_sql(Operation, _json_stats(fields), "id = ?", [op_id])
            for op_id, fields in plan.status_ops.items():
                fields = _json_stats(fields)
                # Terminal states never change again.
                n = update_sql(Operation, fields, f"id = ? AND status NOT IN ({_TERMINAL_MARKS})", [op_id, *TERMINAL])
                if n and fields.get("status") in TERMINAL:
                    terminal_ops.append(op_id)
                    retry = self.transitions.schedule_retry(op_id)
                    if retry is not None:
                        retry_ops.append(retry)
            # Notifications commit with the terminal status that causes them (see outbox.py).
            self.transitions.record_operations_finished(terminal_ops)
            # In id order: two writers (replicas) locking the same Jobs' rows never wait on each other in a cycle.
            for job_id in sorted(plan.status_jobs):
                self.transitions.refresh_job_status(job_id)
        return terminal_ops, retry_ops

    def _announce(self, plan: Plan, terminal_ops: list[int], retry_ops: list[int]) -> None:
        """After the commit: count, then publish the events and the Operations that changed."""
        committed = time.monotonic()
        # Counted before anything is published, so a follower woken by the end finds it counted.
        for op_id in terminal_ops:
            self.metrics.operations.labels(status=plan.status_ops[op_id].get("status", "")).inc()
        if plan.events:
            self.metrics.events_stored.inc(len(plan.events))
            for ev in plan.events:
                self.metrics.event_write_latency.observe(committed - ev.queued_at)
            self.publisher.publish(
                [Change("event", ev.job_id, ev.event, op_id=ev.op_id, seq=ev.event["seq"]) for ev in plan.events]
            )
        changed = [op_id for op_id, fields in plan.status_ops.items() if "status" in fields]
        # Progress and counts are Operation changes too: followers get them, at most every PROGRESS_INTERVAL.
        mono = time.monotonic()
        for op_id in plan.counters:
            if op_id not in changed and mono - self._progress_sent.get(op_id, 0.0) >= PROGRESS_INTERVAL:
                changed.append(op_id)
        for op_id in changed:
            self._progress_sent[op_id] = mono
        for op_id in terminal_ops:
            self._progress_sent.pop(op_id, None)
            self._cut.pop(op_id, None)
        changed.extend(retry_ops)
        if changed:
            self.announce.operations(changed)


def _json_stats(fields: dict[str, Any]) -> dict[str, Any]:
    """The Operation fields as stored: `stats` as JSON text."""
    if "stats" not in fields:
        return dict(fields)
    return dict(fields, stats=json.dumps(fields["stats"]))


def root_cause(exc: BaseException) -> BaseException:
    """The first error of a chain: a failed COMMIT is hidden behind the failed ROLLBACK that followed it."""
    seen = {id(exc)}
    while exc.__context__ is not None and id(exc.__context__) not in seen:
        exc = exc.__context__
        seen.add(id(exc))
    return exc
