"""Schedules: each cron in words, its next run, its last Job and that Job's status; enable, disable, run now.

Schedules change rarely and have no stream, so the list is re-read every few seconds while shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header

from console.client import ApiError, ConnectionState, Job, Schedule, Unavailable
from console.present import status_text
from console.screens.base import ConsoleScreen
from console.screens.dialogs import ConfirmScreen
from console.timefmt import parse_ts, relative
from console.widgets.connection import ConnectionBar
from console.widgets.footer import FitFooter

REFRESH_PERIOD = 5.0


class ScheduleSource(Protocol):
    """What this screen needs besides the Source protocol (RedRunnerClient has it)."""

    async def list_schedules(self) -> list[Schedule]: ...
    async def set_schedule_enabled(self, name: str, enabled: bool) -> Schedule: ...
    async def run_schedule(self, name: str) -> Job: ...


def until(value: str | None, now: datetime) -> str:
    """`in 42s`, `in 5m`, `in 3h`, `in 2d`; `—` when there is no next run."""
    moment = parse_ts(value)
    if moment is None:
        return "—"
    seconds = (moment - now).total_seconds()
    if seconds < 0:
        return relative(value, now)
    if seconds < 60:
        return f"in {int(seconds)}s"
    if seconds < 3600:
        return f"in {int(seconds // 60)}m"
    if seconds < 86400:
        return f"in {int(seconds // 3600)}h"
    return f"in {int(seconds // 86400)}d"


class SchedulesTable(DataTable[str | Text]):
    COLUMNS = (("name", 18), ("when", 34), ("next run", 10), ("last job", 9), ("status", 11), ("enabled", 8))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.schedules: dict[str, Schedule] = {}

    def on_mount(self) -> None:
        for label, width in self.COLUMNS:
            self.add_column(label, width=width, key=label)

    def set_schedules(self, schedules: list[Schedule], now: datetime) -> None:
        selected = self.selected_name
        self.schedules = {s.name: s for s in schedules}
        self.clear()
        for s in sorted(schedules, key=lambda s: s.name):
            when = s.description or s.cron
            if s.timezone != "UTC":
                when += f" ({s.timezone})"
            last = s.last_job_id
            self.add_row(
                s.name,
                when,
                until(s.next_run_at, now) if s.enabled else "—",
                Text(str(last) if last is not None else "—", justify="right"),
                status_text(s.last_job_status) if s.last_job_status else Text("—"),
                Text("yes", style="green") if s.enabled else Text("no", style="dim"),
                key=s.name,
            )
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    @property
    def selected_name(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @property
    def selected(self) -> Schedule | None:
        name = self.selected_name
        return self.schedules.get(name) if name is not None else None


class SchedulesScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="schedules.back", tooltip="Back to the previous screen"),
        Binding("enter", "open_last_job", "Last job", id="schedules.open", tooltip="Open the schedule's last Job"),
        Binding("space,e", "toggle_enabled", "Enable/disable", id="schedules.toggle", tooltip="Enable or disable it"),
        Binding("n", "run_now", "Run now", id="schedules.run", tooltip="Fire the schedule now: a new Job"),
        Binding("r", "reload", "Reload", id="schedules.reload", tooltip="Read the schedules again"),
    ]

    @property
    def schedules_source(self) -> ScheduleSource:
        return cast(ScheduleSource, self.source)

    @property
    def table(self) -> SchedulesTable:
        return self.query_one(SchedulesTable)

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield SchedulesTable(id="schedules")
        yield FitFooter()

    def on_mount(self) -> None:
        self.title = "RedRunner"
        self.sub_title = "Schedules"
        self.table.focus()
        self.set_interval(REFRESH_PERIOD, self.action_reload)
        self.action_reload()

    @work(exclusive=True, group="schedules-load", exit_on_error=False)
    async def action_reload(self) -> None:
        try:
            schedules = await self.schedules_source.list_schedules()
        except Unavailable as exc:
            # No stream here: the bar says what the last read found, as a stream's bar does.
            self.report_state(ConnectionState("reconnecting", detail=str(exc), retry_in=REFRESH_PERIOD, attempt=1))
            self.report_error("Schedules", exc)
            return
        except ApiError as exc:
            self.report_error("Schedules", exc)
            return
        self.report_state(ConnectionState("connected", detail=f"read every {REFRESH_PERIOD:.0f}s"))
        self.table.set_schedules(schedules, self.console_app.now())

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#schedules")
    def action_open_last_job(self) -> None:
        schedule = self.table.selected
        if schedule is not None and schedule.last_job_id is not None:
            self.console_app.open_job(schedule.last_job_id)

    @work(group="schedules-change", exit_on_error=False)
    async def action_toggle_enabled(self) -> None:
        schedule = self.table.selected
        if schedule is None:
            return
        try:
            await self.schedules_source.set_schedule_enabled(schedule.name, not schedule.enabled)
        except (ApiError, Unavailable) as exc:
            self.report_error(f"Schedule {schedule.name}", exc)
            return
        self.action_reload()

    def action_run_now(self) -> None:
        schedule = self.table.selected
        if schedule is None:
            return
        name = schedule.name

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(name)

        self.app.push_screen(ConfirmScreen(f"Run schedule {name} now (a new Job)?"), answered)

    @work(group="schedules-change", exit_on_error=False)
    async def _run(self, name: str) -> None:
        try:
            job = await self.schedules_source.run_schedule(name)
        except (ApiError, Unavailable) as exc:
            self.report_error(f"Run {name}", exc)
            return
        self.notify(f"Schedule {name}: Job {job.id} started", timeout=3)
        self.action_reload()
        self.console_app.open_job(job.id)
