"""The operator's night, second pass (#26), through Pilot against a real server: the status and
schedule filter, ages that keep counting, the Schedules screen's bar, columns at 200 columns and the
footer at 80, the failing task and the rerun question, log find, Home, and the New Job dialog typed fast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Input

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.dialogs import ConfirmScreen, CreateJobScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.screens.schedules import SchedulesScreen, SchedulesTable
from console.widgets.connection import ConnectionBar
from console.widgets.footer import FitFooter
from console.widgets.log_view import LogLines
from console.widgets.units_table import UnitsTable
from tests.console.test_operator import home, type_at_once
from tests.console.test_pilot import app_for, make_job, start
from tests.support.pilot import SIZE, until
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio


class Clock:
    """The app's injected clock, moved by the test."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.mark.slow
async def test_filter_finds_statuses_and_schedule_names_and_ages_keep_counting(project_server: RunningServer) -> None:
    srv = project_server
    failed = make_job(srv, "nightly", ["vault"])
    srv.wait_terminal(start(srv, failed, "vault", "rescued-vault.yml"))
    fresh = make_job(srv, "weekly", ["web"])
    body = {"name": "pg-dump", "cron": "0 2 * * *", "tag": "backup", "units": ["db"], "action": "backup-db.yml"}
    assert srv.post("schedules", body).status == 201
    scheduled = srv.post("schedules/pg-dump/run", {}).json()["id"]

    clock = Clock()
    app = RedRunnerApp(RedRunnerClient(srv.url), now=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await home(app, pilot, 3)
        table = screen.jobs_table
        await pilot.press("slash", *"failed")
        await until(pilot, lambda: failed in table.visible_ids and fresh not in table.visible_ids, what="failed Jobs")
        assert all(table.jobs[i].status == "failed" for i in table.visible_ids)
        await pilot.press("ctrl+u", *"pg-du")  # part of a schedule's name
        await until(pilot, lambda: table.visible_ids == [scheduled], what="the scheduled Job")
        await pilot.press("ctrl+u", *"idle")  # a Unit's status: the new Job's web has never run
        await until(pilot, lambda: table.visible_ids == [fresh], what="the Job with an idle Unit")
        await pilot.press("escape")
        await until(pilot, lambda: len(table.visible_ids) == 3)

        age = str(table.get_cell(str(fresh), "created"))
        clock.at += timedelta(seconds=100)
        await until(pilot, lambda: str(table.get_cell(str(fresh), "created")) != age, 5, "the age to move on")
        assert str(table.get_cell(str(fresh), "created")).startswith(("1m", "2m"))

        # Home moves the cursor to the first row, End to the last.
        await pilot.press("end")
        assert table.cursor_row == 2
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_schedules_bar_is_up_to_date_once_read(project_server: RunningServer) -> None:
    body = {"name": "nightly", "cron": "0 2 * * *", "tag": "backup", "units": ["db"], "action": "backup-db.yml"}
    assert project_server.post("schedules", body).status == 201
    app = app_for(project_server)
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot, 0)
        await pilot.press("s")
        screen = await until(
            pilot, lambda: isinstance(app.screen, SchedulesScreen) and app.screen.query_one(SchedulesTable).row_count
        )
        bar = app.screen.query_one(ConnectionBar)
        await until(pilot, lambda: "up to date" in str(bar.render()), 5, "the bar to say the data is there")
        assert "connecting" not in str(bar.render()) and screen


async def test_long_names_show_whole_at_200_columns_and_the_failed_task_and_rerun_question(
    project_server: RunningServer,
) -> None:
    srv = project_server
    job_id = make_job(srv, "restore-drill", ["vault"])
    srv.wait_terminal(start(srv, job_id, "vault", "rescued-vault.yml"))
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen)
        table = screen.query_one(UnitsTable)
        # The task a rescue caught, not the rescue's own "Fail with the reason".
        await until(pilot, lambda: str(table.get_cell("vault", "task")) == "Copy the files", what="the failing task")
        await pilot.pause(0.2)
        row = "".join(strip.text for strip in table.render_lines(table.region.reset_offset)[1:2])
        assert "rescued-vault.yml" in row and "Copy the files" in row  # not cut at a fixed width
        detail = str(screen.query_one("#unit-detail").render())
        assert "at task 'Copy the files'" in detail and "backup failed: Copy the files: disk full" in detail

        await pilot.press("r")
        dialog = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "rescued-vault.yml on vault (failed)" in dialog.question
        label = dialog.query_one(".dialog-title")
        assert label.size.height >= 1 and label.size.width <= dialog.query_one(".dialog").size.width
        await pilot.press("n")

        await until(pilot, lambda: app.screen is screen, what="back on the Job screen")
        await pilot.press("enter")  # the log's summary names the failing task too
        summary = await until(
            pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.query_one("#operation-summary")
        )
        await until(pilot, lambda: "failed at 'Copy the files'" in str(summary.render()), 10, "the failing task")
        assert "backup failed: Copy the files: disk full" in str(summary.render())


