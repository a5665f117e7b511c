"""WebSocket followers of one Operation, connected before it starts so every event they get is live.

The Operation is queued behind a blocker (a long sleep on the same Unit); once every follower has its
first `status` frame, the blocker is canceled and the measured Operation starts.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import connect

from .client import Api
from .results import check


@dataclass
class Follower:
    index: int
    seqs: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # arrival minus the event's `created`, seconds
    ended: dict[str, Any] | None = None
    close_code: int | None = None


def created_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _follow(
    url: str, follower: Follower, ready: asyncio.Event, waiting: list[int], gate: asyncio.Semaphore
) -> None:
    async with gate:
        ws = await connect(url, max_size=None, open_timeout=60, ping_interval=None)
    async with ws:
        first = json.loads(await ws.recv())
        check(first["type"] == "status", f"follower {follower.index}: first frame {first['type']}")
        waiting[0] -= 1
        if waiting[0] == 0:
            ready.set()
        async for message in ws:
            arrived = time.time()
            frame = json.loads(message)
            if frame["type"] == "event":
                follower.seqs.append(frame["seq"])
                follower.lags.append(arrived - created_epoch(frame["data"]["created"]))
            elif frame["type"] == "end":
                follower.ended = frame["data"]
        follower.close_code = ws.close_code


async def _run(
    api_url: str, ws_url: str, playbook: str, followers: int, tag: str, on_started: Any = None
) -> tuple[list[Follower], dict[str, Any]]:
    api = Api(api_url)
    loop = asyncio.get_running_loop()
    job = await loop.run_in_executor(None, api.job, tag, ["u"])
    blocker = await loop.run_in_executor(None, lambda: api.start(job["id"], "u", "block.yml"))
    op = await loop.run_in_executor(None, lambda: api.start(job["id"], "u", playbook, queue=True))
    check(op["status"] == "pending", f"measured operation is {op['status']}, not queued behind the blocker")
    ready = asyncio.Event()
    waiting = [followers]
    gate = asyncio.Semaphore(50)  # open connections in waves: a burst of 500 handshakes is not the test

    url = f"{ws_url}/operations/{op['id']}/stream"
    fs = [Follower(i) for i in range(followers)]
    tasks = [asyncio.ensure_future(_follow(url, f, ready, waiting, gate)) for f in fs]
    await asyncio.wait_for(ready.wait(), 120)
    if on_started is not None:
        on_started()
    await loop.run_in_executor(None, lambda: api.post(f"operations/{blocker['id']}/cancel", {}, 202))
    await asyncio.wait_for(asyncio.gather(*tasks), 900)
    final = await loop.run_in_executor(None, api.get, f"operations/{op['id']}")
    api.close()
    return fs, final


def follow_run(
    api_url: str, ws_url: str, playbook: str, followers: int, tag: str, on_started: Any = None
) -> tuple[list[Follower], dict[str, Any]]:
    """Run `playbook` with `followers` live followers; check each got every event, in order, then `end`."""
    fs, op = asyncio.run(_run(api_url, ws_url, playbook, followers, tag, on_started))
    check(op["status"] == "successful", f"followed operation ended {op['status']}: {op.get('error')}")
    expected = list(range(1, op["event_count"] + 1))
    for f in fs:
        check(
            f.seqs == expected,
            f"follower {f.index} got {len(f.seqs)} events, not seq 1..{op['event_count']}"
            f" in order (close code {f.close_code})",
        )
        check(f.ended is not None and f.close_code == 1000, f"follower {f.index}: no end frame / clean close")
    return fs, op
