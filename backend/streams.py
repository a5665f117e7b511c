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

from .bus import Bus, Frame, Overflow, Subscriber
from .db import TERMINAL
from .errors import ApiError

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000


class Connection(Protocol):
    async def send(self, frame: dict[str, Any]) -> None: ...
    async def send_text(self, text: str) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def closed(self) -> bool: ...


Call = Callable[..., Awaitable[Any]]


class OverflowClose(Exception):
    pass


def job_deleted(job_id: int) -> ApiError:
    """What a follower is told when the Job goes away under it: an error, never the `end` of a completed
    stream (which would say it had every event)."""
    return ApiError(404, "job_deleted", f"job {job_id} was deleted while it was followed")


def event_frame(op_id: int, ev: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "operation_id": op_id, "seq": ev["seq"], "data": ev}


def event_text(frame: Frame) -> str:
    """The `event` wire frame of a live event, serialized once however many followers send it."""
    text = frame.text.get("event")
    if text is None:
        assert frame.op_id is not None
        text = frame.text["event"] = dumps(event_frame(frame.op_id, frame.data))
    return text


async def _next(sub: Subscriber) -> Frame | None:
    try:
        return await sub.get()
    except Overflow as exc:
        raise OverflowClose() from exc


class OperationStream:
    def __init__(
        self, bus: Bus, call: Call, service: Any, conn: Connection, op_id: int, after: int, queue_limit: int
    ) -> None:
        self.bus = bus
        self.call = call
        self.service = service
        self.conn = conn
        self.op_id = op_id
        self.last = after
        self.queue_limit = queue_limit

    async def _replay(self, upto: int | None = None) -> None:
        while not self.conn.closed():
            items = await self.call(self.service.event_page, self.op_id, self.last, REPLAY_PAGE, upto)
            for ev in items:
                await self._send_event(ev)
            if len(items) < REPLAY_PAGE:
                return

    async def _send_event(self, ev: dict[str, Any], frame: Frame | None = None) -> None:
        if ev["seq"] <= self.last:
            return
        if frame is not None:
            await self.conn.send_text(event_text(frame))
        else:
            await self.conn.send(event_frame(self.op_id, ev))
        self.last = ev["seq"]

    async def run(self) -> None:
        sub = self.bus.subscribe(("op", self.op_id), self.queue_limit)
        try:
            op = await self.call(self.service.operation, self.op_id)
            await self.conn.send({"type": "status", "data": op})
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
                frame = await _next(sub)
                if frame is None:
                    return
                if frame.kind == "event" and frame.seq is not None:
                    if frame.seq <= self.last:
                        continue
                    if frame.seq > self.last + 1:
                        await self._replay(upto=frame.seq - 1)
                    await self._send_event(frame.data, frame)
                elif frame.kind == "operation":
                    op = frame.data
                    if op["status"] != sent_status:
                        sent_status = op["status"]
                        if op["status"] in TERMINAL and self.last < op["event_count"]:
                            await self._replay()
                        await self.conn.send({"type": "status", "data": op})
        except OverflowClose:
            self.conn.close(1013, "client too slow: resume with after=<last seq>")
        finally:
            self.bus.unsubscribe(sub)


class JobStream:
    def __init__(self, bus: Bus, call: Call, service: Any, conn: Connection, job_id: int, queue_limit: int) -> None:
        self.bus = bus
        self.call = call
        self.service = service
        self.conn = conn
        self.job_id = job_id
        self.queue_limit = queue_limit

    async def run(self) -> None:
        sub = self.bus.subscribe(("job", self.job_id), self.queue_limit)
        try:
            job = await self.call(self.service.job, self.job_id)
            # Events at or below the snapshot's event_count are already reflected in it.
            seen: dict[int, int] = {}
            for unit in job["units"]:
                latest = unit.get("latest_operation")
                if latest:
                    seen[latest["id"]] = latest["event_count"]
            await self.conn.send({"type": "snapshot", "data": job})
            while not self.conn.closed():
                frame = await _next(sub)
                if frame is None:
                    return
                if frame.kind == "event" and frame.op_id is not None and frame.seq is not None:
                    last = seen.get(frame.op_id, 0)
                    if frame.seq <= last:
                        continue
                    if frame.seq > last + 1:
                        # Missed events (a change-notice outage, another replica's run): fill from the
                        # database, which is the truth, as operation streams do.
                        await self._fill(frame.op_id, last, frame.seq - 1)
                    seen[frame.op_id] = frame.seq
                    await self.conn.send_text(event_text(frame))
                elif frame.kind in ("operation", "unit"):
                    if frame.kind == "operation" and frame.op_id is not None:
                        # An Operation whose last events were missed (it ended during a change-notice
                        # outage): send them before its status, so a terminal status still comes last.
                        count = int(frame.data.get("event_count") or 0)
                        last = seen.get(frame.op_id, 0)
                        if count > last:
                            await self._fill(frame.op_id, last, count)
                            seen[frame.op_id] = count
                    await self.conn.send({"type": "status", "data": frame.data})
                elif frame.kind == "job":
                    await self.conn.send({"type": "job", "data": frame.data})
                elif frame.kind == "job_deleted":
                    raise job_deleted(self.job_id)
        except OverflowClose:
            self.conn.close(1013, "client too slow: reconnect for a new snapshot")
        finally:
            self.bus.unsubscribe(sub)

    async def _fill(self, op_id: int, after: int, upto: int) -> None:
        while after < upto and not self.conn.closed():
            items = await self.call(self.service.event_page, op_id, after, REPLAY_PAGE, upto)
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
                frame = await _next(sub)
                if frame is None:
                    return
                if self.tag is not None and frame.tag != self.tag:
                    continue
                kind = "job" if frame.kind == "job" else "job_deleted"
                await self.conn.send({"type": kind, "data": frame.data})
        except OverflowClose:
            self.conn.close(1013, "client too slow: reconnect")
        finally:
            self.bus.unsubscribe(sub)


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


async def wait_for_operation(
    bus: Bus, call: Call, service: Any, op_id: int, wait: float, gone: Callable[[], bool]
) -> dict[str, Any]:
    """The `?wait=` long-poll: the Operation once it is terminal, or as it is after `wait` seconds."""
    # Subscribe before reading, so a change between the read and the wait is not missed.
    sub = bus.subscribe(("op", op_id), 1000) if wait else None
    try:
        op: dict[str, Any] = await call(service.operation, op_id)
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
            op = await call(service.operation, op_id)
        return op
    finally:
        if sub is not None:
            bus.unsubscribe(sub)
