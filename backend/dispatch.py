"""Runs Operations: a bounded pool of worker threads fed by a dispatcher that claims from the database.

Why claim from the database instead of handing the accepted Operation straight to a local thread:
the database is the one place every replica sees. An Operation is inserted `pending`; a dispatcher
with a free worker claims the oldest pending Operation of each idle unit with a conditional UPDATE
(`... WHERE status = 'pending'`), so exactly one replica wins it, and a partial unique index allows
only one `running` Operation per unit. The same path gives `queue=true` its order (oldest first per
unit) and keeps Operations beyond the pool `pending`. On SQLite (one process) it is the same code.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .commands import Commands
from .config import Settings
from .failure_log import RepeatedFailure
from .metrics import Metrics
from .run_queue import Claim, RunQueue
from .runner import OperationRun
from .sql import is_postgres
from .timeutil import now
from .writer import EventWriter

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self, settings: Settings, commands: Commands, run_queue: RunQueue, writer: EventWriter, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.commands = commands
        self.run_queue = run_queue
        self.writer = writer
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="redrunner-op")
        self.active: dict[int, OperationRun] = {}
        self._lock = threading.Lock()
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self.accepting = True
        self._thread = threading.Thread(target=self._dispatch_loop, name="redrunner-dispatch", daemon=True)
        self.multi = is_postgres()

    # -- what the API calls (in the database thread pool) ---------------------------------------------

    def start_operation(self, job_id: int, unit: str, body: dict[str, Any]) -> dict[str, Any]:
        """Accept an Operation (pending) and wake the dispatcher to claim it."""
        op = self.commands.create_operation(job_id, unit, body, self.accepting)
        self.kick()
        return op

    def start_actions(self, job_id: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        """`POST /jobs/{id}/actions`: accept an Operation per Unit, all or nothing, and wake the dispatcher."""
        ops = self.commands.start_actions_request(job_id, body, self.accepting)
        self.kick()
        return ops

    def rerun(self, job_id: int, statuses: Any, units: Any) -> list[dict[str, Any]]:
        """`POST /jobs/{id}/rerun`: start again what ended badly, with the stored requests."""
        ops = self.commands.rerun(job_id, statuses, units, self.accepting)
        self.kick()
        return ops

    def cancel(self, op_id: int) -> dict[str, Any]:
        """Cancel an Operation: pending ones end at once; a running one is stopped here if it runs here
        (another replica's dispatcher sees the flag on its next pass)."""
        op, running = self.commands.cancel(op_id)
        if running:
            self.cancel_local(op_id)
        return op

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.kick()

    def kick(self) -> None:
        self._kick.set()

    def running_count(self) -> int:
        with self._lock:
            return len(self.active)

    def stop_accepting(self) -> None:
        self.accepting = False

    def cancel_pending_for_shutdown(self) -> None:
        """On SQLite nobody else will run what is still queued: end it now rather than leave it to be lost."""
        if not self.multi:
            self.commands.cancel_pending("server shutdown")

    def cancel_all(self, error: str) -> None:
        with self._lock:
            runs = list(self.active.values())
        for run in runs:
            run.stop("canceled", error)

    def shutdown(self) -> None:
        self._stopping.set()
        self._kick.set()
        self.pool.shutdown(wait=True)
        self._thread.join(5)

    # -- dispatch ---------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        poll = 0.5 if self.multi else 2.0
        wait = poll
        failures = RepeatedFailure(log, "dispatch")
        while not self._stopping.is_set():
            self._kick.wait(wait)
            self._kick.clear()
            if self._stopping.is_set():
                return
            try:
                self._dispatch_once()
                wait = self._until_next_retry(poll)
                failures.succeeded()
            except Exception as exc:
                failures.failed(exc)
                self._stopping.wait(0.5)

    def _until_next_retry(self, poll: float) -> float:
        """Sleep no longer than until the earliest pending retry may start, so its delay is kept closely."""
        due = self.run_queue.next_start_after()
        if due is None:
            return poll
        return min(poll, max(0.01, due - now()))

    def _dispatch_once(self) -> None:
        if self.multi:
            with self._lock:
                ids = list(self.active)
            for op_id in self.run_queue.cancel_requested(ids):
                self.cancel_local(op_id)
            # Another replica may have declared us dead and marked our runs lost: they must not go on.
            for op_id in self.run_queue.not_running(ids):
                self.cancel_local(op_id, "another replica marked this operation lost")
        if not self.accepting:
            return
        with self._lock:
            free = self.settings.workers - len(self.active)
        for claim in self.run_queue.claim(self.settings.replica_id, free):
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        run = OperationRun(self.settings, claim, self.writer)
        self.run_queue.set_run_ident(claim.op_id, run.run_id)
        with self._lock:
            self.active[claim.op_id] = run
        # A cancel that came between the claim and the line above found no run to stop, but its flag was
        # committed before it looked: read the flag now, so one of the two always sees the other.
        if self.run_queue.cancel_requested([claim.op_id]):
            run.stop("canceled")
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
        """Stop the Operation's run if it runs on this replica; False when it does not."""
        with self._lock:
            run = self.active.get(op_id)
        if run is None:
            return False
        run.stop("canceled", error)
        return True
