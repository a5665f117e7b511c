"""The in-process bus: topics, delivery in order, and a slow subscriber cut off instead of growing memory."""

from __future__ import annotations

import asyncio

import pytest

from backend.bus import ALL, Bus, Change, Overflow


def event(op_id: int, seq: int, job_id: int = 1) -> Change:
    return Change("event", job_id, {"seq": seq}, op_id=op_id, seq=seq)


def test_a_change_reaches_its_job_its_operation_and_only_job_changes_reach_all() -> None:
    assert event(7, 1, job_id=3).topics() == [("job", 3), ("op", 7)]
    assert Change("unit", 3, {}).topics() == [("job", 3)]
    assert Change("job", 3, {}).topics() == [("job", 3), ALL]
    assert Change("job_deleted", 3, {}).topics() == [("job", 3), ALL]


def test_subscribers_get_their_topics_changes_in_order() -> None:
    async def scenario() -> None:
        bus = Bus()
        op7 = bus.subscribe(("op", 7), limit=10)
        op8 = bus.subscribe(("op", 8), limit=10)
        bus.publish([event(7, 1), event(8, 1), event(7, 2)])
        assert [(await op7.get(0)).seq for _ in range(2)] == [1, 2]  # type: ignore[union-attr]
        assert (await op8.get(0)).seq == 1  # type: ignore[union-attr]
        assert await op8.get(0.01) is None  # nothing more: times out

    asyncio.run(scenario())


def test_a_subscriber_that_falls_behind_overflows_and_gets_nothing_more() -> None:
    async def scenario() -> None:
        bus = Bus()
        slow = bus.subscribe(("op", 7), limit=3)
        bus.publish([event(7, seq) for seq in range(1, 4)])
        assert not slow.overflowed
        bus.publish([event(7, 4)])
        assert slow.overflowed and not slow.queue  # the backlog is dropped at once, not kept
        bus.publish([event(7, 5)])
        assert not slow.queue
        with pytest.raises(Overflow):
            await slow.get(0)

    asyncio.run(scenario())


def test_a_waiting_subscriber_wakes_on_publish_and_on_close() -> None:
    async def scenario() -> None:
        bus = Bus()
        sub = bus.subscribe(("job", 1), limit=10)
        waiting = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)
        bus.publish([Change("unit", 1, {"name": "db"})])
        assert (await waiting).data == {"name": "db"}  # type: ignore[union-attr]
        waiting = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)
        bus.unsubscribe(sub)
        assert await waiting is None

    asyncio.run(scenario())


def test_unsubscribed_subscribers_get_nothing() -> None:
    bus = Bus()
    sub = bus.subscribe(("op", 7), limit=10)
    bus.unsubscribe(sub)
    bus.publish([event(7, 1)])
    assert not sub.queue and sub.closed


def test_a_job_is_watched_while_someone_follows_it_or_the_job_list() -> None:
    bus = Bus()
    assert not bus.watches_job(3)
    job3 = bus.subscribe(("job", 3), limit=10)
    assert bus.watches_job(3) and not bus.watches_job(4)
    bus.unsubscribe(job3)
    assert not bus.watches_job(3)
    everything = bus.subscribe(ALL, limit=10)
    assert bus.watches_job(3) and bus.watches_job(4)
    bus.unsubscribe(everything)
    assert not bus.watches_job(4)
