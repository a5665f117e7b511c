"""The WebSocket stream protocols, apart from the handlers that wire them to connections.

Every stream subscribes to the bus first and reads the database second, so nothing can fall between
the two; events are then deduplicated by `seq`, and a gap in live frames (a subscriber that missed
some) is filled from the database, which is the truth.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .bus import Bus, Change, Overflow, Subscriber
from .db import TERMINAL
from .errors import ApiError

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000


class Connection(Protocol):
    async def send(self, frame: dict[str, Any]) -> None: ...
    async def send_text(self, text: str) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def closed(self) -> bool: ...


class Queries(Protocol):
    """What the streams read (backend.queries.Queries; an in-memory log in the unit tests)."""

    def operation(self, op_id: int) -> dict[str, Any]: ...
    def event_page(self, op_id: int, after: int, limit: int, upto: int | None = None) -> list[dict[str, Any]]: ...
    def job(self, job_id: int) -> dict[str, Any]: ...


Call = Callable[..., Awaitable[Any]]


class OverflowClose(Exception):
    pass


def job_deleted(job_id: int) -> ApiError:
    """What a follower is told when the Job goes away under it: an error, never the `end` of a completed
    stream (which would say it had every event)."""
    return ApiError(404, "job_deleted", f"job {job_id} was deleted while it was followed")


def event_frame(op_id: int, ev: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "operation_id": op_id, "seq": ev["seq"], "data": ev}


def event_text(change: Change) -> str:
    """The `event` wire frame of a live event, serialized once however many followers send it."""
    text = change.text.get("event")
    if text is None:
        assert change.op_id is not None
        text = change.text["event"] = dumps(event_frame(change.op_id, change.data))
    return text


def status_frame(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A `status` wire frame; `kind` ("operation" or "unit") says which resource `data` is, so clients
    need not guess from its keys. The type stays `status` for clients written before `kind`."""
    return {"type": "status", "kind": kind, "data": data}


async def _next(sub: Subscriber) -> Change | None:
    try:
        return await sub.get()
    except Overflow as exc:
        raise OverflowClose() from exc


class OperationStream:
    def __init__(
        self, bus: Bus, call: Call, queries: Queries, conn: Connection, op_id: int, after: int, queue_limit: int
    ) -> None:
        self.bus = bus
        self.call = call
        self.queries = queries
        self.conn = conn
        self.op_id = op_id
        self.last = after
        self.queue_limit = queue_limit

    async def _replay(self, upto: int | None = None) -> None:
        while not self.conn.closed():
            items = await self.call(self.queries.event_page, self.op_id, self.last, REPLAY_PAGE, upto)
            for ev in items:
                await self._send_event(ev)
            if len(items) < REPLAY_PAGE:
                return

    async def _send_event(self, ev: dict[str, Any], change: Change | None = None) -> None:
        if ev["seq"] <= self.last:
            return
        if change is not None:
            await self.conn.send_text(event_text(change))
        else:
            await self.conn.send(event_frame(self.op_id, ev))
        self.last = ev["seq"]

    async def run(self) -> None:
        sub = self.bus.subscribe(("op", self.op_id), self.queue_limit)
        try:
            op = await self.call(self.queries.operation, self.op_id)
            await self.conn.send(status_frame("operation", op))
            sent_status = op["status"]
            await self._replay()
            while not self.conn.closed():
                if op["status"] in TERMINAL:
                    if self.last < op["event_count"]:
                        await self._replay()
                    if self.last < op["event_count"]:
                        # Stored events never go missing except with their Job (DELETE or retention).
                        raise job_deleted(op["job_id"])
                    await self.conn.send({"type": "end", "data": op})
                    self.conn.close(1000, "operation finished")
                    return
                change = await _next(sub)
                if change is None:
                    return
                if change.kind == "event" and change.seq is not None:
                    if change.seq <= self.last:
                        continue
                    if change.seq > self.last + 1:
                        await self._replay(upto=change.seq - 1)
                    await self._send_event(change.data, change)
                elif change.kind == "operation":
                    op = change.data
                    if op["status"] != sent_status:
                        sent_status = op["status"]
                        if op["status"] in TERMINAL and self.last < op["event_count"]:
                            await self._replay()
                        await self.conn.send(status_frame("operation", op))
        except OverflowClose:
            self.conn.close(1013, "client too slow: resume with after=<last seq>")
        finally:
            self.bus.unsubscribe(sub)


