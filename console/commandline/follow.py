"""Live output of running Operations, each line once, across dropped connections.

`console.client.follow_operation` resumes a broken stream with `after=<last seq>` and skips any
event it already gave, so a line is never lost or printed twice; this module only turns its
frames into lines and decides when a broken connection is worth no more retries.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from backend import terminal_text
from console.client import ConnectionState, EndFrame, EventFrame, Operation, RedRunnerClient, Unavailable

# Reconnect attempts in a row before a follower gives up with "cannot reach" (exit 3). With the
# client's backoff (0.25 s doubling to 5 s) eight attempts span about 23 s: longer than a
# port-forward or a server restart takes, short enough for a script to notice a dead server.
MAX_RECONNECTS = 8

LineSink = Callable[[str], None]


def stream_lines(out: TextIO) -> LineSink:
    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()  # a reader (a pipe, `tee`, a CI log) sees each line as it happens

    return write


def _on_state(label: str, notes: TextIO) -> Callable[[ConnectionState], None]:
    def on_state(state: ConnectionState) -> None:
        if state.phase != "reconnecting" or state.retry_in is None:
            return
        if state.attempt > MAX_RECONNECTS:
            raise Unavailable(f"{label}: gave up after {MAX_RECONNECTS} reconnects ({state.detail})")
        notes.write(f"redrunner: {label}: {state.detail}; resuming in {state.retry_in:.1f}s\n")
        notes.flush()

    return on_state


async def follow_operation(
    client: RedRunnerClient,
    op: Operation,
    write: LineSink,
    prefix: str = "",
    notes: TextIO | None = None,
    *,
    ansi: bool = False,
) -> Operation:
    """Write the Operation's output from its first line to its last; return it as it ended.

    The lines are those of `GET /operations/{id}/stdout`: plain text, or coloured with `ansi`.
    """
    final = op
    label = prefix.strip() or f"operation {op.id}"
    async for frame in client.follow_operation(op.id, _on_state(label, notes or sys.stderr)):
        if isinstance(frame, EventFrame):
            # As the server makes GET /operations/{id}/stdout: colour only, or plain text.
            text = terminal_text.for_terminal(frame.event.stdout, ansi)
            if frame.event.stdout:  # the same lines, in the same order, as GET /operations/{id}/stdout
                for line in text.split("\n"):
                    write(prefix + line)
        elif isinstance(frame, EndFrame) and frame.operation is not None:
            final = frame.operation
    return final


async def follow_operations(
    client: RedRunnerClient,
    ops: list[Operation],
    write: LineSink,
    *,
    prefixed: bool,
    notes: TextIO | None = None,
    ansi: bool = False,
) -> list[Operation]:
    """All at once, each line prefixed `[unit]` when asked; the Operations as they ended, in order."""
    return list(
        await asyncio.gather(
            *(follow_operation(client, op, write, f"[{op.unit}] " if prefixed else "", notes, ansi=ansi) for op in ops)
        )
    )
