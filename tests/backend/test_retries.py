"""Retry chains through the real server: attempt, retry_of, delay, cancel, timeout, restarts."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, ServerClient, wait_until

from .helpers import make_job, start, ws


def chain(srv: ServerClient, job_id: int, unit: str) -> list[dict[str, Any]]:
    """The Unit's Operations, oldest first."""
    items = srv.get(f"operations?job_id={job_id}&unit={unit}&limit=500").json()["items"]
    return list(reversed(items))


@pytest.mark.slow
def test_a_flaky_run_is_retried_and_the_chain_is_visible(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "backup", ["db"])
    first = start(
        server,
        job["id"],
        "db",
        "flaky.yml",
        extravars={"flaky_marker": str(tmp_path / "marker")},
        retries=2,
        retry_delay=0.2,
    )
    assert (first["attempt"], first["retries"], first["retry_of"]) == (1, 2, None)
    assert server.wait_terminal(first["id"])["status"] == "failed"
    ops = wait_until(lambda: len(chain(server, job["id"], "db")) == 2 and chain(server, job["id"], "db"), 30)
    second = server.wait_terminal(ops[1]["id"])
    assert second["status"] == "successful"
    assert (second["attempt"], second["retry_of"], second["retries"]) == (2, first["id"], 2)
    assert second["extravars"] == first["extravars"] and second["action"] == "flaky.yml"
    # The chain ended with the success: no third attempt, and the Job is successful.
    assert len(chain(server, job["id"], "db")) == 2
    assert server.get(f"jobs/{job['id']}").json()["status"] == "successful"


@pytest.mark.slow
def test_retries_stop_when_they_run_out(server: RunningServer) -> None:
    job = make_job(server, "backup", ["web"])
    start(server, job["id"], "web", "fail", retries=2, retry_delay=0)

    def three_ended() -> list[dict[str, Any]] | None:
        ops = chain(server, job["id"], "web")
        return ops if len(ops) == 3 and all(o["status"] == "failed" for o in ops) else None

    ops = wait_until(three_ended, 90, 0.2)
    assert [o["attempt"] for o in ops] == [1, 2, 3]
    assert [o["retry_of"] for o in ops] == [None, ops[0]["id"], ops[1]["id"]]
    assert server.get(f"jobs/{job['id']}").json()["status"] == "failed"
    assert len(chain(server, job["id"], "web")) == 3


def test_no_retries_by_default(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["web"])
    op = start(app_server, job["id"], "web", "fail")
    assert op["retries"] == 0
    assert app_server.wait_terminal(op["id"])["status"] == "failed"
    assert app_server.get(f"jobs/{job['id']}").json()["status"] == "failed"
    assert len(chain(app_server, job["id"], "web")) == 1


def test_a_timeout_is_retried(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db"])
    first = start(
        app_server, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 60}, timeout=1, retries=1, retry_delay=0
    )
    assert app_server.wait_terminal(first["id"])["status"] == "timeout"
    ops = wait_until(lambda: len(chain(app_server, job["id"], "db")) == 2 and chain(app_server, job["id"], "db"), 30)
    second = app_server.wait_terminal(ops[1]["id"])
    assert (second["status"], second["attempt"], second["timeout"]) == ("timeout", 2, 1.0)


def test_canceling_the_pending_retry_ends_the_chain(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["web"])
    first = start(app_server, job["id"], "web", "fail", retries=3, retry_delay=600)
    assert app_server.wait_terminal(first["id"])["status"] == "failed"
    ops = wait_until(lambda: len(chain(app_server, job["id"], "web")) == 2 and chain(app_server, job["id"], "web"), 30)
    waiting = ops[1]
    assert waiting["status"] == "pending" and waiting["start_after"] is not None
    # While the retry waits, the Unit is busy and the Job running.
    assert app_server.get(f"jobs/{job['id']}").json()["status"] == "running"
    assert app_server.post(f"jobs/{job['id']}/units/web", {"action": "fail"}).status == 409
    assert app_server.post(f"operations/{waiting['id']}/cancel").status == 202
    assert app_server.get(f"operations/{waiting['id']}").json()["status"] == "canceled"
    assert len(chain(app_server, job["id"], "web")) == 2
    assert app_server.get(f"jobs/{job['id']}").json()["status"] == "failed"


