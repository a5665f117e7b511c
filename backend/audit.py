"""The audit trail (api.md "Access and audit"): every request other than GET, HEAD and OPTIONS, accepted or
refused, as one database row and one JSON log line (logger `redrunner.audit`). Never a token or a body.

Handlers hand a record over on finishing (`AuditLog.submit`, a queue put: the IOLoop never waits on the
database); one thread inserts what has queued up in one transaction and logs each record after its commit."""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .db import AuditRecord
from .errors import invalid_parameter
from .names import ACTOR_MAX
from .paging import newest_first
from .sql import insert_sql, write_transaction
from .timeutil import iso, now

log = logging.getLogger("redrunner.audit")

# What one transaction inserts at most; a burst beyond it takes several.
BATCH = 500
LINGER = 0.01
# Records older than this many seconds of the retention's step are deleted per statement.
PRUNE_BATCH = 5000
AUDITED_SKIP = frozenset({"GET", "HEAD", "OPTIONS"})
# Path parameters that name the thing a request is about, and how the record names it.
TARGETS = (("op_id", "operation"), ("webhook_id", "webhook"), ("job_id", "job"))


@dataclass
class Entry:
    at: float
    actor: str
    role: str | None
    method: str
    path: str
    status: int
    remote: str | None
    target: str | None


def audited(method: str | None) -> bool:
    return (method or "").upper() not in AUDITED_SKIP


def target_of(route_name: str, path_kwargs: dict[str, str]) -> str | None:
    """`job:12`, `operation:5`, `schedule:nightly`, `webhook:3` from a route's path parameters."""
    for key, kind in TARGETS:
        if key in path_kwargs:
            return f"{kind}:{path_kwargs[key][:100]}"
    if route_name.startswith("/schedules/") and "name" in path_kwargs:
        return f"schedule:{path_kwargs['name'][:100]}"
    return None


def record_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor": row.actor,
        "role": row.role,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "remote": row.remote,
        "target": row.target,
    }


class AuditLog:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="redrunner-audit", daemon=True)
        self._stopped = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def submit(self, entry: Entry) -> None:
        """From the IOLoop: never waits."""
        self._queue.put(entry)

    def stop(self, timeout: float = 3.0) -> None:
        """Write what is queued, then end."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Like the event writer: a record waits up to LINGER for those right behind it, so a burst of
            # requests shares one transaction (a commit each cost three times the insert; bench/access.py).
            deadline = time.monotonic() + LINGER
            while len(batch) < BATCH and batch[-1] is not None:
                left = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            if entries:
                self._write(entries)
            if None in batch:
                return

    def _write(self, entries: list[Entry]) -> None:
        ids: list[int | None]
        try:
            with write_transaction():
                ids = [insert_sql(AuditRecord, asdict(e)) for e in entries]
        except Exception:
            # The request has long been answered: the log line below still records it.
            log.exception("could not store %d audit records", len(entries))
            ids = [None] * len(entries)
        for entry, record_id in zip(entries, ids, strict=True):
            line = {"id": record_id, **asdict(entry), "at": iso(entry.at)}
            log.info("%s %s %d by %s", entry.method, entry.path, entry.status, entry.actor, extra={"audit": line})

    # -- reading and pruning (on the database thread pool / the retention thread) -----------------

    def listing(self, actor: str | None, after: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        query = AuditRecord.select()
        if actor is not None:
            if len(actor) > ACTOR_MAX:
                raise invalid_parameter("actor", f"actor is at most {ACTOR_MAX} characters")
            query = query.where(AuditRecord.actor == actor)
        if after is not None:
            # `after` is an id as everywhere else in the API (records after that one), or a time.
            if AFTER_ID.fullmatch(after):
                query = query.where(AuditRecord.id > int(after))
            else:
                query = query.where(AuditRecord.at > parse_time(after, "after"))
        page, next_cursor = newest_first(query, AuditRecord.id, limit, cursor)
        return {"items": [record_dict(r) for r in page], "next": next_cursor}


# A record id: ASCII digits only, short enough for a 64-bit integer column.
AFTER_ID = re.compile(r"[0-9]{1,18}")


def parse_time(text: str, field: str) -> float:
    """An ISO 8601 time (a `Z` or an offset; without one, UTC) as epoch seconds."""
    if len(text) > 64:
        raise invalid_parameter(field, f"{field} must be a record id or a time like 2026-12-07T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_parameter(field, f"{field} must be a record id or a time like 2026-12-07T00:00:00Z") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def prune_audit(older_than: float, stopping: threading.Event) -> int:
    """Delete audit records from before `older_than`, a batch per statement; returns how many."""
    removed = 0
    while not stopping.is_set():
        ids = [
            r.id
            for r in AuditRecord.select(AuditRecord.id)
            .where(AuditRecord.at < older_than)
            .order_by(AuditRecord.id)
            .limit(PRUNE_BATCH)
        ]
        if not ids:
            break
        removed += AuditRecord.delete().where(AuditRecord.id.in_(ids)).execute()
    return removed


def entry(
    actor: str, role: str | None, method: str, path: str, status: int, remote: str | None, target: str | None
) -> Entry:
    return Entry(now(), actor, role, method, path[:512], status, (remote or "")[:64] or None, target)
