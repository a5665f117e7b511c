"""Home: every Job, newest first, live from `/stream`, filterable by tag."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input

from console.client import ApiError, JobFrame, JobsSnapshotFrame, Unavailable
from console.messages import JobsSnapshot, JobUpdated
from console.screens.base import ConsoleScreen
from console.screens.dialogs import CreateJobScreen
from console.widgets.connection import ConnectionBar
from console.widgets.jobs_table import JobsTable


class HomeScreen(ConsoleScreen):
    BINDINGS = [
        Binding("enter", "open_job", "Open", id="home.open", tooltip="Open the selected Job"),
        Binding("n", "new_job", "New job", id="home.new_job", tooltip="Create a Job with a tag and units"),
        Binding("slash,f", "filter", "Filter", id="home.filter", tooltip="Filter the Jobs by tag"),
        Binding("r", "reload", "Reload", id="home.reload", tooltip="Reconnect and reload the Job list"),
    ]

    def __init__(self, tag: str | None = None) -> None:
        super().__init__()
        self.tag = tag or None

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield Input(value=self.tag or "", placeholder="filter by tag (enter to apply)", id="tag-filter")
        yield JobsTable(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "RedRunner"
        self.sub_title = f"Jobs tagged {self.tag}" if self.tag else "Jobs"
        self.query_one(JobsTable).focus()
        self._follow()

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
        self.query_one(JobsTable).set_jobs(event.jobs, self.console_app.now())

    @on(JobUpdated)
    def _updated(self, event: JobUpdated) -> None:
        if self.tag and event.job.tag != self.tag:
            return
        self.query_one(JobsTable).upsert(event.job, self.console_app.now())

    @property
    def jobs_table(self) -> JobsTable:
        return self.query_one(JobsTable)

    @on(DataTable.RowSelected, "#jobs")
    def action_open_job(self) -> None:
        job_id = self.jobs_table.selected_job_id
        if job_id is not None:
            self.console_app.open_job(job_id)

    def action_filter(self) -> None:
        self.query_one("#tag-filter", Input).focus()

    @on(Input.Submitted, "#tag-filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.tag = event.value.strip() or None
        self.sub_title = f"Jobs tagged {self.tag}" if self.tag else "Jobs"
        self.jobs_table.set_jobs([], self.console_app.now())
        self.jobs_table.focus()
        self._follow()

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
