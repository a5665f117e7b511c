"""Small helpers shared by the backend tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.server import ServerClient


def make_job(srv: ServerClient, tag: str = "backup", units: list[str] | None = None) -> dict[str, Any]:
    resp = srv.post("jobs", {"tag": tag, "units": units or ["db", "web", "cache"]})
    assert resp.status == 201, resp.body
    return dict(resp.json())


def start(srv: ServerClient, job_id: int, unit: str, action: str, **body: Any) -> dict[str, Any]:
    resp = srv.post(f"jobs/{job_id}/units/{unit}", {"action": action, **body})
    assert resp.status == 202, resp.body
    assert resp.headers["Location"] == f"/api/v1/operations/{resp.json()['id']}"
    return dict(resp.json())


def all_events(srv: ServerClient, op_id: int, page: int = 500) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        body = srv.get(f"operations/{op_id}/events?after={after}&limit={page}").json()
        events.extend(body["items"])
        after = body["next_after"]
        if not body["items"]:
            return events


@contextmanager
def ws(srv: ServerClient, path: str, token: str | None = None) -> Iterator[ClientConnection]:
    headers = {}
    tok = token if token is not None else srv.token
    if tok:
        headers["Authorization"] = f"Bearer {tok}"
    with connect(f"{srv.ws_api}/{path}", additional_headers=headers, open_timeout=10, max_size=None) as conn:
        yield conn


def frames_until_close(conn: ClientConnection, timeout: float = 60) -> list[dict[str, Any]]:
    """Every frame until the server closes the stream."""
    from websockets.exceptions import ConnectionClosed

    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(conn.recv(timeout=timeout)))
    except ConnectionClosed:
        return frames
