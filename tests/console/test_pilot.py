"""Navigation and every action, driven through Pilot against a real server running real playbooks."""

from __future__ import annotations

import time
from typing import Any

import pytest

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.dialogs import ActionScreen, ConfirmScreen, CreateJobScreen
from console.screens.home import HomeScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.widgets.connection import ConnectionBar
from console.widgets.jobs_table import JobsTable
from console.widgets.log_view import LogLines
from console.widgets.units_table import UnitsTable
from tests.support.inprocess import InProcessServer
from tests.support.pilot import SIZE, until
from tests.support.server import ServerClient

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def unit_status(app: RedRunnerApp, name: str) -> str:
    table = app.screen.query_one(UnitsTable)
    return str(table.get_cell(name, "status"))


def make_job(srv: ServerClient, tag: str, units: list[str]) -> int:
    response = srv.post("jobs", {"tag": tag, "units": units})
    assert response.status == 201, response.body
    return int(response.json()["id"])


def start(srv: ServerClient, job_id: int, unit: str, action: str) -> int:
    response = srv.post(f"jobs/{job_id}/units/{unit}", {"action": action})
    assert response.status == 202, response.body
    return int(response.json()["id"])


def operations(srv: ServerClient, job_id: int) -> list[dict[str, Any]]:
    return list(srv.get(f"operations?job_id={job_id}").json()["items"])


def app_for(srv: ServerClient, **kwargs: Any) -> RedRunnerApp:
    return RedRunnerApp(RedRunnerClient(srv.url), **kwargs)


async def test_job_screen_follows_a_run(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "nightly", ["db", "web"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == 2,
        )
        assert app.screen.title == f"Job {job_id} · nightly"
        assert unit_status(app, "db") == "idle"
        assert "live" in str(app.screen.query_one(ConnectionBar).render())

        op_id = start(srv, job_id, "db", "backup-db.yml")
        await until(pilot, lambda: unit_status(app, "db") == "running", 10, "db running")
        await until(pilot, lambda: srv.get(f"operations/{op_id}").json()["status"] == "successful", 60)
        seen_terminal = time.monotonic()
        await until(pilot, lambda: unit_status(app, "db") == "successful", 5, "db successful")
        assert time.monotonic() - seen_terminal < 1.0, "the Job screen lagged the API by more than 1 s"
        assert unit_status(app, "web") == "idle"
        table = app.screen.query_one(UnitsTable)
        assert str(table.get_cell("db", "action")) == "backup-db.yml"
        assert str(table.get_cell("db", "ok")) == str(srv.get(f"operations/{op_id}").json()["stats"]["ok"])


async def test_navigate_home_job_log_and_back(project_server: InProcessServer) -> None:
    srv = project_server
    other = make_job(srv, "other", ["db"])
    job_id = make_job(srv, "navigate", ["db"])
    op_id = start(srv, job_id, "db", "backup-db.yml")
    srv.wait_terminal(op_id)
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        jobs = await until(
            pilot, lambda: app.screen.query_one(JobsTable).row_count == 2 and app.screen.query_one(JobsTable)
        )
        assert jobs.selected_job_id == job_id  # newest first

        await pilot.press("slash", *"navigate", "enter")
        await until(pilot, lambda: app.screen.query_one(JobsTable).visible_ids == [job_id], what="filter")
        assert other not in app.screen.query_one(JobsTable).visible_ids

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OperationScreen), what="log screen")
        lines = app.screen.query_one(LogLines)
        await until(
            pilot,
            lambda: isinstance(app.screen, OperationScreen) and app.screen.connection.phase == "closed",
            what="log stream end",
        )
        text = [lines.store.line(i) for i in range(len(lines.store))]
        assert any(line.startswith("TASK [Dump the database]") for line in text)
        assert any(line.startswith("PLAY RECAP") for line in text)
        assert len(text) == len(srv.get(f"operations/{op_id}/stdout").body.decode().rstrip("\n").split("\n"))

        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_start_action_on_a_unit_from_the_picker(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "pick", ["db", "web"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == 2,
        )
        await pilot.press("a")  # cursor on db, the first row
        picker = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        assert [choice for choice, _ in picker.choices] == [
            "backup-db.yml",
            "chatty-db.yml",
            "restore-db.yml",
            "slow-db.yml",
        ]
        await pilot.press("enter")  # the first: backup-db.yml
        ops = await until(pilot, lambda: operations(srv, job_id), what="operation created")
        assert [(op["unit"], op["action"]) for op in ops] == [("db", "backup-db.yml")]
        await until(pilot, lambda: unit_status(app, "db") in ("running", "successful"), 10)


async def test_start_the_same_action_on_every_unit(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "each", ["db", "web"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == 2,
        )
        await pilot.press("e")
        picker = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        assert picker.choices[0][0] == "backup"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked first")
        await pilot.press("y")
        ops = await until(pilot, lambda: len(operations(srv, job_id)) == 2 and operations(srv, job_id))
        assert sorted((op["unit"], op["action"]) for op in ops) == [
            ("db", "backup-db.yml"),
            ("web", "backup-web.yml"),
        ]
        await until(pilot, lambda: {unit_status(app, "db"), unit_status(app, "web")} == {"successful"}, 60)


async def test_cancel_asks_then_cancels(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "cancel", ["db"])
    op_id = start(srv, job_id, "db", "slow-db.yml")
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and unit_status(app, "db") == "running", 20)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: still running
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        assert srv.get(f"operations/{op_id}").json()["status"] == "running"
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: unit_status(app, "db") == "canceled", 10, "canceled shown")
        assert srv.get(f"operations/{op_id}").json()["status"] == "canceled"


async def test_create_job_then_open_it(project_server: InProcessServer) -> None:
    srv = project_server
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.connection.phase == "connected")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateJobScreen))
        await pilot.press(*"release", "enter", *"db, web", "enter")
        screen = await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen)
        jobs = srv.get("jobs?tag=release").json()["items"]
        assert len(jobs) == 1 and screen.job_id == jobs[0]["id"]
        assert sorted(u["name"] for u in jobs[0]["units"]) == ["db", "web"]
        await until(pilot, lambda: app.screen.query_one(UnitsTable).row_count == 2)


async def test_command_palette_runs_screen_actions(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "palette", ["db", "web"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == 2,
        )
        await pilot.press("ctrl+p")
        await pilot.press(*"each")
        await pilot.pause(0.3)
        await pilot.press("enter")
        picker = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen, what="each picker")
        assert picker.title_text == "Run on every Unit"


async def test_home_screen_is_live(project_server: InProcessServer) -> None:
    srv = project_server
    app = app_for(srv, tag="live")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.connection.phase == "connected")
        job_id = make_job(srv, "live", ["db"])
        make_job(srv, "not-this-tag", ["db"])
        table = app.screen.query_one(JobsTable)
        await until(pilot, lambda: job_id in table.jobs, 5, "new job listed")
        start(srv, job_id, "db", "backup-db.yml")
        await until(pilot, lambda: table.jobs[job_id].status == "running", 10, "running")
        assert list(table.jobs) == [job_id]
