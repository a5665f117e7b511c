"""Nothing a playbook starts outlives its Operation: daemons in their own session, daemons with a wiped
environment (no run marker), and Ansible `async` tasks are stopped after success, cancel, timeout and
server shutdown (tests/fixtures/data/project/daemonize.yml leaves all three behind).

Each test uses its own sleep lengths (`sleep_base` + 1, 2, 3), so it finds only its own processes.
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


def leftovers(base: int) -> list[psutil.Process]:
    return [p for n in (1, 2, 3) for p in sleeps(base + n)]


def all_three_started(base: int) -> bool:
    return all(sleeps(base + n) for n in (1, 2, 3))


def assert_none_left(base: int) -> None:
    wait_until(lambda: not leftovers(base), 10, what=f"the detached processes of sleep_base {base} to be gone")


def test_detached_processes_are_stopped_when_the_operation_succeeds(server: RunningServer) -> None:
    job = make_job(server, "daemons", ["db"])
    op = start(server, job["id"], "db", "daemonize.yml", extravars={"sleep_base": 520})
    done = server.wait_terminal(op["id"], 90)
    assert done["status"] == "successful", done
    assert_none_left(520)


def test_detached_processes_are_stopped_on_cancel(server: RunningServer) -> None:
    job = make_job(server, "daemons", ["db"])
    op = start(server, job["id"], "db", "daemonize.yml", extravars={"sleep_base": 530, "hold": 600})
    wait_until(lambda: all_three_started(530), 60, what="the three detached processes")
    assert server.post(f"operations/{op['id']}/cancel").status == 202
    assert server.wait_terminal(op["id"], 30)["status"] == "canceled"
    assert_none_left(530)


def test_detached_processes_are_stopped_on_timeout(server: RunningServer) -> None:
    job = make_job(server, "daemons", ["db"])
    # The time limit has to outlast the start of all three under a full suite's load (8 s did not, with four
    # workers on two cores); the test then waits for it, sleeping.
    op = start(server, job["id"], "db", "daemonize.yml", extravars={"sleep_base": 540, "hold": 600}, timeout=30)
    wait_until(lambda: all_three_started(540), 60, what="the three detached processes")
    assert server.wait_terminal(op["id"], 90)["status"] == "timeout"
    assert_none_left(540)


def test_detached_processes_are_stopped_on_shutdown(server_factory: Callable[..., RunningServer]) -> None:
    srv = server_factory(args=["--shutdown-grace", "1"])
    job = make_job(srv, "daemons", ["db"])
    start(srv, job["id"], "db", "daemonize.yml", extravars={"sleep_base": 550, "hold": 600})
    wait_until(lambda: all_three_started(550), 60, what="the three detached processes")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    assert_none_left(550)


def test_the_server_reaps_the_orphans_it_adopts(server: RunningServer) -> None:
    """As a child subreaper the server inherits orphans; dead ones must not stay zombies under it."""
    job = make_job(server, "daemons", ["db"])
    op = start(server, job["id"], "db", "daemonize.yml", extravars={"sleep_base": 560, "hold": 600})
    wait_until(lambda: all_three_started(560), 60, what="the three detached processes")
    server.post(f"operations/{op['id']}/cancel")
    server.wait_terminal(op["id"], 30)
    me = psutil.Process(server.proc.pid)

    def no_zombies() -> bool:
        return not [c for c in me.children() if c.status() == psutil.STATUS_ZOMBIE]

    wait_until(no_zombies, 10, what="no zombie children under the server")
    # And the server still runs and reaps its own runs' exit status properly.
    nxt = server.wait_terminal(start(server, job["id"], "db", "hello")["id"], 60)
    assert nxt["status"] == "successful" and nxt["rc"] == 0
