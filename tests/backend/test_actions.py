"""POST /jobs/{id}/actions: one action on many Units, all or nothing, through the real server."""

from __future__ import annotations

import pytest

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, ServerClient

from .helpers import make_job, start


def operation_count(srv: ServerClient, job_id: int) -> int:
    return len(srv.get(f"operations?job_id={job_id}&limit=500").json()["items"])


@pytest.mark.slow
def test_actions_start_the_shorthand_on_every_unit_in_unit_order(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web", "cache"])
    resp = server.post(f"jobs/{job['id']}/actions", {"action": "hello", "extravars": {"hello_sleep": 0.1}})
    assert resp.status == 202, resp.body
    items = resp.json()["items"]
    assert [o["unit"] for o in items] == ["db", "web", "cache"]
    assert [o["action"] for o in items] == ["hello-db.yml", "hello-web.yml", "hello-cache.yml"]
    assert all(o["status"] == "pending" and o["attempt"] == 1 and o["retry_of"] is None for o in items)
    done = [server.wait_terminal(o["id"]) for o in items]
    assert [o["status"] for o in done] == ["successful"] * 3
    assert server.get(f"jobs/{job['id']}").json()["status"] == "successful"


def test_actions_on_listed_units_only_and_from_a_form(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db", "web", "cache"])
    resp = app_server.post(
        f"jobs/{job['id']}/actions", form={"action": "hello", "units": '["cache", "db"]', "check": "true"}
    )
    assert resp.status == 202, resp.body
    items = resp.json()["items"]
    # The Job's Unit order, not the order of the list.
    assert [o["unit"] for o in items] == ["db", "cache"]
    assert all(o["check"] is True and o["diff"] is False for o in items)
    assert operation_count(app_server, job["id"]) == 2


def test_a_missing_playbook_for_one_unit_creates_nothing(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db", "web", "cache"])
    # fail-web.yml exists, fail-db.yml does not.
    resp = app_server.post(f"jobs/{job['id']}/actions", {"action": "fail"})
    assert resp.status == 404
    body = resp.json()
    assert body["error"] == "playbook_not_found" and body["field"] == "db"
    assert operation_count(app_server, job["id"]) == 0
    assert app_server.get(f"jobs/{job['id']}").json()["status"] == "new"


def test_a_missing_unit_creates_nothing(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db", "web"])
    resp = app_server.post(f"jobs/{job['id']}/actions", {"action": "hello", "units": ["db", "nope"]})
    assert resp.status == 404
    assert resp.json()["error"] == "unit_not_found" and resp.json()["field"] == "nope"
    assert operation_count(app_server, job["id"]) == 0


@pytest.mark.slow
def test_a_busy_unit_creates_nothing_unless_queued(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web", "cache"])
    busy = start(server, job["id"], "web", "sleep.yml", extravars={"sleep_seconds": 30})
    resp = server.post(f"jobs/{job['id']}/actions", {"action": "hello"})
    assert resp.status == 409
    assert resp.json()["error"] == "unit_busy" and resp.json()["field"] == "web"
    assert operation_count(server, job["id"]) == 1

    queued = server.post(f"jobs/{job['id']}/actions", {"action": "hello", "queue": True})
    assert queued.status == 202, queued.body
    web = queued.json()["items"][1]
    assert web["unit"] == "web" and web["status"] == "pending"
    assert server.post(f"operations/{busy['id']}/cancel").status == 202
    assert server.wait_terminal(web["id"])["status"] == "successful"


def test_bad_actions_bodies_get_the_envelope(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db"])
    cases = [
        ({}, 400, "invalid_action"),
        ({"action": "../x.yml"}, 400, "invalid_action"),
        ({"action": "hello", "units": "db"}, 400, "invalid_units"),
        ({"action": "hello", "units": []}, 400, "invalid_units"),
        ({"action": "hello", "retries": 11}, 400, "invalid_parameter"),
        ({"action": "hello", "retries": -1}, 400, "invalid_parameter"),
        ({"action": "hello", "retries": 1.5}, 400, "invalid_parameter"),
        ({"action": "hello", "retry_delay": -1}, 400, "invalid_parameter"),
        ({"action": "hello", "check": "yes"}, 400, "invalid_parameter"),
        ({"action": "hello", "timeout": 0}, 400, "invalid_timeout"),
        ({"action": "hello", "extravars": {"redrunner_unit": "x"}}, 400, "reserved_extravar"),
    ]
    for body, status, error in cases:
        resp = app_server.post(f"jobs/{job['id']}/actions", body)
        assert (resp.status, resp.json()["error"]) == (status, error), body
    assert app_server.post("jobs/999999/actions", {"action": "hello"}).status == 404
    assert operation_count(app_server, job["id"]) == 0
