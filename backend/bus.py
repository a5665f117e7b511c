"""In-process publish/subscribe of committed changes, owned by the IOLoop.

Producers in other threads hand changes over with `Publisher.publish`, which goes through
`IOLoop.add_callback`; only the IOLoop touches subscribers. Each subscriber has a bounded queue:
when a slow client lets it overflow, the subscriber is marked and its connection closes (1013),
so no client can grow memory or slow the runner.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tornado.ioloop import IOLoop

Topic = tuple[str, int] | tuple[str]
ALL: Topic = ("all",)


@dataclass(frozen=True)
class Change:
    """A committed change to one resource, for the streams to turn into wire frames.

    kind: event | operation | unit | job | job_deleted; `data` is the resource as the API shows it.
    """

    kind: str
    job_id: int
    data: dict[str, Any]
    op_id: int | None = None
    seq: int | None = None
    tag: str | None = None
    # Wire text of the frame made from this change, serialized once and shared by every follower
    # (see streams.event_text).
    text: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def topics(self) -> list[Topic]:
        topics: list[Topic] = [("job", self.job_id)]
        if self.op_id is not None:
            topics.append(("op", self.op_id))
        if self.kind in ("job", "job_deleted"):
            topics.append(ALL)
        return topics


class Overflow(Exception):
    """The subscriber fell too far behind."""


@dataclass(eq=False)
class Subscriber:
    topic: Topic
    limit: int
    queue: deque[Change] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, change: Change) -> None:
        if self.overflowed or self.closed:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append(change)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def resume_after_overflow(self) -> None:
        """Forget what overflowed and go on receiving: for followers that re-read the truth from the
        database anyway (long-polls), rather than closing like a stream."""
        self.queue.clear()
        self.overflowed = False

    async def get(self, timeout: float | None = None) -> Change | None:
        """The next frame; None on timeout or when closed. Raises Overflow after an overflow."""
        while True:
            if self.overflowed:
                raise Overflow()
            if self.queue:
                return self.queue.popleft()
            if self.closed:
                return None
            self._wake.clear()
            try:
                if timeout is None:
                    await self._wake.wait()
                else:
                    await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None


class Bus:
    def __init__(self) -> None:
        self._subs: dict[Topic, set[Subscriber]] = {}

    def subscribe(self, topic: Topic, limit: int) -> Subscriber:
        sub = Subscriber(topic, limit)
        self._subs.setdefault(topic, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.topic]
        sub.close()

    def watches_job(self, job_id: int) -> bool:
        """Whether anyone here follows this Job or the list of Jobs, i.e. would get its Unit and Job changes.

        Read from other threads without the IOLoop: a follower that subscribes just after a False answer
        reads the database after subscribing, so it sees the committed state this change was about."""
        return ("job", job_id) in self._subs or ALL in self._subs

    def publish(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for topic in change.topics():
                for sub in tuple(self._subs.get(topic, ())):
                    sub.deliver(change)


class Publisher:
    """The thread-safe door into the bus: worker and writer threads publish through the IOLoop."""

    def __init__(self, bus: Bus, loop: IOLoop) -> None:
        self.bus = bus
        self.loop = loop
        # On PostgreSQL, tells the other replicas about committed changes (replication.Notifier.send).
        self.remote: Callable[[list[Change]], None] | None = None

    def send_to_replicas(self, send: Callable[[list[Change]], None]) -> None:
        """Also hand every remote-bound change to `send` (set once, when the server is assembled)."""
        self.remote = send

    def watches_job(self, job_id: int) -> bool:
        """Whether a follower here would get this Job's Unit and Job changes (see Bus.watches_job)."""
        return self.bus.watches_job(job_id)

    def publish(self, changes: list[Change], remote: bool = True) -> None:
        if not changes:
            return
        self.loop.add_callback(self.bus.publish, changes)
        if remote and self.remote is not None:
            self.remote(changes)
