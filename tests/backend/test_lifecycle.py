"""Cancel latency, graceful shutdown on SIGTERM, and recovery after kill -9 of the server.

Each test sleeps for its own odd number of seconds so that its `sleep N` processes are recognisable
on a machine where other tests run playbooks too.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from backend.processes import MARKER
from tests.support.server import RunningServer, wait_until

from .helpers import all_events, make_job, start, ws
from .processes import sleeps

pytestmark = pytest.mark.slow


class Follower(threading.Thread):
    """Reads a stream in the background until the server closes it."""

    def __init__(self, srv: RunningServer, path: str) -> None:
        super().__init__(daemon=True)
        self.srv, self.path = srv, path
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.opened = threading.Event()

    def run(self) -> None:
        with ws(self.srv, self.path) as conn:
            self.opened.set()
            try:
                while True:
                    self.frames.append(json.loads(conn.recv(timeout=120)))
            except ConnectionClosed:
                self.close_code = conn.close_code


def running(srv: RunningServer, op_id: int) -> bool:
    return bool(srv.get(f"operations/{op_id}").json()["status"] == "running")


def test_cancel_latency(server: RunningServer) -> None:
    """Cancel stops the whole tree and the Operation is `canceled` within 2 s (measured from the POST)."""
    job = make_job(server, "cancel", ["db"])
    op = start(server, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 311})
    wait_until(lambda: sleeps(311), 30, what="the playbook's sleep task")
    t0 = time.monotonic()
    assert server.post(f"operations/{op['id']}/cancel").status == 202
    done = server.wait_terminal(op["id"], 10)
    latency = time.monotonic() - t0
    wait_until(lambda: not sleeps(311), 5, what="the sleep process to be gone")
    gone = time.monotonic() - t0
    print(
        f"\n[measure] cancel latency: operation canceled after {latency * 1000:.0f} ms, "
        f"task process gone after {gone * 1000:.0f} ms"
    )
    assert done["status"] == "canceled" and done["rc"] is None


def test_sigterm_lets_a_short_operation_finish(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory(args=["--shutdown-grace", "20"])
    job = make_job(srv, "shutdown", ["db", "web"])
    op = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 3})
    wait_until(lambda: sleeps(3) and running(srv, op["id"]), 30, what="the operation to run")
    follower = Follower(srv, f"operations/{op['id']}/stream")
    follower.start()
    assert follower.opened.wait(10)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: srv.get("/readyz").status == 503, 5, what="readyz to report shutting down")

    refused = srv.post(f"jobs/{job['id']}/units/web", {"action": "hello"})
    assert refused.status == 503, refused.body
    assert refused.json() == {"status": 503, "error": "shutting_down", "message": refused.json()["message"]}
    assert srv.get("/healthz").status == 200  # still serving reads while it drains

    rc = srv.proc.wait(20 + 5)
    exit_s = time.monotonic() - t0
    print(f"\n[measure] SIGTERM with a 3 s operation running: exit {rc} after {exit_s:.2f} s")
    assert rc == 0
    follower.join(10)
    assert follower.frames[-1]["type"] == "end" and follower.frames[-1]["data"]["status"] == "successful"
    assert follower.close_code == 1000

    again = srv_restart(server_factory, srv)
    after = again.get(f"operations/{op['id']}").json()
    assert after["status"] == "successful" and after["rc"] == 0 and after["error"] is None
    assert [e["seq"] for e in all_events(again, op["id"])] == list(range(1, after["event_count"] + 1))
    # The refused POST created nothing.
    assert again.get(f"operations?job_id={job['id']}").json()["items"] == [after]


def srv_restart(server_factory: Callable[..., RunningServer], old: RunningServer, **kw: Any) -> RunningServer:
    return server_factory(state_dir=old.state_dir, database=old.database, name=f"restart-{old.port}", **kw)


def test_sigterm_after_grace_cancels_and_exits(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory(args=["--shutdown-grace", "1"])
    job = make_job(srv, "shutdown", ["db", "web"])
    op = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 307})
    queued = start(srv, job["id"], "db", "hello", queue=True)
    wait_until(lambda: sleeps(307), 30, what="the playbook's sleep task")
    op_follower = Follower(srv, f"operations/{op['id']}/stream")
    job_follower = Follower(srv, f"jobs/{job['id']}/stream")
    for f in (op_follower, job_follower):
        f.start()
        assert f.opened.wait(10)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(1 + 5)
    exit_s = time.monotonic() - t0
    print(f"\n[measure] SIGTERM with --shutdown-grace 1 and a 307 s operation: exit {rc} after {exit_s:.2f} s")
    assert rc == 0 and exit_s < 1 + 5
    assert not sleeps(307), "a task process outlived the server"
    for f in (op_follower, job_follower):
        f.join(10)
        assert not f.is_alive()
    print(
        f"[measure] stream close codes at shutdown: job stream {job_follower.close_code}, "
        f"operation stream {op_follower.close_code}"
    )
    assert job_follower.close_code == 1001
    # The Operation's stream either saw the end of its Operation or was closed by the shutdown.
    assert op_follower.close_code in (1000, 1001)
    statuses = [f["data"]["status"] for f in op_follower.frames if f["type"] in ("status", "end")]
    assert statuses[-1] == "canceled"

    again = srv_restart(server_factory, srv)
    done = again.get(f"operations/{op['id']}").json()
    assert done["status"] == "canceled" and done["error"] == "server shutdown" and done["rc"] is None
    assert done["event_count"] >= 1
    pending = again.get(f"operations/{queued['id']}").json()
    assert pending["status"] == "canceled" and pending["error"] == "server shutdown"


def test_kill_9_then_restart_marks_lost_and_cleans_up(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory()
    job = make_job(srv, "crash", ["db"])
    op = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 303})
    wait_until(lambda: sleeps(303), 30, what="the playbook's sleep task")
    wait_until(lambda: srv.get(f"operations/{op['id']}").json()["event_count"] >= 3, 10, what="stored events")
    before = all_events(srv, op["id"])
    srv.kill()
    # The run dies with the server (its guard's parent-death signal): nothing waits for a restart.
    wait_until(lambda: not sleeps(303), 10, what="the run to die with the server")
    # What a host without that signal would still leave: a process with the run's marker. A restart kills it.
    with sqlite3.connect(srv.database.removeprefix("sqlite:///")) as conn:
        (run_ident,) = conn.execute("SELECT run_ident FROM operation WHERE id = ?", (op["id"],)).fetchone()
    stray = subprocess.Popen(["sleep", "305"], env={**os.environ, MARKER: run_ident}, start_new_session=True)
    leftovers = [psutil.Process(stray.pid)]

    again = srv_restart(server_factory, srv)
    lost = again.get(f"operations/{op['id']}").json()
    assert lost["status"] == "lost" and lost["rc"] is None and lost["finished_at"] is not None
    assert "server stopped" in lost["error"]
    assert all_events(again, op["id"]) == before
    assert lost["event_count"] == len(before)
    stdout = again.get(f"operations/{op['id']}/stdout").body
    assert b"sleeping 303" in stdout
    # The restarted server killed what the dead one left behind.
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in leftovers)
    assert stray.wait(10) == -signal.SIGKILL
    assert "leftover processes" in again.log()

    assert again.get(f"jobs/{job['id']}").json()["status"] == "failed"
    nxt = again.wait_terminal(start(again, job["id"], "db", "hello")["id"])
    assert nxt["status"] == "successful"
    assert again.get(f"jobs/{job['id']}/units/db").json()["operations"] == [nxt["id"], op["id"]]
