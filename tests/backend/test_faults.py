"""Faults RedRunner must survive and say out loud, on the embedded SQLite database."""

from __future__ import annotations

import json
import resource
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, wait_until

from .helpers import all_events, frames_until_close, make_job, start, ws


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


def test_writes_on_a_deleted_database_file_are_refused_and_readyz_says_so(server: RunningServer) -> None:
    assert server.post("jobs", {"tag": "before"}).status == 201
    path = server.database.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    refused = server.post("jobs", {"tag": "after"})
    assert refused.status == 503, refused.body
    assert refused.json()["error"] == "database_unavailable" and "deleted" in refused.json()["message"]
    ready = server.get("/readyz")
    assert ready.status == 503 and "deleted" in ready.json()["message"]
    # SIGTERM still ends it (the tests' grace is 2 s; the pod allows grace + 5): the writer stops retrying
    # a database that is gone and says what it could not store, rather than holding the exit for ever.
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    assert "shutting down with the database refusing writes" in server.log()


# Runs the server with a file size limit (what a full disk looks like to SQLite) and SIGXFSZ ignored.
FSIZE_LAUNCHER = (
    "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(os.environ['RR_TEST_FSIZE']), resource.RLIM_INFINITY)); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_full_disk_ends_the_operation_error_and_readyz_says_so(
    server_factory: Callable[..., RunningServer],
) -> None:
    srv = server_factory(launcher=[sys.executable, "-c", FSIZE_LAUNCHER], env={"RR_TEST_FSIZE": str(1_000_000)})
    job = make_job(srv, "full", ["db"])
    op = start(srv, job["id"], "db", "loop.yml", extravars={"items": 3000})

    def unwritable() -> dict[str, Any] | None:
        # The body of the 503 itself: a checkpoint can free room for a moment, and a second GET may say 200.
        resp = srv.get("/readyz")
        return resp.json() if resp.status == 503 else None

    ready = wait_until(unwritable, 240, interval=0.2, what="readyz to report the full disk")
    assert ready["error"] == "database_unwritable" and "disk I/O error" in ready["message"], ready
    wait_until(lambda: "cannot store" in srv.log(), 60, interval=0.2, what="the writer to give up on events")
    # The real error is logged, not the failed ROLLBACK that follows a failed COMMIT on SQLite.
    assert "event batch commit failed (OperationalError: disk I/O error)" in srv.log()
    # Space comes back: the Operation's end lands, as `error`, and what was stored is contiguous.
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    done = srv.wait_terminal(op["id"], 120)
    assert done["status"] == "error" and "cannot be stored" in done["error"], done
    assert done["truncated"] is True
    events = all_events(srv, op["id"])
    assert [e["seq"] for e in events] == list(range(1, done["event_count"] + 1))
    wait_until(lambda: srv.get("/readyz").status == 200, 60, what="readyz to recover once writes land")
