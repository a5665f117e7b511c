"""The Schedules screen, through Pilot against a real server: reach it by key and palette, toggle, run now."""

from __future__ import annotations

import pytest

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.dialogs import ConfirmScreen
from console.screens.job import JobScreen
from console.screens.schedules import SchedulesScreen, SchedulesTable, until
from console.widgets.jobs_table import JobsTable
from tests.support.inprocess import InProcessServer
from tests.support.pilot import SIZE
from tests.support.pilot import until as wait

pytestmark = pytest.mark.anyio


def cell(app: RedRunnerApp, name: str, column: str) -> str:
    return str(app.screen.query_one(SchedulesTable).get_cell(name, column))


async def test_schedules_screen_shows_toggles_and_runs_a_schedule(project_server: InProcessServer) -> None:
    srv = project_server
    body = {"name": "nightly", "cron": "0 2 * * *", "tag": "backup", "units": ["db"], "action": "backup-db.yml"}
    assert srv.post("schedules", body).status == 201
    app = RedRunnerApp(RedRunnerClient(srv.url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait(
            pilot, lambda: isinstance(app.screen, SchedulesScreen) and app.screen.query_one(SchedulesTable).row_count
        )
        assert cell(app, "nightly", "when") == "At 02:00 every day"
        assert cell(app, "nightly", "next run").startswith("in ")
        assert (cell(app, "nightly", "last job"), cell(app, "nightly", "enabled")) == ("—", "yes")

        await pilot.press("e")
        await wait(pilot, lambda: cell(app, "nightly", "enabled") == "no", what="disabled")
        assert srv.get("schedules/nightly").json()["enabled"] is False
        assert cell(app, "nightly", "next run") == "—"
        await pilot.press("e")
        await wait(pilot, lambda: cell(app, "nightly", "enabled") == "yes", what="enabled again")

        await pilot.press("n")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        screen = await wait(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen, what="the new Job")
        job_id = screen.job_id
        await wait(pilot, lambda: "schedule nightly" in str(app.screen.title), what="the schedule in the title")
        assert srv.get(f"jobs/{job_id}").json()["schedule"] == "nightly"

        await pilot.press("escape")
        await wait(pilot, lambda: isinstance(app.screen, SchedulesScreen))
        await wait(pilot, lambda: cell(app, "nightly", "last job") == str(job_id), what="the last job")
        await pilot.press("escape")
        table = await wait(pilot, lambda: app.screen.query_one(JobsTable).row_count and app.screen.query_one(JobsTable))
        assert str(table.get_cell(str(job_id), "tag")) == "backup ⏱ nightly"


async def test_the_palette_opens_the_schedules_screen(project_server: InProcessServer) -> None:
    app = RedRunnerApp(RedRunnerClient(project_server.url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Schedules")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, SchedulesScreen), what="the schedules screen")


def test_next_run_reads_as_a_time_from_now() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert until("2026-05-01T12:00:30.000000Z", now) == "in 30s"
    assert until("2026-05-01T14:30:00.000000Z", now) == "in 2h"
    assert until("2026-05-03T12:00:00.000000Z", now) == "in 2d"
    assert until(None, now) == "—"