async def test_every_footer_key_shows_at_80_columns(project_server: RunningServer) -> None:
    job_id = make_job(project_server, "narrow", ["db"])
    app = app_for(project_server, job_id=job_id)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen)
        footer = screen.query_one(FitFooter)
        await pilot.pause(0.3)
        keys = list(footer.query("FooterKey"))
        assert keys and footer.compact
        assert max(key.region.right for key in keys) <= footer.region.right, "a key is cut at the right edge"

        await pilot.press("escape")  # the Job list shows `s` (Schedules) in its footer too, uncut
        home_screen = await home(app, pilot, 1)
        await pilot.pause(0.3)
        keys = list(home_screen.query_one(FitFooter).query("FooterKey"))
        assert "s" in [key.key for key in keys]
        assert max(key.region.right for key in keys) <= home_screen.query_one(FitFooter).region.right


@pytest.mark.slow
async def test_find_scrolls_to_a_match_off_screen(project_server: RunningServer) -> None:
    srv = project_server
    job_id = make_job(srv, "chatty", ["db", "vault"])
    response = srv.post(f"jobs/{job_id}/units/db", {"action": "chatty-db.yml", "extravars": {"count": 60}})
    op_id = int(response.json()["id"])
    srv.wait_terminal(op_id)
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        app.open_operation(op_id)
        lines = await until(
            pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.query_one(LogLines), what="the log"
        )
        await until(pilot, lambda: len(lines.store) > 150 and lines.scroll_y > 0, what="the log at its end")
        await pilot.press("slash", *"item 3", "enter")  # near the top, far above the view
        match = await until(pilot, lambda: lines.match_line, 10, "a match")
        assert '"item 3"' in lines.store.line(match)
        await until(pilot, lambda: lines.scroll_y <= match < lines.scroll_y + lines.size.height, 5, "match in view")

    # A match past the right edge of a long line scrolls sideways to it.
    wide = start(srv, job_id, "vault", "wide-vault.yml")
    srv.wait_terminal(wide)
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        app.open_operation(wide)
        lines = await until(
            pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.query_one(LogLines), what="the log"
        )
        await until(pilot, lambda: len(lines.store) > 5, what="the output")
        await pilot.press("slash", *"needle-at", "enter")
        await until(pilot, lambda: lines.match_line is not None, 10, "a match")
        await until(pilot, lambda: lines.scroll_x > 300, 5, "the view scrolled right to the match")


async def test_new_job_typed_fast_keeps_tag_and_units_apart(project_server: RunningServer) -> None:
    app = app_for(project_server)
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot, 0)
        await pilot.press("n")
        dialog = await until(
            pilot, lambda: isinstance(app.screen, CreateJobScreen) and app.screen.focused and app.screen
        )
        tag, units = dialog.query_one("#tag", Input), dialog.query_one("#units", Input)
        assert dialog.focused is tag
        type_at_once(app, [*"backup", "tab", *"files"])  # all queued before the first is handled
        await until(pilot, lambda: len(tag.value) + len(units.value) == len("backupfiles"), 5, "every key")
        assert (tag.value, units.value) == ("backup", "files")
        assert dialog.focused is units

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CreateJobScreen), what="the dialog closed")
        type_at_once(app, ["n", *"nightly", "tab", *"db"])  # queued before the dialog even exists
        dialog = await until(pilot, lambda: isinstance(app.screen, CreateJobScreen) and app.screen)
        tag, units = dialog.query_one("#tag", Input), dialog.query_one("#units", Input)
        await until(pilot, lambda: len(tag.value) + len(units.value) == len("nightlydb"), 5, "every key")
        assert (tag.value, units.value) == ("nightly", "db")
