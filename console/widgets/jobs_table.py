"""The home screen's Job list: newest first, one row per Job."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console.client import Job
from console.job_filter import job_matches
from console.present import sort_jobs, status_text, units_summary
from console.timefmt import relative
from console.widgets.fit import fit_columns, text_width

__all__ = ["JobsTable", "job_matches"]


class JobsTable(DataTable[str | Text]):
    COLUMNS = (("tag", 24), ("id", 6), ("created", 10), ("status", 11), ("units", 48))
    # Sized to their content and the terminal (console.widgets.fit); the others keep their width.
    FLEXIBLE = ("tag", "units")
    # DataTable's own home/end scroll sideways; in a list of rows they move the cursor.
    BINDINGS = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.jobs: dict[int, Job] = {}
        self.filter_text = ""
        self.visible_ids: list[int] = []
        self._ages: dict[int, str] = {}
        self._wanted: dict[str, int] = {key: len(key) for key in self.FLEXIBLE}

    def on_mount(self) -> None:
        for label, width in self.COLUMNS:
            self.add_column(label, width=width, key=label)

    def set_jobs(self, jobs: list[Job], now: datetime) -> None:
        self.jobs = {job.id: job for job in jobs}
        self._redraw(now)

    def set_filter(self, text: str, now: datetime) -> None:
        self.filter_text = text.strip()
        self._redraw(now)

    def upsert(self, job: Job, now: datetime) -> None:
        self.jobs[job.id] = job
        self._redraw(now)

    def _redraw(self, now: datetime) -> None:
        selected = self.selected_job_id
        self.clear()
        shown = [job for job in sort_jobs(list(self.jobs.values())) if job_matches(job, self.filter_text)]
        self.visible_ids = [job.id for job in shown]
        self._ages = {}
        wanted = {key: len(key) for key in self.FLEXIBLE}
        for job in shown:
            tag = job.tag + (f" ⏱ {job.schedule}" if job.schedule else "")
            units = units_summary(job.units)
            self._ages[job.id] = relative(job.created_at, now)
            self.add_row(
                tag,
                Text(str(job.id), justify="right"),
                self._ages[job.id],
                status_text(job.status),
                units,
                key=str(job.id),
            )
            wanted["tag"] = max(wanted["tag"], text_width(tag))
            wanted["units"] = max(wanted["units"], text_width(units))
        self._wanted = wanted
        self.fit()
        if selected is not None and str(selected) in self.rows:
            self.move_cursor(row=self.get_row_index(str(selected)), animate=False)

    def fit(self) -> None:
        fit_columns(self, self._wanted)

    def on_resize(self) -> None:
        self.fit()

    def refresh_ages(self, now: datetime) -> None:
        """`41s ago` keeps counting: only the age cells that read differently now are updated."""
        for job_id, shown in list(self._ages.items()):
            job = self.jobs.get(job_id)
            age = relative(job.created_at, now) if job else shown
            if age != shown and str(job_id) in self.rows:
                self._ages[job_id] = age
                self.update_cell(str(job_id), "created", age)

    @property
    def selected_job_id(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None
