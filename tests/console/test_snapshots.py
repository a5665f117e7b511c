"""Snapshots of the home, Job and log screens at 120x40 on fixed data and a fixed `now`."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Input, Label

from console.app import RedRunnerApp
from console.loglines import lines_of
from console.screens.dialogs import ActionScreen, AddUnitScreen, ConfirmScreen
from console.screens.history import HistoryScreen
from console.widgets.jobs_table import JobsTable
from console.widgets.log_view import LogLines
from console.widgets.units_table import UnitsTable
from tests.console.fixed import FixedSource, fixed_now, output_events

SIZE = (120, 40)
LINES = len(lines_of(output_events()))


def make_app(**kwargs: Any) -> RedRunnerApp:
    return RedRunnerApp(FixedSource(), now=fixed_now, **kwargs)


async def settle(pilot: Pilot[Any], ready: Any) -> None:
    """Pause until `ready()` holds (the fixed stream has been applied)."""
    for _ in range(200):
        await pilot.pause()
        if ready():
            break
    else:
        raise AssertionError("screen never got its data")
    await pilot.pause()


class TestHomeScreen:
    def test_jobs_newest_first(self, snap_compare: Any) -> None:
        app = make_app()

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot, lambda: app.screen.query_one(JobsTable).row_count == 4)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestFilter:
    def test_no_jobs_match_names_the_filter(self, snap_compare: Any) -> None:
        app = make_app()

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot, lambda: app.screen.query_one(JobsTable).row_count == 4)
            await pilot.press("slash", *"nightly")
            await settle(pilot, lambda: app.screen.query_one(JobsTable).row_count == 0)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_a_unit_name_matches(self, snap_compare: Any) -> None:
        app = make_app()

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot, lambda: app.screen.query_one(JobsTable).row_count == 4)
            await pilot.press("slash", *"que", "enter")
            await settle(pilot, lambda: app.screen.query_one(JobsTable).row_count == 1)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestPalette:
    def test_job_screen_offers_its_actions_and_operations(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot, lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count
            )
            await pilot.press("ctrl+p", *"open")
            await settle(pilot, lambda: app.screen.query_one(CommandList).option_count >= 9)
            app.screen.query_one(Input).cursor_blink = False  # the palette's own box blinks

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestAddUnit:
    def test_dialog_rejects_a_bad_name(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot, lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count
            )
            await pilot.press("u")
            await settle(pilot, lambda: isinstance(app.screen, AddUnitScreen) and app.focused is not None)
            await pilot.press(*"no/slash", "enter")
            await settle(pilot, lambda: str(app.screen.query_one("#add-unit-error", Label).content))
            app.screen.query_one("#unit-name", Input).cursor_blink = False

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestUnitDetail:
    def test_a_failed_unit_shows_its_task_and_message_from_history(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            def ready() -> bool:
                table = app.screen.query(UnitsTable)
                return bool(table) and str(table.first().get_cell("queue", "task")) == "Upload the dump"

            await settle(pilot, ready)
            await pilot.press("down", "down")
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_history_lists_operations_newest_first(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot, lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count
            )
            await pilot.press("down", "h")
            await settle(pilot, lambda: isinstance(app.screen, HistoryScreen) and bool(app.screen.ids))

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestActionDialog:
    def test_extravars_are_checked_before_sending(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot, lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count
            )
            await pilot.press("a")
            await settle(pilot, lambda: isinstance(app.screen, ActionScreen))
            await pilot.press("tab", *'{"files_path": ', "enter")
            await settle(pilot, lambda: isinstance(app.screen, ActionScreen) and bool(app.screen.error_text))
            app.screen.query_one("#extravars", Input).cursor_blink = False

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestJobScreen:
    def test_units_with_status_progress_and_eta(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            def ready() -> bool:
                table = app.screen.query(UnitsTable)
                return bool(table) and table.first().row_count == 6 and "~" in str(table.first().get_row("db"))

            await settle(pilot, ready)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestLogScreen:
    def test_failed_run_output(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot,
                lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count,
            )
            app.open_operation(341)
            await settle(
                pilot,
                lambda: bool(app.screen.query(LogLines)) and len(app.screen.query_one(LogLines).store) == LINES,
            )

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_search_highlights_match(self, snap_compare: Any) -> None:
        app = make_app()

        async def run_before(pilot: Pilot[Any]) -> None:
            app.open_operation(341)
            await settle(
                pilot,
                lambda: bool(app.screen.query(LogLines)) and len(app.screen.query_one(LogLines).store) == LINES,
            )
            await pilot.press("slash", *"dump", "enter")
            await settle(pilot, lambda: app.screen.query_one(LogLines).match_line is not None)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class TestFitted:
    """#26: at 200 columns whole names; at 80x24 every footer key and a wrapped rerun question."""

    def test_job_screen_at_200_columns(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            def ready() -> bool:
                table = app.screen.query(UnitsTable)
                return bool(table) and str(table.first().get_cell("queue", "task")) == "Upload the dump"

            await settle(pilot, ready)

        assert snap_compare(app, terminal_size=(200, 30), run_before=run_before)

    def test_rerun_question_at_80x24(self, snap_compare: Any) -> None:
        app = make_app(job_id=12)

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(
                pilot, lambda: bool(app.screen.query(UnitsTable)) and app.screen.query_one(UnitsTable).row_count == 6
            )
            await pilot.press("r")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
