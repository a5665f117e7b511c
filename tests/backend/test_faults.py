"""Faults RedRunner must survive and say out loud, on the embedded SQLite database."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.support.server import RunningServer, wait_until  # noqa: F401

from .helpers import frames_until_close, make_job, start, ws


@pytest.mark.slow
def test_a_cancel_right_after_the_claim_is_never_lost(server: RunningServer) -> None:
    """A cancel that lands between the claim (status `running`) and the run's registration still stops it."""
    units = [f"u{i}" for i in range(6)]
    outcomes: list[dict[str, Any]] = []
    for _ in range(10):
        job = make_job(server, "race", units)

        def start_and_cancel(unit: str, job_id: int = job["id"]) -> None:
            op = start(server, job_id, unit, "hello-db.yml")
            server.post(f"operations/{op['id']}/cancel")
            outcomes.append(server.wait_terminal(op["id"], 90))

        threads = [threading.Thread(target=start_and_cancel, args=(u,)) for u in units]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(outcomes) == 60
    lost = [o for o in outcomes if o["cancel_requested"] and o["status"] != "canceled"]
    assert not lost, [(o["id"], o["status"]) for o in lost]


def test_a_job_stream_is_told_when_its_job_is_deleted(server: RunningServer) -> None:
    job = make_job(server, "doomed", ["db"])
    with ws(server, f"jobs/{job['id']}/stream") as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "snapshot"
        assert server.delete(f"jobs/{job['id']}").status == 204
        frames = frames_until_close(conn, 10)
        code = conn.close_code
    assert [f["type"] for f in frames] == ["error"], frames
    assert frames[0]["data"]["error"] == "job_deleted"
    assert code != 1000


@pytest.mark.slow
def test_an_operation_stream_replaying_a_deleted_job_is_told_not_ended(server: RunningServer) -> None:
    """A follower halfway through the replay of a long Operation whose Job is deleted gets an error frame,
    not the `end` that would say it had every event."""
    job = make_job(server, "doomed", ["db"])
    op = server.wait_terminal(start(server, job["id"], "db", "loop.yml", extravars={"items": 1500})["id"], 240)
    assert op["status"] == "successful" and op["event_count"] > 1500
    with ws(server, f"operations/{op['id']}/stream?after=0") as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "status"
        assert json.loads(conn.recv(timeout=10))["type"] == "event"
        assert server.delete(f"jobs/{job['id']}").status == 204
        frames = frames_until_close(conn, 30)
    events = [f for f in frames if f["type"] == "event"]
    assert len(events) + 1 < op["event_count"], "the follower read everything before the delete: no test"
    assert frames[-1]["type"] == "error" and frames[-1]["data"]["error"] == "job_deleted", frames[-1]
    assert not [f for f in frames if f["type"] == "end"]
