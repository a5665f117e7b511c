"""Schedules through the API: checked input, firing now, a real one-minute cron, catch-up at start."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer, ServerClient, wait_until

NIGHTLY = {"name": "nightly", "cron": "0 2 * * *", "tag": "backup", "units": ["db", "web"], "action": "hello"}


def create(srv: ServerClient, **fields: Any) -> dict[str, Any]:
    resp = srv.post("schedules", {**NIGHTLY, **fields})
    assert resp.status == 201, resp.body
    assert resp.headers["Location"] == f"/api/v1/schedules/{resp.json()['name']}"
    return dict(resp.json())


def jobs_of(srv: ServerClient, name: str) -> list[dict[str, Any]]:
    return [j for j in srv.get("jobs?limit=500").json()["items"] if j["schedule"] == name]


def test_a_schedule_is_stored_with_its_next_fire_time_and_the_cron_in_words(app_server: InProcessServer) -> None:
    made = create(app_server, timezone="Europe/Berlin", extravars={"hello_sleep": 0}, timeout=60, retries=1)
    assert made["next_run_at"].endswith("Z") and made["enabled"] is True
    assert made["description"] == "At 02:00 every day"
    assert (made["timezone"], made["units"], made["retries"], made["last_job_id"]) == (
        "Europe/Berlin",
        ["db", "web"],
        1,
        None,
    )
    assert app_server.get("schedules/nightly").json() == made
    assert app_server.get("schedules").json() == {"items": [made], "next": None}
    # Form bodies work too, lists as JSON text.
    resp = app_server.post("schedules", form={**NIGHTLY, "name": "formed", "units": '["db"]', "enabled": "false"})
    assert resp.status == 201, resp.body
    assert resp.json()["enabled"] is False and resp.json()["next_run_at"] is None


@pytest.mark.parametrize(
    ("fields", "status", "error", "field"),
    [
        ({"cron": "61 * * * *"}, 400, "invalid_cron", "cron"),
        ({"cron": "* * * *"}, 400, "invalid_cron", "cron"),
        ({"timezone": "Mars/Base"}, 400, "invalid_timezone", "timezone"),
        ({"name": "../x"}, 400, "invalid_name", "name"),
        ({"tag": "bad tag"}, 400, "invalid_tag", "tag"),
        ({"units": []}, 400, "invalid_units", "units"),
        ({"timezone": "localtime"}, 400, "invalid_timezone", "timezone"),
        ({"action": "../x.yml"}, 400, "invalid_action", "action"),
        ({"units": ["db", "nothere"]}, 404, "playbook_not_found", "nothere"),
        ({"retries": 11}, 400, "invalid_parameter", "retries"),
        ({"extravars": {"redrunner_unit": "x"}}, 400, "reserved_extravar", "extravars"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_stored(
    app_server: InProcessServer, fields: dict[str, Any], status: int, error: str, field: str
) -> None:
    resp = app_server.post("schedules", {**NIGHTLY, **fields})
    assert (resp.status, resp.json()["error"], resp.json().get("field")) == (status, error, field), resp.body
    assert app_server.get("schedules").json()["items"] == []


def test_names_are_unique_and_unknown_names_are_404(app_server: InProcessServer) -> None:
    create(app_server)
    again = app_server.post("schedules", NIGHTLY)
    assert (again.status, again.json()["error"]) == (409, "schedule_exists")
    for method, path in (("GET", "schedules/none"), ("DELETE", "schedules/none"), ("POST", "schedules/none/run")):
        resp = app_server.request(method, path, {} if method == "POST" else None)
        assert (resp.status, resp.json()["error"]) == (404, "schedule_not_found")
    resp = app_server.request("PATCH", "schedules/none", {"enabled": False})
    assert (resp.status, resp.json()["error"]) == (404, "schedule_not_found")


def test_patch_changes_any_field_but_the_name(app_server: InProcessServer) -> None:
    create(app_server)
    off = app_server.request("PATCH", "schedules/nightly", {"enabled": False}).json()
    assert (off["enabled"], off["next_run_at"]) == (False, None)
    on = app_server.request("PATCH", "schedules/nightly", {"enabled": True, "cron": "15 3 * * *"}).json()
    assert on["enabled"] is True and on["next_run_at"][11:16] == "03:15" and on["cron"] == "15 3 * * *"
    renamed = app_server.request("PATCH", "schedules/nightly", {"name": "other"})
    assert (renamed.status, renamed.json()["field"]) == (400, "name")
    bad = app_server.request("PATCH", "schedules/nightly", {"cron": "nope"})
    assert (bad.status, bad.json()["error"]) == (400, "invalid_cron")
    assert app_server.get("schedules/nightly").json()["cron"] == "15 3 * * *"
    assert app_server.delete("schedules/nightly").status == 204
    assert app_server.get("schedules/nightly").status == 404


def test_run_now_creates_the_job_and_starts_the_action_on_every_unit(app_server: InProcessServer) -> None:
    create(app_server, extravars={"hello_sleep": 0}, retries=2, check=True)
    resp = app_server.post("schedules/nightly/run")
    assert resp.status == 201, resp.body
    job = resp.json()
    assert resp.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["tag"], job["schedule"], [u["name"] for u in job["units"]]) == ("backup", "nightly", ["db", "web"])
    ops = [u["latest_operation"] for u in job["units"]]
    assert [op["action"] for op in ops] == ["hello-db.yml", "hello-web.yml"]
    assert all((op["retries"], op["check"], op["extravars"]) == (2, True, {"hello_sleep": 0}) for op in ops)
    assert all(app_server.wait_terminal(op["id"])["status"] == "successful" for op in ops)
    schedule = app_server.get("schedules/nightly").json()
    assert schedule["last_job_id"] == job["id"] and schedule["last_run_at"] is not None
    # A Job created by hand has no schedule.
    assert app_server.post("jobs", {"tag": "x"}).json()["schedule"] is None


@pytest.mark.slow
def test_an_every_minute_schedule_fires_once_per_minute_by_itself(server: RunningServer) -> None:
    made = create(server, name="minutely", cron="* * * * *", extravars={"hello_sleep": 0}, units=["db"])
    fire_at = datetime.fromisoformat(made["next_run_at"].replace("Z", "+00:00")).timestamp()
    job = wait_until(lambda: jobs_of(server, "minutely"), timeout=90, interval=0.5, what="the first firing")[0]
    op_id = job["units"][0]["operations"][0]
    op = server.wait_terminal(op_id)
    assert op["status"] == "successful"
    created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00")).timestamp()
    assert created >= fire_at  # not early
    schedule = server.get("schedules/minutely").json()
    assert schedule["last_job_id"] == job["id"]
    assert schedule["last_run_at"] == made["next_run_at"]
    assert schedule["next_run_at"] > made["next_run_at"]
    # Until the next minute comes, that fire time never runs again.
    if time.time() < fire_at + 55:
        assert len(jobs_of(server, "minutely")) == 1


def _set_next_run(srv: ServerClient, name: str, ts: float) -> None:
    path = srv.database[len("sqlite:///") :]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schedule SET next_run_at = ? WHERE name = ?", (ts, name))


@pytest.mark.slow
def test_at_start_a_recent_missed_fire_time_runs_once_and_an_old_one_is_skipped(
    server_factory: Callable[..., RunningServer],
) -> None:
    first = server_factory(name="before")
    now = time.time()
    recent = datetime.fromtimestamp(now - 600, UTC)  # ten minutes ago, within the hour of catch-up
    old = datetime.fromtimestamp(now - 7200, UTC)  # two hours ago
    for name, when in (("recent", recent), ("old", old)):
        create(first, name=name, cron=f"{when.minute} {when.hour} * * *", units=["db"], extravars={"hello_sleep": 0})
    first.stop()
    # As if no server had run since before those fire times.
    _set_next_run(first, "recent", recent.replace(second=0, microsecond=0).timestamp())
    _set_next_run(first, "old", old.replace(second=0, microsecond=0).timestamp())
    srv = server_factory(name="after", state_dir=first.state_dir, database=first.database)
    job = wait_until(lambda: jobs_of(srv, "recent"), timeout=30, interval=0.2, what="the catch-up firing")[0]
    assert srv.wait_terminal(job["units"][0]["operations"][0])["status"] == "successful"
    skipped = wait_until(
        lambda: (s := srv.get("schedules/old").json())["next_run_at"] > s["created_at"] and s,
        timeout=10,
        what="the old fire time moved on",
    )
    assert skipped["last_job_id"] is None and jobs_of(srv, "old") == []
    assert len(jobs_of(srv, "recent")) == 1
    assert srv.get("schedules/recent").json()["next_run_at"] > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
