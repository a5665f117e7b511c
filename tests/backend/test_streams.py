"""WebSocket streams: replay then live without gaps, resume, job snapshot, tag stream."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer

from .helpers import all_events, frames_until_close, make_job, start, ws


@pytest.mark.slow
def test_operation_stream_live_then_end(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db"])
    op = start(server, job["id"], "db", "many.yml")
    with ws(server, f"operations/{op['id']}/stream") as conn:
        frames = frames_until_close(conn)
        assert conn.close_code == 1000
    assert frames[0]["type"] == "status" and frames[0]["data"]["id"] == op["id"]
    events = [f for f in frames if f["type"] == "event"]
    assert [f["seq"] for f in events] == list(range(1, len(events) + 1))
    assert all(f["data"]["seq"] == f["seq"] and f["operation_id"] == op["id"] for f in events)
    assert frames[-1]["type"] == "end" and frames[-1]["data"]["status"] == "successful"
    assert len(events) == frames[-1]["data"]["event_count"]
    statuses = [f["data"]["status"] for f in frames if f["type"] == "status"]
    assert statuses[-1] == "successful" and len(statuses) == len(set(statuses))
    assert [e["seq"] for e in all_events(server, op["id"])] == [f["seq"] for f in events]


@pytest.mark.slow
def test_resume_with_after_loses_nothing(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db"])
    op = start(server, job["id"], "db", "many.yml")
    got: list[int] = []
    with ws(server, f"operations/{op['id']}/stream") as conn:
        while len(got) < 40:
            frame = json.loads(conn.recv(timeout=60))
            if frame["type"] == "event":
                got.append(frame["seq"])
    # Reconnect mid-run from the last seq seen.
    with ws(server, f"operations/{op['id']}/stream?after={got[-1]}") as conn:
        frames = frames_until_close(conn)
    got.extend(f["seq"] for f in frames if f["type"] == "event")
    end = frames[-1]
    assert end["type"] == "end"
    assert got == list(range(1, end["data"]["event_count"] + 1))


@pytest.mark.slow
def test_follower_arriving_after_the_end(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db"])
    op = server.wait_terminal(start(server, job["id"], "db", "hello")["id"])
    with ws(server, f"operations/{op['id']}/stream?after=2") as conn:
        frames = frames_until_close(conn)
        assert conn.close_code == 1000
    assert frames[0] == {"type": "status", "kind": "operation", "data": op}
    assert [f["seq"] for f in frames if f["type"] == "event"] == list(range(3, op["event_count"] + 1))
    assert frames[-1] == {"type": "end", "data": op}


@pytest.mark.slow
def test_job_stream_snapshot_then_updates(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web"])
    with ws(server, f"jobs/{job['id']}/stream") as conn:
        snapshot = json.loads(conn.recv(timeout=10))
        assert snapshot == {"type": "snapshot", "data": job}
        op = start(server, job["id"], "db", "hello")
        seen_status: list[str] = []
        event_seqs: list[int] = []
        while "successful" not in seen_status:
            frame = json.loads(conn.recv(timeout=60))
            if frame["type"] == "status" and frame["kind"] == "operation":
                assert "action" in frame["data"]
                seen_status.append(frame["data"]["status"])
            elif frame["type"] == "status":
                assert frame["kind"] == "unit" and frame["data"]["name"] == "db"
            elif frame["type"] == "event":
                assert frame["operation_id"] == op["id"]
                event_seqs.append(frame["seq"])
    assert seen_status[0] == "pending" and seen_status[-1] == "successful"
    assert event_seqs == list(range(1, len(event_seqs) + 1)) and event_seqs


def test_tag_stream_sees_jobs_of_its_tag(app_server: InProcessServer) -> None:
    with ws(app_server, "stream?tag=backup") as conn:
        make_job(app_server, "other", ["db"])
        job = make_job(app_server, "backup", ["db"])
        frame = json.loads(conn.recv(timeout=10))
        assert frame["type"] == "job" and frame["data"]["id"] == job["id"] and frame["data"]["tag"] == "backup"


def test_stream_errors_before_upgrade(app_server: InProcessServer) -> None:
    with pytest.raises(InvalidStatus) as info, ws(app_server, "operations/999999/stream"):
        pass
    assert info.value.response.status_code == 404
    assert json.loads(info.value.response.body)["error"] == "operation_not_found"
    with pytest.raises(InvalidStatus) as info, ws(app_server, "operations/1/stream?after=-1"):
        pass
    assert info.value.response.status_code == 400
    plain = app_server.get("operations/1/stream")
    assert plain.status == 400 and plain.json()["error"] == "websocket_required"


def test_streams_need_the_token(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory(token="tok-123")
    job = make_job(srv, "backup", ["db"])
    with pytest.raises(InvalidStatus) as info, ws(srv, f"jobs/{job['id']}/stream", token="wrong"):
        pass
    assert info.value.response.status_code == 401
    assert json.loads(info.value.response.body)["error"] == "unauthorized"
    with ws(srv, f"jobs/{job['id']}/stream") as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "snapshot"
    assert srv.get("jobs", token="nope").status == 401
    assert srv.request("GET", "/healthz", token="nope").status == 200
