"""Retention (`--retain-days`): finished Jobs older than the limit are deleted, their events in batches,
except a Job holding a backup that the keep rules keep (`--keep-last` and the calendar rules, keep.py)."""

from __future__ import annotations

import logging
import threading
import time

from . import backup_records
from .commands import Commands
from .config import Settings
from .db import ACTIVE, Event, Job, Operation
from .errors import ApiError
from .keep import KeepPolicy
from .sql import rows, write_transaction
from .timeutil import now

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0  # seconds between prunes


def oldest_prunable_job(older_than: float, kept_jobs: set[int] | None = None) -> int | None:
    """The oldest Job created before `older_than` with nothing pending or running, other than `kept_jobs`
    (the Jobs holding a kept backup; computed here with the default rules when not given)."""
    active_jobs = Operation.select(Operation.job).where(Operation.status.in_(ACTIVE))
    query = Job.select(Job.id).where((Job.created_at < older_than) & Job.id.not_in(active_jobs))
    kept = sorted(backup_records.kept_jobs(KeepPolicy()) if kept_jobs is None else kept_jobs)
    if kept:
        query = query.where(Job.id.not_in(kept))
    found = rows(query.order_by(Job.id).limit(1))
    return int(found[0][0]) if found else None


def delete_event_batch(job_id: int, batch: int) -> int:
    """Delete up to `batch` events of the Job's Operations; returns how many (0 when none are left).
    One statement, the write lock taken up front: a read transaction that later upgrades to write gets
    "database is locked" on SQLite whenever another writer got in between."""
    ops = Operation.select(Operation.id).where(Operation.job == job_id)
    with write_transaction():
        chunk = Event.select(Event.id).where(Event.operation.in_(ops)).limit(batch)
        return int(Event.delete().where(Event.id.in_(chunk)).execute())


def prune_finished_jobs(commands: Commands, older_than: float, stopping: threading.Event, batch: int = 2000) -> int:
    """Delete the Jobs created before `older_than` that have nothing pending or running, oldest first;
    returns how many. Events go first in batches of `batch` rows, so API requests get in between and no
    transaction holds the write lock for long."""
    removed = 0
    # Once per pass: pruning what is not kept never changes what is (each rule keeps the newest of a set,
    # and only older ones go); a newer backup landing meanwhile only makes this keep more than needed.
    # delete_job checks again in its transaction, against a kept backup deleted by someone else meanwhile.
    kept = backup_records.kept_jobs(commands.settings.keep)
    while not stopping.is_set():
        job_id = oldest_prunable_job(older_than, kept)
        if job_id is None:
            return removed
        while delete_event_batch(job_id, batch):
            time.sleep(0)  # let API threads in between batches
        try:
            commands.delete_job(job_id, keep_backups=True)
            removed += 1
        except ApiError as exc:
            # An Operation started in it since it was chosen (job_busy), someone deleted it first, or a
            # backup it holds became one to keep (job_keeps_backup: a newer one was deleted meanwhile).
            log.info("retention skipped job %s: %s", job_id, exc.message)
            return removed
    return removed


class Retention:
    """Prunes every PRUNE_EVERY seconds while `retain_days` is set."""

    def __init__(self, settings: Settings, commands: Commands) -> None:
        self.settings = settings
        self.commands = commands
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redrunner-retention", daemon=True)

    def start(self) -> None:
        if self.settings.retain_days > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def prune_once(self) -> int:
        return prune_finished_jobs(self.commands, now() - self.settings.retain_days * 86400, self._stopping)

    def _loop(self) -> None:
        # The first prune comes one heartbeat interval after start, as it always has.
        wait = self.settings.heartbeat_interval
        while not self._stopping.wait(wait):
            wait = PRUNE_EVERY
            try:
                removed = self.prune_once()
                if removed:
                    log.info("retention deleted %d jobs older than %g days", removed, self.settings.retain_days)
            except Exception:
                log.exception("retention failed; trying again in %.0f s", PRUNE_EVERY)
