"""Waiting for Operations and Jobs to end, with the server's `?wait=` long-poll (no busy polling)."""

from __future__ import annotations

import asyncio

from console.client import Job, Operation, RedRunnerClient

# The server answers a long-poll after at most 60 s; ask for no more.
LONG_POLL = 60.0


class Deadline:
    """`None` seconds means no deadline."""

    def __init__(self, seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._at = None if seconds is None else loop.time() + seconds

    def left(self) -> float | None:
        return None if self._at is None else max(0.0, self._at - self._loop.time())

    @property
    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


async def wait_operation(client: RedRunnerClient, op_id: int, deadline: Deadline) -> Operation:
    """The Operation once terminal, or as it stands when the deadline passes."""
    while True:
        left = deadline.left()
        if left is not None and left < 1:
            # The long-poll counts whole seconds: the last fraction is one plain read.
            return await client.get_operation(op_id)
        op = await client.wait_operation(op_id, LONG_POLL if left is None else min(LONG_POLL, left))
        if op.terminal:
            return op


async def wait_operations(client: RedRunnerClient, op_ids: list[int], deadline: Deadline) -> list[Operation]:
    return list(await asyncio.gather(*(wait_operation(client, op_id, deadline) for op_id in op_ids)))


def active_operations(job: Job) -> list[int]:
    ops = [unit.latest_operation for unit in job.units]
    return [op.id for op in ops if op is not None and op.active]


async def wait_job(client: RedRunnerClient, job_id: int, deadline: Deadline) -> Job:
    """The Job once nothing in it is pending or running (retries and queued runs included)."""
    while True:
        job = await client.get_job(job_id)
        active = active_operations(job)
        if not active or deadline.passed:
            return job
        await wait_operations(client, active, deadline)
