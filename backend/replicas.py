"""Replicas: this server's heartbeat, taking over the work of dead replicas, and recovery at start.

Each replica heartbeats in the `replica` table, on the database's clock. A replica silent for longer
than the threshold is dead, and any survivor marks its pending/running Operations `lost`
(`take_over_dead_replicas`). A server starting up marks what it left behind `lost` too, and kills the
processes those Operations left on this host. Change notices between replicas are in replication.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import peewee as pw

from .config import Settings
from .db import Operation
from .dispatch import Dispatcher
from .failure_log import RepeatedFailure
from .metrics import Metrics
from .processes import kill_run
from .run_queue import HOSTNAME, RunQueue
from .sql import is_postgres
from .statuses import OperationStatus

log = logging.getLogger(__name__)

DEAD_REPLICA = "its server stopped answering heartbeats"
LEFT_AT_START = "the server stopped (found at start)"


def waiting_retry_excluded() -> pw.Expression:
    """Operations to mark lost at start on SQLite: all but the pending retries (which never started)."""
    return (Operation.status == OperationStatus.RUNNING) | Operation.retry_of.is_null()


class Replicas:
    def __init__(self, settings: Settings, run_queue: RunQueue, dispatcher: Dispatcher, metrics: Metrics) -> None:
        self.settings = settings
        self.run_queue = run_queue
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.multi = is_postgres()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat_loop, name="redrunner-heartbeat", daemon=True)

    # -- start and stop ---------------------------------------------------------------------------

    def recover(self) -> None:
        """At start: mark what dead servers left `lost` and kill their processes on this host."""
        self.run_queue.heartbeat(self.settings.replica_id)
        if self.multi:
            # A server starting owns nothing yet: Operations under its replica id were left by a previous
            # process with the same (pinned) id, whose heartbeat the line above has just made look alive.
            self._after_lost(
                self.run_queue.mark_lost(Operation.owner == self.settings.replica_id, LEFT_AT_START), LEFT_AT_START
            )
            self.take_over_dead_replicas()
        else:
            # SQLite is one process: whatever is pending or running now was left by a previous run, except
            # a retry waiting out its delay: it never started, and its chain goes on after a restart.
            self._after_lost(self.run_queue.mark_lost(waiting_retry_excluded(), LEFT_AT_START), LEFT_AT_START)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        try:
            self.run_queue.forget_replica(self.settings.replica_id)
        except Exception:
            log.warning("could not remove this replica's heartbeat row", exc_info=True)

    # -- takeover ---------------------------------------------------------------------------------

    def take_over_dead_replicas(self) -> int:
        """Mark the work of every replica silent past the threshold `lost`; returns how many Operations."""
        lost = self.run_queue.take_over_dead_replicas(self.settings.heartbeat_timeout, DEAD_REPLICA)
        self._after_lost(lost, DEAD_REPLICA)
        if lost:
            self.dispatcher.kick()  # their units are free again
        return len(lost)

    def _after_lost(self, lost: Iterable[Operation], why: str) -> None:
        """Log each lost Operation and kill what it left on this host."""
        for op in lost:
            log.warning("operation %s marked lost: %s", op.id, why, extra={"operation_id": op.id, "job_id": op.job_id})
            if op.hostname == HOSTNAME and op.run_ident:
                killed = kill_run(op.run_ident, op.pid, op.pid_started)
                if killed:
                    log.warning("killed %d leftover processes of lost operation %s", killed, op.id)
            self.metrics.operations.labels(status="lost").inc()

    # -- heartbeat --------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        last_beat = time.monotonic()
        failures = RepeatedFailure(log, "heartbeat")
        while not self._stopping.wait(self.settings.heartbeat_interval):
            try:
                self.run_queue.heartbeat(self.settings.replica_id)
                last_beat = time.monotonic()
                if self.multi:
                    self.take_over_dead_replicas()
                failures.succeeded()
            except Exception as exc:
                failures.failed(exc)
                silent = time.monotonic() - last_beat
                if self.multi and silent > self.settings.heartbeat_timeout - self.settings.heartbeat_interval:
                    # The other replicas are about to declare us dead and hand our units to new work: stop our
                    # runs first, so one unit never has two playbooks running.
                    log.error("no heartbeat for %.0f s: canceling this replica's operations", silent)
                    self.dispatcher.cancel_all("this replica lost contact with the database")
