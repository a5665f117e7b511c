"""Retention: --retain-days prunes old finished Jobs with their events and never what still runs; DELETE /jobs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from tests.support.server import RunningServer, wait_until

from .helpers import all_events, make_job, start
from .processes import sleeps

DAY = 86400


def db_path(srv: RunningServer) -> str:
    assert srv.database.startswith("sqlite:///")
    return srv.database[len("sqlite:///") :]


def age(srv: RunningServer, job_ids: list[int], days: float) -> None:
    """Move Jobs and their Operations `days` into the past, in the stopped server's SQLite file."""
    marks = ",".join("?" * len(job_ids))
    with sqlite3.connect(db_path(srv)) as conn:
        conn.execute(f"UPDATE job SET created_at = created_at - ? WHERE id IN ({marks})", [days * DAY, *job_ids])
        shift: list[object] = [days * DAY] * 3
        conn.execute(
            f"UPDATE operation SET created_at = created_at - ?, started_at = started_at - ?, "
            f"finished_at = finished_at - ? WHERE job_id IN ({marks})",
            [*shift, *job_ids],
        )
    conn.close()


def event_rows(srv: RunningServer, op_ids: list[int]) -> int:
    marks = ",".join("?" * len(op_ids))
    with sqlite3.connect(db_path(srv)) as conn:
        (n,) = conn.execute(f"SELECT COUNT(*) FROM event WHERE operation_id IN ({marks})", op_ids).fetchone()
    conn.close()
    return int(n)


@pytest.mark.slow
def test_retain_days_prunes_old_finished_jobs_only(server_factory: Callable[..., RunningServer]) -> None:
    first = server_factory()
    old = make_job(first, "old", ["db", "web"])
    old_ops = [first.wait_terminal(start(first, old["id"], u, "hello")["id"])["id"] for u in ("db", "web")]
    failed_old = make_job(first, "old-failed", ["web"])
    failed_op = first.wait_terminal(start(first, failed_old["id"], "web", "fail")["id"])["id"]
    empty_old = make_job(first, "old-empty", ["db"])
    busy_old = make_job(first, "old-busy", ["db"])
    busy_prev = first.wait_terminal(start(first, busy_old["id"], "db", "hello")["id"])["id"]
    recent = make_job(first, "recent", ["db"])
    recent_op = first.wait_terminal(start(first, recent["id"], "db", "hello")["id"])["id"]
    assert first.stop() == 0
    pruned_ops = [*old_ops, failed_op]
    assert event_rows(first, pruned_ops) > 0
    age(first, [old["id"], failed_old["id"], empty_old["id"], busy_old["id"]], 3)
    age(first, [recent["id"]], 0.5)

    srv = server_factory(state_dir=first.state_dir, database=first.database, name="retain", args=["--retain-days", "1"])
    # Running in an old Job when the first prune comes (the heartbeat's, ~5 s after start).
    running = start(srv, busy_old["id"], "db", "sleep.yml", extravars={"sleep_seconds": 317})
    wait_until(lambda: sleeps(317), 30, what="the long operation to run")

    wait_until(lambda: srv.get(f"jobs/{old['id']}").status == 404, 20, 0.2, what="the old job to be pruned")
    for job_id in (old["id"], failed_old["id"], empty_old["id"]):
        assert srv.get(f"jobs/{job_id}").json()["error"] == "job_not_found"
    for op_id in pruned_ops:
        assert srv.get(f"operations/{op_id}").json()["error"] == "operation_not_found"
    assert event_rows(srv, pruned_ops) == 0

    # Untouched: the old Job with a running Operation (with its earlier one), and the recent Job.
    busy = srv.get(f"jobs/{busy_old['id']}").json()
    assert busy["status"] == "running"
    assert busy["units"][0]["operations"] == [running["id"], busy_prev]
    assert srv.get(f"operations/{running['id']}").json()["status"] == "running"
    assert all_events(srv, busy_prev)
    assert srv.get(f"jobs/{recent['id']}").json()["units"][0]["operations"] == [recent_op]
    assert len(all_events(srv, recent_op)) == srv.get(f"operations/{recent_op}").json()["event_count"]
    assert {j["id"] for j in srv.get("jobs").json()["items"]} == {busy_old["id"], recent["id"]}
    assert "retention skipped" not in srv.log()

    assert srv.post(f"operations/{running['id']}/cancel").status == 202
    assert srv.wait_terminal(running["id"], 10)["status"] == "canceled"


@pytest.mark.slow
def test_delete_job(server: RunningServer) -> None:
    job = make_job(server, "delete", ["db", "web"])
    op = start(server, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 319})
    wait_until(lambda: server.get(f"operations/{op['id']}").json()["status"] == "running", 30)
    busy = server.delete(f"jobs/{job['id']}")
    assert busy.status == 409
    assert busy.json() == {"status": 409, "error": "job_busy", "message": busy.json()["message"]}
    assert server.get(f"jobs/{job['id']}").json()["units"][0]["operations"] == [op["id"]]

    queued = start(server, job["id"], "web", "hello")
    server.post(f"operations/{op['id']}/cancel")
    server.wait_terminal(op["id"], 10)
    server.wait_terminal(queued["id"])
    gone = server.delete(f"jobs/{job['id']}")
    assert gone.status == 204 and gone.body == b""
    assert server.get(f"jobs/{job['id']}").status == 404
    assert server.get(f"operations/{op['id']}/events").json()["error"] == "operation_not_found"
    assert server.get(f"operations?job_id={job['id']}").json()["items"] == []
    assert server.delete(f"jobs/{job['id']}").json()["error"] == "job_not_found"
    assert event_rows(server, [op["id"], queued["id"]]) == 0
