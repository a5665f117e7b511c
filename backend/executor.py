"""Runs Operations: a bounded pool of worker threads fed by a dispatcher that claims from the database.

Why claim from the database instead of handing the accepted Operation straight to a local thread:
the database is the one place every replica sees. An Operation is inserted `pending`; a dispatcher
with a free worker claims the oldest pending Operation of each idle unit with a conditional UPDATE
(`... WHERE status = 'pending'`), so exactly one replica wins it, and a partial unique index allows
only one `running` Operation per unit. The same path gives `queue=true` its order (oldest first per
unit) and keeps Operations beyond the pool `pending`. On SQLite (one process) it is the same code.

Each replica heartbeats in the `replica` table; a replica whose heartbeat is older than the threshold
is dead, and any survivor marks its pending/running Operations `lost`. A server starting up marks
what it left behind `lost` too, and kills the processes those Operations left on this host.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import peewee as pw

from .config import Settings
from .db import ACTIVE, TERMINAL, Event, Job, Operation, Replica, is_postgres, write_transaction
from .metrics import Metrics
from .processes import kill_run
from .runner import OperationRun
from .service import HOSTNAME, Claim, Service
from .timeutil import now
from .writer import EventWriter

log = logging.getLogger(__name__)


def waiting_retry_excluded() -> pw.Expression:
    """Operations to mark lost at start on SQLite: all but the pending retries (which never started)."""
    return (Operation.status == "running") | Operation.retry_of.is_null()


class Executor:
    def __init__(
        self, settings: Settings, db: pw.Database, service: Service, writer: EventWriter, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.db = db
        self.service = service
        self.writer = writer
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="redrunner-op")
        self.active: dict[int, OperationRun] = {}
        self._lock = threading.Lock()
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self.accepting = True
        self._threads = [
            threading.Thread(target=self._dispatch_loop, name="redrunner-dispatch", daemon=True),
            threading.Thread(target=self._heartbeat_loop, name="redrunner-heartbeat", daemon=True),
        ]
        self.multi = is_postgres(db)

    # -- lifecycle --------------------------------------------------------------------------------

    def recover(self) -> None:
        """At start: mark what dead servers left `lost` and kill their processes on this host."""
        self._heartbeat()
        if self.multi:
            # A server starting owns nothing yet: Operations under its replica id were left by a previous
            # process with the same (pinned) id, whose heartbeat the line above has just made look alive.
            self._lose(Operation.owner == self.settings.replica_id, "the server stopped (found at start)")
            dead = [
                r.id for r in Replica.select().where(Replica.heartbeat_at < now() - self.settings.heartbeat_timeout)
            ]
            where = Operation.owner.in_(dead) if dead else None
            if where is not None:
                self._lose(where, "its server stopped answering heartbeats")
                Replica.delete().where(Replica.id.in_(dead)).execute()
        else:
            # SQLite is one process: whatever is pending or running now was left by a previous run, except
            # a retry waiting out its delay: it never started, and its chain goes on after a restart.
            self._lose(waiting_retry_excluded(), "the server stopped (found at start)")

    def _lose(self, where: pw.Expression, why: str) -> None:
        lost = self.service.mark_lost(where, why)
        for op in lost:
            log.warning("operation %s marked lost: %s", op.id, why, extra={"operation_id": op.id, "job_id": op.job_id})
            if op.hostname == HOSTNAME and op.run_ident:
                killed = kill_run(op.run_ident, op.pid, op.pid_started, search_all=True)
                if killed:
                    log.warning("killed %d leftover processes of lost operation %s", killed, op.id)
            self.metrics.operations.labels(status="lost").inc()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self.kick()

    def kick(self) -> None:
        self._kick.set()

    # -- dispatch ---------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        poll = 0.5 if self.multi else 2.0
        wait = poll
        while not self._stopping.is_set():
            self._kick.wait(wait)
            self._kick.clear()
            if self._stopping.is_set():
                return
            try:
                self._dispatch_once()
                wait = self._until_next_retry(poll)
            except Exception:
                log.exception("dispatch failed; retrying")
                time.sleep(0.5)

    def _until_next_retry(self, poll: float) -> float:
        """Sleep no longer than until the earliest pending retry may start, so its delay is kept closely."""
        due = self.service.next_start_after()
        if due is None:
            return poll
        return min(poll, max(0.01, due - now()))

    def _dispatch_once(self) -> None:
        if self.multi:
            with self._lock:
                ids = list(self.active)
            for op_id in self.service.cancel_requested(ids):
                self.cancel_local(op_id)
            # Another replica may have declared us dead and marked our runs lost: they must not go on.
            for op_id in self.service.not_running(ids):
                self.cancel_local(op_id, "another replica marked this operation lost")
        if not self.accepting:
            return
        with self._lock:
            free = self.settings.workers - len(self.active)
        for claim in self.service.claim(self.settings.replica_id, free):
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        run = OperationRun(self.settings, claim, self.writer)
        Operation.update(run_ident=run.run_id).where(Operation.id == claim.op_id).execute()
        with self._lock:
            self.active[claim.op_id] = run
        self.metrics.running.inc()
        self.metrics.operations_started.inc()
        log.info(
            "operation %s started: %s on unit %s",
            claim.op_id,
            claim.action,
            claim.unit,
            extra={"operation_id": claim.op_id, "job_id": claim.job_id},
        )
        self.pool.submit(self._run, run)

    def _run(self, run: OperationRun) -> None:
        status = "error"
        try:
            status = run.run()
        finally:
            with self._lock:
                self.active.pop(run.claim.op_id, None)
            self.metrics.running.dec()
            # Let the writer commit the end (and the retry it may schedule) before the dispatcher looks again.
            self.writer.flush(5.0)
            log.info(
                "operation %s finished: %s",
                run.claim.op_id,
                status,
                extra={"operation_id": run.claim.op_id, "job_id": run.claim.job_id},
            )
            self.kick()

    def cancel_local(self, op_id: int, error: str | None = None) -> bool:
        with self._lock:
            run = self.active.get(op_id)
        if run is None:
            return False
        run.stop("canceled", error)
        return True

    def running_count(self) -> int:
        with self._lock:
            return len(self.active)

    # -- heartbeat, takeover, retention ------------------------------------------------------------

    def _heartbeat(self) -> None:
        t = now()
        updated = Replica.update(heartbeat_at=t).where(Replica.id == self.settings.replica_id).execute()
        if not updated:
            Replica.insert(
                id=self.settings.replica_id, hostname=HOSTNAME, pid=os.getpid(), started_at=t, heartbeat_at=t
            ).on_conflict_ignore().execute()

    def _heartbeat_loop(self) -> None:
        last_prune = 0.0
        last_beat = time.monotonic()
        while not self._stopping.wait(self.settings.heartbeat_interval):
            try:
                self._heartbeat()
                last_beat = time.monotonic()
                if self.multi:
                    dead = [
                        r.id
                        for r in Replica.select().where(Replica.heartbeat_at < now() - self.settings.heartbeat_timeout)
                    ]
                    if dead:
                        self._lose(Operation.owner.in_(dead), "its server stopped answering heartbeats")
                        Replica.delete().where(Replica.id.in_(dead)).execute()
                        self.kick()
                if self.settings.retain_days > 0 and time.monotonic() - last_prune > 60:
                    last_prune = time.monotonic()
                    self.prune(now() - self.settings.retain_days * 86400)
            except Exception:
                log.exception("heartbeat failed")
                silent = time.monotonic() - last_beat
                if self.multi and silent > self.settings.heartbeat_timeout - self.settings.heartbeat_interval:
                    # The other replicas are about to declare us dead and hand our units to new work: stop our
                    # runs first, so one unit never has two playbooks running.
                    log.error("no heartbeat for %.0f s: canceling this replica's operations", silent)
                    self.cancel_all("this replica lost contact with the database")

    def prune(self, older_than: float, batch: int = 2000) -> int:
        """Delete finished Jobs created before `older_than`, their events in small batches."""
        removed = 0
        while not self._stopping.is_set():
            active_jobs = Operation.select(Operation.job).where(Operation.status.in_(ACTIVE))
            job = (
                Job.select().where((Job.created_at < older_than) & Job.id.not_in(active_jobs)).order_by(Job.id).first()
            )
            if job is None:
                return removed
            ops = [o.id for o in Operation.select(Operation.id).where(Operation.job == job.id)]
            while ops:
                # One statement per batch, and the write lock taken up front: a read transaction that later
                # upgrades to write gets "database is locked" on SQLite whenever another writer got in between.
                with write_transaction(self.db):
                    chunk = Event.select(Event.id).where(Event.operation.in_(ops)).limit(batch)
                    deleted = Event.delete().where(Event.id.in_(chunk)).execute()
                if not deleted:
                    break
                time.sleep(0)  # let API threads in between batches
            try:
                self.service.delete_job(job.id)
                removed += 1
            except Exception as exc:
                log.info("retention skipped job %s: %s", job.id, exc)
                return removed
        return removed

    # -- shutdown ---------------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        self.accepting = False

    def cancel_pending_for_shutdown(self) -> None:
        """On SQLite nobody else will run what is still queued: end it now rather than leave it to be lost."""
        if self.multi:
            return
        # A retry waiting out its delay stays pending: its chain goes on after the restart.
        for op in Operation.select(Operation.id).where((Operation.status == "pending") & Operation.retry_of.is_null()):
            try:
                self.service.cancel(op.id)
                Operation.update(error="server shutdown").where(
                    (Operation.id == op.id) & (Operation.status == "canceled")
                ).execute()
            except Exception:
                pass

    def cancel_all(self, error: str) -> None:
        with self._lock:
            runs = list(self.active.values())
        for run in runs:
            run.stop("canceled", error)

    def shutdown(self) -> None:
        self._stopping.set()
        self._kick.set()
        self.pool.shutdown(wait=True)
        for thread in self._threads:
            thread.join(5)
        with contextlib.suppress(Exception):
            Replica.delete().where(Replica.id == self.settings.replica_id).execute()


__all__ = ["TERMINAL", "Executor"]
