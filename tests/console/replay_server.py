"""A WebSocket endpoint that replays an Operation's stream (contract frames) at a set rate.

Used by the 5,000-event responsiveness test: a real server's ansible run needs minutes to produce
5,000 events on a shared CI machine, while this drives the same client, worker and log pane.
"""

from __future__ import annotations

import asyncio
import json
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


def operation(op_id: int, status: str, count: int) -> dict[str, Any]:
    return {
        "id": op_id,
        "job_id": 1,
        "unit": "db",
        "action": "chatty-db.yml",
        "status": status,
        "rc": None,
        "created_at": "2026-11-25T12:00:00Z",
        "started_at": "2026-11-25T12:00:00Z",
        "finished_at": None,
        "extravars": {},
        "event_count": count,
        "progress": {"tasks_done": 0, "tasks_total": 1},
        "stats": {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0},
        "error": None,
    }


def event_frame(op_id: int, seq: int) -> str:
    stdout = f'ok: [localhost] => (item={seq - 1}) => {{\n    "msg": "item {seq - 1}"\n}}'
    event = {
        "seq": seq,
        "operation_id": op_id,
        "event": "runner_item_on_ok",
        "created": "2026-11-25T12:00:01Z",
        "host": "localhost",
        "task": "Emit one line per item",
        "play": "Many events",
        "stdout": stdout,
        "data": {"item": seq - 1},
    }
    return json.dumps({"type": "event", "operation_id": op_id, "seq": seq, "data": event})


async def replay_server(count: int, rate: float, op_id: int = 7) -> Server:
    """Serve `count` events at about `rate` per second (in bursts of 50)."""

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        after = int(parse_qs(urlsplit(ws.request.path).query).get("after", ["0"])[0])
        await ws.send(json.dumps({"type": "status", "kind": "operation", "data": operation(op_id, "running", after)}))
        began = time.monotonic()
        for seq in range(after + 1, count + 1):
            await ws.send(event_frame(op_id, seq))
            if seq % 50 == 0:
                await asyncio.sleep(max(0.0, began + (seq - after) / rate - time.monotonic()))
        await ws.send(json.dumps({"type": "end", "data": operation(op_id, "successful", count)}))
        await ws.close(1000)

    def only_this_operation(ws: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != f"/api/v1/operations/{op_id}/stream":
            return ws.respond(HTTPStatus.NOT_FOUND, "not here\n")
        return None

    return await serve(handler, "127.0.0.1", 0, process_request=only_this_operation)
