"""Nothing outlives its run: not a daemon whose run killed its own guard, and not the run of a server
killed with `kill -9` (the guard dies with the server and takes its run with it).

Each test sleeps its own number of seconds, so it finds only its own processes (tests/backend/processes.py).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import psutil
import pytest

from tests.support.server import RunningServer, wait_until

from .helpers import make_job, start
from .processes import sleeps

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_daemon_outlives_no_run_that_killed_its_guard(server: RunningServer) -> None:
    job = make_job(server, "escape", ["db"])
    op = start(server, job["id"], "db", "kill-guard.yml", extravars={"sleep_seconds": 571, "hold": 1})
    done = server.wait_terminal(op["id"], 90)
    # The guard was killed: the run cannot be trusted to have finished as it says.
    assert done["status"] == "failed", done
    wait_until(lambda: not sleeps(571), 10, what="the daemon that escaped its guard to be gone")


def test_a_run_dies_with_a_killed_server(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory()
    job = make_job(srv, "orphaned", ["db"])
    op = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 573})
    wait_until(lambda: sleeps(573), 60, what="the run's sleep")
    assert srv.get(f"operations/{op['id']}").json()["status"] == "running"
    guards = [p for p in psutil.Process(srv.proc.pid).children() if "run_guard.py" in " ".join(p.cmdline())]
    assert len(guards) == 1, guards
    guard = guards[0].pid
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    wait_until(lambda: not alive(guard) and not sleeps(573), 10, what="the guard and its run to die with the server")
