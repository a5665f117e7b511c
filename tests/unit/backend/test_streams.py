"""The stream protocols against an in-memory connection: replay, live, dedupe, gap fill, end, overflow.

The stored side is a small event log with the two reads a stream makes (`operation`, `event_page`);
the bus and the protocol code are the real ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from backend.bus import Bus, Change
from backend.errors import ApiError
from backend.streams import JobStream, OperationStream

OP = 7
JOB = 1


class MemoryConnection:
    """The streams' Connection protocol, keeping what was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        self.sent.append(json.loads(json.dumps(frame)))

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def close(self, code: int, reason: str) -> None:
        self.close_code = code

    def closed(self) -> bool:
        return self.close_code is not None

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.sent if f["type"] == "event"]


class EventLog:
    """What the database holds for one Operation."""

    def __init__(self, stored: int, status: str = "running") -> None:
        self.events = [self.event(seq) for seq in range(1, stored + 1)]
        self.status = status

    @staticmethod
    def event(seq: int) -> dict[str, Any]:
        return {"seq": seq, "operation_id": OP, "event": "runner_on_ok", "stdout": f"line {seq}"}

    def operation(self, op_id: int) -> dict[str, Any]:
        return {"id": op_id, "job_id": JOB, "status": self.status, "event_count": len(self.events)}

    def event_page(self, op_id: int, after: int, limit: int, upto: int | None = None) -> list[dict[str, Any]]:
        found = [e for e in self.events if e["seq"] > after and (upto is None or e["seq"] <= upto)]
        return found[:limit]

    def job(self, job_id: int) -> dict[str, Any]:
        latest = self.operation(OP)
        return {"id": job_id, "status": "running", "units": [{"name": "db", "latest_operation": latest}]}


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


async def until(predicate: Callable[[], Any], what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


def live(log: EventLog, seq: int) -> Change:
    """An event the writer has just committed, as the bus carries it."""
    ev = EventLog.event(seq)
    log.events.append(ev)
    return Change("event", JOB, ev, op_id=OP, seq=seq)


def finished(log: EventLog) -> Change:
    log.status = "successful"
    return Change("operation", JOB, log.operation(OP), op_id=OP)


def test_operation_stream_replays_after_the_cursor_then_goes_live_then_ends() -> None:
    async def scenario() -> MemoryConnection:
        bus, log, conn = Bus(), EventLog(stored=3), MemoryConnection()
        task = asyncio.ensure_future(OperationStream(bus, call, log, conn, OP, 1, 100).run())
        await until(lambda: conn.seqs() == [2, 3], "the replay")
        bus.publish([live(log, 4), live(log, 5)])
        await until(lambda: conn.seqs() == [2, 3, 4, 5], "the live events")
        bus.publish([finished(log)])
        await task
        return conn

    conn = asyncio.run(scenario())
    assert [f["type"] for f in conn.sent] == ["status", "event", "event", "event", "event", "status", "end"]
    assert conn.sent[0]["kind"] == "operation" and conn.sent[-2]["kind"] == "operation"
    assert conn.sent[-1]["data"]["status"] == "successful"
    assert conn.close_code == 1000


def test_operation_stream_drops_duplicates_and_fills_gaps_from_the_database() -> None:
    async def scenario() -> MemoryConnection:
        bus, log, conn = Bus(), EventLog(stored=2), MemoryConnection()
        task = asyncio.ensure_future(OperationStream(bus, call, log, conn, OP, 0, 100).run())
        await until(lambda: conn.seqs() == [1, 2], "the replay")
        log.events.append(EventLog.event(3))  # committed, but its change never reached this replica
        bus.publish([Change("event", JOB, EventLog.event(2), op_id=OP, seq=2), live(log, 4)])
        bus.publish([finished(log)])
        await task
        return conn

    assert asyncio.run(scenario()).seqs() == [1, 2, 3, 4]


def test_operation_stream_of_a_finished_operation_replays_and_ends_at_once() -> None:
    async def scenario() -> MemoryConnection:
        conn = MemoryConnection()
        await OperationStream(Bus(), call, EventLog(stored=2, status="failed"), conn, OP, 0, 100).run()
        return conn

    conn = asyncio.run(scenario())
    assert [f["type"] for f in conn.sent] == ["status", "event", "event", "end"]
    assert conn.close_code == 1000


def test_a_follower_too_slow_for_its_queue_is_closed_with_1013_and_unsubscribed() -> None:
    bus = Bus()

    async def scenario() -> MemoryConnection:
        log, conn = EventLog(stored=0), MemoryConnection()
        task = asyncio.ensure_future(OperationStream(bus, call, log, conn, OP, 0, 2).run())
        await until(lambda: conn.sent, "the status frame")
        bus.publish([live(log, seq) for seq in range(1, 4)])  # three changes into a queue of two
        await task
        return conn

    assert asyncio.run(scenario()).close_code == 1013
    assert not bus._subs


def test_job_stream_tells_operation_and_unit_status_frames_apart_by_kind() -> None:
    async def scenario() -> tuple[MemoryConnection, BaseException | None]:
        bus, log, conn = Bus(), EventLog(stored=2), MemoryConnection()
        task = asyncio.ensure_future(JobStream(bus, call, log, conn, JOB, 100).run())
        await until(lambda: conn.sent, "the snapshot")
        unit = {"job_id": JOB, "name": "db", "status": "running"}
        bus.publish(
            [
                Change("event", JOB, EventLog.event(2), op_id=OP, seq=2),  # already in the snapshot's count
                live(log, 3),
                Change("operation", JOB, log.operation(OP), op_id=OP),
                Change("unit", JOB, unit),
                Change("job_deleted", JOB, {"id": JOB, "tag": "backup"}),
            ]
        )
        try:
            await task
        except ApiError as exc:
            return conn, exc
        return conn, None

    conn, ended = asyncio.run(scenario())
    assert [(f["type"], f.get("kind")) for f in conn.sent] == [
        ("snapshot", None),
        ("event", None),
        ("status", "operation"),
        ("status", "unit"),
    ]
    assert conn.sent[1]["seq"] == 3
    # A deleted Job is not a completed one: the handler turns this into an `error` frame and close 1008.
    assert isinstance(ended, ApiError) and ended.error == "job_deleted"
