"""Home: every Job, newest first, live from `/stream`, with a filter on names and statuses (console.job_filter)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input, Static

from console.client import ApiError, JobFrame, JobsSnapshotFrame, Unavailable
from console.messages import JobsSnapshot, JobUpdated
from console.screens.base import ConsoleScreen
from console.screens.dialogs import CreateJobScreen
from console.widgets.connection import ConnectionBar
from console.widgets.footer import FitFooter
from console.widgets.jobs_table import JobsTable

# How often the `created` ages are recomputed (they read in seconds under a minute).
AGE_REFRESH = 1.0


class HomeScreen(ConsoleScreen):
    AUTO_FOCUS = "#jobs"
    BINDINGS = [
        Binding("enter", "open_job", "Open", id="home.open", tooltip="Open the selected Job"),
        Binding("n", "new_job", "New job", id="home.new_job", tooltip="Create a Job with a tag and units"),
        Binding(
            "slash,f",
            "filter",
            "Filter",
            id="home.filter",
            tooltip="Show only Jobs whose tag, unit or schedule contains text, or with a status (failed, running...)",
        ),
        Binding("escape", "clear_filter", "Clear filter", id="home.clear_filter", tooltip="Show every Job again"),
        Binding("r", "reload", "Reload", id="home.reload", tooltip="Reconnect and reload the Job list"),
        # The app's `s` and `b` work everywhere; on the Job list they are also shown in the footer.
        Binding("s", "app.open_schedules", "Schedules", id="home.schedules", tooltip="Schedules: next runs, run now"),
        Binding(
            "b",
            "app.open_backups",
            "Backups",
            id="home.backups",
            tooltip="Backups: each component's newest, its age, when last verified",
        ),
    ]

    def __init__(self, tag: str | None = None) -> None:
        super().__init__()
        self.tag = tag or None  # `--tag`: the server sends only these Jobs

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield Input(
            placeholder="filter: part of a tag, unit or schedule name, or a status (enter: keep, escape: clear)",
            id="filter",
        )
        yield Static("", id="filter-status")
        yield JobsTable(id="jobs")
        yield FitFooter()

    def on_mount(self) -> None:
        self.title = "RedRunner"
        self.sub_title = f"Jobs tagged {self.tag}" if self.tag else "Jobs"
        self.filter_input.display = False
        self.jobs_table.focus()
        self._show_filter_status()
        self.set_interval(AGE_REFRESH, self._refresh_ages)
        self._follow()

    def _refresh_ages(self) -> None:
        self.jobs_table.refresh_ages(self.console_app.now())

    @work(exclusive=True, group="home-stream", exit_on_error=False)
    async def _follow(self) -> None:
        try:
            async for frame in self.source.follow_jobs(self.report_state, tag=self.tag):
                if isinstance(frame, JobsSnapshotFrame):
                    self.post_message(JobsSnapshot(frame.jobs))
                elif isinstance(frame, JobFrame):
                    self.post_message(JobUpdated(frame.job))
        except (ApiError, Unavailable) as exc:
            self.report_error("Job list", exc)

    @on(JobsSnapshot)
    def _snapshot(self, event: JobsSnapshot) -> None:
        self.jobs_table.set_jobs(event.jobs, self.console_app.now())
        self._show_filter_status()

    @on(JobUpdated)
    def _updated(self, event: JobUpdated) -> None:
        if self.tag and event.job.tag != self.tag:
            return
        self.jobs_table.upsert(event.job, self.console_app.now())
        self._show_filter_status()

    @property
    def jobs_table(self) -> JobsTable:
        return self.query_one(JobsTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @on(DataTable.RowSelected, "#jobs")
    def action_open_job(self) -> None:
        job_id = self.jobs_table.selected_job_id
        if job_id is not None:
            self.console_app.open_job(job_id)

    # -- the filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        # Focus moves now, not on the next loop turn: keys typed right after `/` are the filter's
        # text, never shortcuts (`/nightly` must not open the New Job dialog on its `n`).
        box = self.filter_input
        box.display = True
        self.set_focus(box)

    def text_sink(self) -> Input | None:
        box = self.filter_input
        return box if box.display and self.focused is box else None

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.jobs_table.set_filter(event.value, self.console_app.now())
        self._show_filter_status()

    @on(Input.Submitted, "#filter")
    def _filter_kept(self) -> None:
        self._close_filter()

    def action_clear_filter(self) -> None:
        self.filter_input.value = ""
        self.jobs_table.set_filter("", self.console_app.now())
        self._show_filter_status()
        self._close_filter()

    def _close_filter(self) -> None:
        self.filter_input.display = False
        self.set_focus(self.jobs_table)

    def _show_filter_status(self) -> None:
        table = self.jobs_table
        text = table.filter_text
        status = self.query_one("#filter-status", Static)
        status.display = bool(text)
        if not text:
            return
        shown, total = len(table.visible_ids), len(table.jobs)
        if shown:
            status.update(f"filter '{text}': {shown} of {total} Jobs  (/ to change, escape to clear)")
        else:
            status.update(
                f"no Jobs match '{text}' (of {total}; tags, unit and schedule names and statuses are searched)"
                "  escape: clear"
            )
        status.set_class(not shown, "-empty")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.jobs_table.filter_text) or self.filter_input.display
        return super().check_action(action, parameters)

    def action_reload(self) -> None:
        self._follow()

    def action_new_job(self) -> None:
        def created(answer: tuple[str, list[str]] | None) -> None:
            if answer is not None:
                self._create(*answer)

        self.app.push_screen(CreateJobScreen(), created)

    @work(exclusive=True, group="home-create", exit_on_error=False)
    async def _create(self, tag: str, units: list[str]) -> None:
        try:
            job = await self.source.create_job(tag, units)
        except (ApiError, Unavailable) as exc:
            self.report_error("New job", exc)
            return
        self.notify(f"Job {job.id} created ({tag})", timeout=3)
        self.console_app.open_job(job.id)
