"""The run queue: what the dispatcher, the workers and the heartbeat ask of the database.

Claiming pending Operations (one running per Unit, across replicas), the flags a running Operation is
watched for (a cancel, being marked lost elsewhere), when the next delayed retry is due, this replica's
heartbeat, and taking over the Operations of dead replicas. All methods are blocking.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any

import peewee as pw

from .announce import Announcer
from .db import Job, Operation, Replica
from .sql import (
    database,
    database_now,
    lock_row,
    records_in,
    records_sql,
    rows,
    update_sql,
    write_transaction,
)
from .statuses import OperationStatus
from .timeutil import now
from .transitions import Transitions

HOSTNAME = socket.gethostname()


@dataclass
class Claim:
    """An Operation this replica has claimed to run: what the worker needs to start it."""

    op_id: int
    job_id: int
    job_tag: str
    unit: str
    action: str
    extravars: dict[str, Any]
    timeout: float | None
    started_at: float
    check: bool = False
    diff: bool = False


class RunQueue:
    def __init__(self, transitions: Transitions, announce: Announcer) -> None:
        self.transitions = transitions
        self.announce = announce

    # -- claiming ---------------------------------------------------------------------------------

    def claim(self, owner: str, slots: int) -> list[Claim]:
        """Claim up to `slots` runnable Operations: the oldest pending one of each idle unit."""
        if slots <= 0:
            return []
        with write_transaction():
            claimed = self._claim_pending(owner, slots)
        if not claimed:
            return []
        self.announce.operations(claimed)
        ops = records_in(Operation, "id", sorted(claimed), order="id")
        tags = {j.id: j.tag for j in records_in(Job, "id", sorted({o.job_id for o in ops}), columns="id, tag")}
        return [
            Claim(
                op.id,
                op.job_id,
                tags[op.job_id],
                op.unit_name,
                op.action,
                json.loads(op.extravars or "{}"),
                op.timeout,
                op.started_at or now(),
                bool(op.check_mode),
                bool(op.diff_mode),
            )
            for op in ops
        ]

    def _claim_pending(self, owner: str, slots: int) -> list[int]:
        """Within the claim's transaction: mark up to `slots` pending Operations running; returns their ids."""
        claimed: list[int] = []
        # Run on every wake-up of the dispatcher: as a string, not built by peewee.
        pending = records_sql(
            'SELECT id, unit_id, not_before FROM "operation" WHERE status = ? AND unit_id NOT IN '
            '(SELECT unit_id FROM "operation" WHERE status = ?) ORDER BY id LIMIT ?',
            [OperationStatus.PENDING.value, OperationStatus.RUNNING.value, slots * 4 + 16],
        )
        seen: set[int] = set()
        started = now()
        for op in pending:
            if op.unit_id in seen:
                continue
            seen.add(op.unit_id)
            if op.not_before is not None and op.not_before > started:
                continue  # a retry waiting out its delay; what is queued behind it waits too
            try:
                with database().atomic():
                    n = update_sql(
                        Operation,
                        {"status": OperationStatus.RUNNING, "owner": owner, "started_at": now(), "hostname": HOSTNAME},
                        "id = ? AND status = ?",
                        [op.id, OperationStatus.PENDING.value],
                    )
            except pw.IntegrityError:
                continue  # another replica started this unit's operation first
            if n:
                claimed.append(op.id)
                if len(claimed) >= slots:
                    break
        return claimed

    def next_start_after(self) -> float | None:
        """When the earliest pending retry's delay ends (epoch seconds), for the dispatcher's sleep. Only
        delays still running count: a retry already due that waits for a worker must not make it spin."""
        found = records_sql(
            'SELECT MIN(not_before) AS at FROM "operation" WHERE status = ? AND not_before > ?',
            [OperationStatus.PENDING.value, now()],
        )
        value = found[0].at if found else None
        return float(value) if value is not None else None

    # -- running ----------------------------------------------------------------------------------

    def set_run_ident(self, op_id: int, run_ident: str) -> None:
        """Record the run's marker, by which a later server finds and kills what a crash left behind."""
        update_sql(Operation, {"run_ident": run_ident}, "id = ?", [op_id])

    def cancel_requested(self, op_ids: list[int]) -> list[int]:
        if not op_ids:
            return []
        return [o.id for o in records_in(Operation, "id", op_ids, columns="id, cancel_requested") if o.cancel_requested]

    def not_running(self, op_ids: list[int]) -> list[int]:
        """Of these Operations, those the database no longer has running (e.g. marked lost by a survivor)."""
        if not op_ids:
            return []
        return [
            o.id
            for o in Operation.select(Operation.id).where(
                Operation.id.in_(op_ids) & (Operation.status != OperationStatus.RUNNING)
            )
        ]

    def mark_lost(self, where: Any, why: str) -> list[Operation]:
        """Mark the active Operations matching `where` lost; returns them as they were.

        A lost Operation with retries left gets its next attempt in the same transaction."""
        with write_transaction():
            ops, retries = self.transitions.mark_lost(where, why)
        self.announce.operations([o.id for o in ops] + retries)
        return ops

    # -- replicas ---------------------------------------------------------------------------------

    def heartbeat(self, replica_id: str) -> None:
        """Record that this replica is alive, on the database's clock."""
        t = database_now()
        with write_transaction():
            if not Replica.update(heartbeat_at=t).where(Replica.id == replica_id).execute():
                Replica.insert(
                    id=replica_id, hostname=HOSTNAME, pid=os.getpid(), started_at=now(), heartbeat_at=t
                ).on_conflict_ignore().execute()

    def forget_replica(self, replica_id: str) -> None:
        Replica.delete().where(Replica.id == replica_id).execute()

    def take_over_dead_replicas(self, timeout: float, why: str) -> list[Operation]:
        """Mark the active Operations of every replica silent for `timeout` seconds `lost`, and forget those
        replicas; returns the Operations as they were.

        One transaction, the dead replicas' rows locked first: a replica that heartbeats meanwhile waits
        for the takeover to commit and then finds itself forgotten (its dispatcher sees its Operations are
        no longer running and stops them), and two survivors never take over the same replica twice.
        Silence is measured on the database's clock, never on a replica's own."""
        with write_transaction():
            silent = Replica.select(Replica.id).where(Replica.heartbeat_at < database_now() - timeout)
            dead = [r for (r,) in rows(lock_row(silent))]
            if not dead:
                return []
            ops, retries = self.transitions.mark_lost(Operation.owner.in_(dead), why)
            Replica.delete().where(Replica.id.in_(dead)).execute()
        self.announce.operations([o.id for o in ops] + retries)
        return ops