def test_canceling_a_running_attempt_ends_the_chain(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db"])
    op = start(app_server, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 300}, retries=3, retry_delay=0)
    wait_until(lambda: app_server.get(f"operations/{op['id']}").json()["event_count"] > 0, 30)
    assert app_server.post(f"operations/{op['id']}/cancel").status == 202
    assert app_server.wait_terminal(op["id"])["status"] == "canceled"
    # The writer inserts a retry in the same commit as the end: once canceled, there is none.
    assert len(chain(app_server, job["id"], "db")) == 1


@pytest.mark.slow
def test_a_waiting_retry_survives_a_restart(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    srv = server_factory(name="first")
    job = make_job(srv, "backup", ["db"])
    marker = tmp_path / "marker"
    first = start(srv, job["id"], "db", "flaky.yml", extravars={"flaky_marker": str(marker)}, retries=1, retry_delay=3)
    assert srv.wait_terminal(first["id"])["status"] == "failed"
    ops = wait_until(lambda: len(chain(srv, job["id"], "db")) == 2 and chain(srv, job["id"], "db"), 30)
    assert ops[1]["status"] == "pending"
    assert srv.stop(signal.SIGTERM) == 0

    again = server_factory(name="second", database=srv.database, state_dir=srv.state_dir)
    second = again.wait_terminal(ops[1]["id"], 60)
    assert (second["status"], second["attempt"], second["retry_of"]) == ("successful", 2, first["id"])


@pytest.mark.slow
def test_a_run_lost_in_a_crash_is_retried_after_the_restart(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    srv = server_factory(name="first")
    job = make_job(srv, "backup", ["db"])
    marker = tmp_path / "marker"
    first = start(
        srv,
        job["id"],
        "db",
        "flaky.yml",
        extravars={"flaky_marker": str(marker), "flaky_sleep": 300},
        retries=1,
        retry_delay=0,
    )
    wait_until(marker.exists, 60, what="the first attempt to leave its marker")
    srv.kill()

    again = server_factory(name="second", database=srv.database, state_dir=srv.state_dir)
    lost = again.get(f"operations/{first['id']}").json()
    assert lost["status"] == "lost"
    ops = chain(again, job["id"], "db")
    assert len(ops) == 2 and ops[1]["retry_of"] == first["id"]
    assert again.wait_terminal(ops[1]["id"], 60)["status"] == "successful"


@pytest.mark.slow
def test_a_run_stopped_by_a_shutdown_is_retried_after_the_restart(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    srv = server_factory(name="first", args=["--shutdown-grace", "1"])
    job = make_job(srv, "backup", ["db"])
    marker = tmp_path / "marker"
    first = start(
        srv,
        job["id"],
        "db",
        "flaky.yml",
        extravars={"flaky_marker": str(marker), "flaky_sleep": 300},
        retries=1,
        retry_delay=0,
    )
    wait_until(marker.exists, 60, what="the first attempt to leave its marker")
    assert srv.stop(signal.SIGTERM) == 0

    again = server_factory(name="second", database=srv.database, state_dir=srv.state_dir)
    stopped = again.get(f"operations/{first['id']}").json()
    # Canceled by the shutdown, not by a request: the chain goes on.
    assert (stopped["status"], stopped["error"], stopped["cancel_requested"]) == ("canceled", "server shutdown", False)
    ops = chain(again, job["id"], "db")
    assert len(ops) == 2 and ops[1]["retry_of"] == first["id"]
    assert again.wait_terminal(ops[1]["id"], 60)["status"] == "successful"


@pytest.mark.slow
def test_a_job_follower_sees_the_retry_created_and_started(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "backup", ["db"])
    with ws(server, f"jobs/{job['id']}/stream") as conn:
        assert json.loads(conn.recv(timeout=30))["type"] == "snapshot"
        first = start(
            server,
            job["id"],
            "db",
            "flaky.yml",
            extravars={"flaky_marker": str(tmp_path / "m")},
            retries=1,
            retry_delay=0,
        )
        seen: list[tuple[int, int, str, int | None]] = []
        while ("successful" not in [s for _, _, s, _ in seen]) and len(seen) < 500:
            frame = json.loads(conn.recv(timeout=60))
            if frame["type"] == "status" and "attempt" in frame["data"]:
                op = frame["data"]
                seen.append((op["id"], op["attempt"], op["status"], op["retry_of"]))
    retry_id = first["id"] + 1
    assert (first["id"], 1, "failed", None) in seen
    assert (retry_id, 2, "pending", first["id"]) in seen
    assert (retry_id, 2, "running", first["id"]) in seen
    assert (retry_id, 2, "successful", first["id"]) in seen
