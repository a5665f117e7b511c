"""What an operator at 3 a.m. relies on (#19), through Pilot against a real server: the filter,
focus after dialogs, the palette on every screen, adding a Unit."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.screens.dialogs import AddUnitScreen, CreateJobScreen
from console.screens.home import HomeScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.widgets.units_table import UnitsTable
from tests.console.test_pilot import app_for, make_job, start
from tests.support.inprocess import InProcessServer
from tests.support.pilot import SIZE, until

pytestmark = pytest.mark.anyio


def type_at_once(app: App[Any], keys: list[str]) -> None:
    """Queue every key before the app handles the first, as a fast typist's burst arrives."""
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app.post_message(event)


async def home(app: Any, pilot: Pilot[Any], rows: int) -> HomeScreen:
    screen = await until(
        pilot,
        lambda: isinstance(app.screen, HomeScreen) and app.screen.jobs_table.row_count == rows and app.screen,
        what=f"{rows} jobs listed",
    )
    assert isinstance(screen, HomeScreen)
    return screen


@pytest.mark.slow
async def test_filter_matches_parts_of_tags_and_unit_names(project_server: InProcessServer) -> None:
    srv = project_server
    nightly = make_job(srv, "nightly", ["db"])
    weekly = make_job(srv, "weekly", ["web", "cache"])
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        screen = await home(app, pilot, 2)
        type_at_once(app, ["slash", *"night"])  # `n` right after `/` is text, not "New job"
        await until(pilot, lambda: screen.filter_input.value == "night", what="typed into the filter")
        assert not isinstance(app.screen, CreateJobScreen)
        await until(pilot, lambda: screen.jobs_table.visible_ids == [nightly])
        status = screen.query_one("#filter-status", Static)
        assert "1 of 2 Jobs" in str(status.render())

        await pilot.press("enter")  # keep the filter, back to the table
        assert screen.focused is screen.jobs_table and not screen.filter_input.display
        await pilot.press("slash", "ctrl+u", *"CACH")  # a unit's name, in any case
        await until(pilot, lambda: screen.jobs_table.visible_ids == [weekly])

        await pilot.press("ctrl+u", *"zzz")
        await until(pilot, lambda: screen.jobs_table.visible_ids == [])
        assert "no Jobs match 'zzz'" in str(status.render())

        await pilot.press("escape")  # clears and closes
        await until(pilot, lambda: screen.jobs_table.visible_ids == [weekly, nightly])
        assert not status.display and screen.focused is screen.jobs_table


async def test_focus_returns_where_it_was_after_a_dialog(project_server: InProcessServer) -> None:
    srv = project_server
    make_job(srv, "focus", ["db"])
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        screen = await home(app, pilot, 1)
        await pilot.press("slash", *"foc", "enter")
        assert screen.focused is screen.jobs_table
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateJobScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause()
        assert screen.focused is screen.jobs_table
        await pilot.press("slash")  # opens the filter again: not typed into a box that kept focus
        # app.focused (the screen's): `screen.focused` stays narrowed to the table above for mypy.
        assert app.focused is screen.filter_input and screen.filter_input.value == "foc"


@pytest.mark.slow
async def test_palette_opens_jobs_and_operations_by_id_from_any_screen(project_server: InProcessServer) -> None:
    srv = project_server
    first = make_job(srv, "first", ["db"])
    second = make_job(srv, "second", ["db"])
    op_id = start(srv, first, "db", "backup-db.yml")
    srv.wait_terminal(op_id)
    app = app_for(srv, job_id=second)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id == second)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*f"job {first}")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id == first, what="job")

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*f"operation {op_id}")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.op_id == op_id)

        # The log screen's own actions are in the palette too (the focused log's "Find").
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"find")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.focused)
        assert isinstance(app.screen.focused, Input) and app.screen.focused.id == "find"


async def test_add_a_unit_from_the_job_screen(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "grow", ["db"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count)
        await pilot.press("u")
        dialog = await until(pilot, lambda: isinstance(app.screen, AddUnitScreen) and app.screen)
        await pilot.press(*"bad name", "enter")
        assert "not a unit name" in str(dialog.query_one("#add-unit-error", Static).render())
        await pilot.press(*(["backspace"] * 8), *"cache", "enter")
        await until(
            pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == 2
        )
        names = sorted(u["name"] for u in srv.get(f"jobs/{job_id}").json()["units"])
        assert names == ["cache", "db"]
        assert str(app.screen.query_one(UnitsTable).get_cell("cache", "status")) == "idle"
