"""A resource's shape never changes with its status: every field is there from creation on.

Clients (the console, scripts, typed models) read fields without guessing whether a pending
Operation has `stats.rescued` yet; these tests compare key sets across a run's whole life, in
REST answers and in stream frames alike.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, wait_until

from .helpers import frames_until_close, make_job, start, ws

# Free-form objects: their keys are the caller's or the playbook's, not the resource's.
FREE = {"extravars", "artifacts", "data"}


def shape(value: Any, prefix: str = "") -> frozenset[str]:
    """Every key path of a resource, nested objects included (`progress.tasks_total`)."""
    paths: set[str] = set()
    for key, item in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if isinstance(item, dict) and key not in FREE and key != "latest_operation":
            paths |= shape(item, f"{path}.")
    return frozenset(paths)


@pytest.mark.slow
def test_operations_units_and_jobs_keep_their_keys_from_creation_to_the_end(
    server_factory: Any,
) -> None:
    srv: RunningServer = server_factory(args=["--workers", "1"])
    job = make_job(srv, "shapes", ["db", "web"])
    frames: list[dict[str, Any]] = []

    def follow() -> None:
        with ws(srv, f"jobs/{job['id']}/stream") as conn:
            while True:
                frame = json.loads(conn.recv(timeout=60))
                frames.append(frame)
                ops = [f["data"] for f in frames if f["type"] == "status" and "action" in f["data"]]
                if sum(op["status"] == "successful" for op in ops) >= 2:
                    return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wait_until(lambda: frames, 10, what="job snapshot")
    new_job = srv.get(f"jobs/{job['id']}").json()
    idle_unit = new_job["units"][0]

    first = start(srv, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 2})
    # One worker: the second waits `pending` while the first runs.
    second = start(srv, job["id"], "web", "hello")
    created = [first, second]
    running = wait_until(
        lambda: (op := srv.get(f"operations/{first['id']}").json())["status"] == "running" and op, 30, what="running"
    )
    pending = srv.get(f"operations/{second['id']}").json()
    assert pending["status"] == "pending"
    busy_job = srv.get(f"jobs/{job['id']}").json()
    busy_unit = srv.get(f"jobs/{job['id']}/units/db").json()
    finished = [srv.wait_terminal(op["id"]) for op in created]
    assert {op["status"] for op in finished} == {"successful"}
    done_job = srv.get(f"jobs/{job['id']}").json()
    done_unit = srv.get(f"jobs/{job['id']}/units/db").json()
    follower.join(60)

    operations = [*created, running, pending, *finished]
    operations += [f["data"] for f in frames if f["type"] == "status" and "action" in f["data"]]
    assert len({shape(op) for op in operations}) == 1, [sorted(shape(op)) for op in operations]
    assert {"stats.ignored", "stats.rescued", "progress.estimated"} <= shape(pending)

    units = [idle_unit, busy_unit, done_unit, *busy_job["units"], *done_job["units"]]
    units += [f["data"] for f in frames if f["type"] == "status" and "action" not in f["data"]]
    assert len({shape(unit) for unit in units}) == 1
    assert any(f["type"] == "status" and "action" not in f["data"] for f in frames), "no unit frame seen"

    jobs = [job, new_job, busy_job, done_job, frames[0]["data"]]
    assert len({shape(j) for j in jobs}) == 1
    assert frames[0]["type"] == "snapshot"

    # An Operation stream's frames carry the same Operation and the same Event shape as REST.
    with ws(srv, f"operations/{first['id']}/stream") as conn:
        op_frames = frames_until_close(conn)
    assert {shape(f["data"]) for f in op_frames if f["type"] in ("status", "end")} == {shape(finished[0])}
    events = [f["data"] for f in op_frames if f["type"] == "event"]
    rest_events = srv.get(f"operations/{first['id']}/events").json()["items"]
    assert len({shape(e) for e in events + rest_events}) == 1


@pytest.mark.slow
def test_progress_is_exact_once_terminal_and_marked_estimated_before(server: RunningServer) -> None:
    job = make_job(server, "progress", ["db"])
    first = server.wait_terminal(start(server, job["id"], "db", "hello")["id"])
    assert first["progress"] == {"tasks_done": 2, "tasks_total": 2, "estimated": False}
    second = start(server, job["id"], "db", "hello")
    # The previous successful run's count is the estimate until this run ends.
    assert second["progress"] == {"tasks_done": 0, "tasks_total": 2, "estimated": True}
    assert server.wait_terminal(second["id"])["progress"]["estimated"] is False


def test_stdout_is_plain_text_unless_colour_is_asked_for(app_server: InProcessServer) -> None:
    job = make_job(app_server, "stdout", ["db"])
    op = app_server.wait_terminal(start(app_server, job["id"], "db", "hello")["id"])
    plain = app_server.get(f"operations/{op['id']}/stdout").body.decode()
    coloured = app_server.get(f"operations/{op['id']}/stdout?ansi=true").body.decode()
    assert "\x1b[" not in plain and "TASK [Greet]" in plain
    assert "\x1b[" in coloured
    assert app_server.get(f"operations/{op['id']}/stdout?ansi=false").body.decode() == plain
    bad = app_server.get(f"operations/{op['id']}/stdout?ansi=yes")
    assert bad.status == 400 and bad.json()["error"] == "invalid_parameter"