class JobStream:
    def __init__(self, bus: Bus, call: Call, queries: Queries, conn: Connection, job_id: int, queue_limit: int) -> None:
        self.bus = bus
        self.call = call
        self.queries = queries
        self.conn = conn
        self.job_id = job_id
        self.queue_limit = queue_limit

    async def run(self) -> None:
        sub = self.bus.subscribe(("job", self.job_id), self.queue_limit)
        try:
            job = await self.call(self.queries.job, self.job_id)
            # Events at or below the snapshot's event_count are already reflected in it.
            seen: dict[int, int] = {}
            for unit in job["units"]:
                latest = unit.get("latest_operation")
                if latest:
                    seen[latest["id"]] = latest["event_count"]
            await self.conn.send({"type": "snapshot", "data": job})
            while not self.conn.closed():
                change = await _next(sub)
                if change is None:
                    return
                if change.kind == "event" and change.op_id is not None and change.seq is not None:
                    last = seen.get(change.op_id, 0)
                    if change.seq <= last:
                        continue
                    if change.seq > last + 1:
                        # Missed events (a change-notice outage, another replica's run): fill from the
                        # database, which is the truth, as operation streams do.
                        await self._fill(change.op_id, last, change.seq - 1)
                    seen[change.op_id] = change.seq
                    await self.conn.send_text(event_text(change))
                elif change.kind in ("operation", "unit"):
                    if change.kind == "operation" and change.op_id is not None:
                        # An Operation whose last events were missed (it ended during a change-notice
                        # outage): send them before its status, so a terminal status still comes last.
                        count = int(change.data.get("event_count") or 0)
                        last = seen.get(change.op_id, 0)
                        if count > last:
                            await self._fill(change.op_id, last, count)
                            seen[change.op_id] = count
                    await self.conn.send(status_frame(change.kind, change.data))
                elif change.kind == "job":
                    await self.conn.send({"type": "job", "data": change.data})
                elif change.kind == "job_deleted":
                    raise job_deleted(self.job_id)
        except OverflowClose:
            self.conn.close(1013, "client too slow: reconnect for a new snapshot")
        finally:
            self.bus.unsubscribe(sub)

    async def _fill(self, op_id: int, after: int, upto: int) -> None:
        while after < upto and not self.conn.closed():
            items = await self.call(self.queries.event_page, op_id, after, REPLAY_PAGE, upto)
            for ev in items:
                await self.conn.send(event_frame(op_id, ev))
            if len(items) < REPLAY_PAGE:
                return
            after = items[-1]["seq"]


class TagStream:
    def __init__(self, bus: Bus, conn: Connection, tag: str | None, queue_limit: int) -> None:
        self.bus = bus
        self.conn = conn
        self.tag = tag
        self.queue_limit = queue_limit

    async def run(self) -> None:
        sub = self.bus.subscribe(("all",), self.queue_limit)
        try:
            while not self.conn.closed():
                change = await _next(sub)
                if change is None:
                    return
                if self.tag is not None and change.tag != self.tag:
                    continue
                kind = "job" if change.kind == "job" else "job_deleted"
                await self.conn.send({"type": kind, "data": change.data})
        except OverflowClose:
            self.conn.close(1013, "client too slow: reconnect")
        finally:
            self.bus.unsubscribe(sub)


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


async def wait_for_operation(
    bus: Bus, call: Call, queries: Queries, op_id: int, wait: float, gone: Callable[[], bool]
) -> dict[str, Any]:
    """The `?wait=` long-poll: the Operation once it is terminal, or as it is after `wait` seconds."""
    # Subscribe before reading, so a change between the read and the wait is not missed.
    sub = bus.subscribe(("op", op_id), 1000) if wait else None
    try:
        op: dict[str, Any] = await call(queries.operation, op_id)
        deadline = time.monotonic() + wait
        while sub is not None and op["status"] not in TERMINAL:
            left = deadline - time.monotonic()
            if left <= 0 or gone():
                break
            try:
                frame = await sub.get(timeout=min(left, 2.0))
            except Overflow:
                frame = None
                sub.resume_after_overflow()
            if frame is not None and frame.kind != "operation":
                continue
            # Re-read from the database: it is the truth (and covers changes made by other replicas).
            op = await call(queries.operation, op_id)
        return op
    finally:
        if sub is not None:
            bus.unsubscribe(sub)
