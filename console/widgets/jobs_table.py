"""The home screen's Job list: newest first, one row per Job."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from console.client import Job
from console.present import sort_jobs, status_text, units_summary
from console.timefmt import relative


def job_matches(job: Job, text: str) -> bool:
    """Case-insensitive substring of the tag or of a unit's name (`night` finds `nightly`)."""
    needle = text.strip().casefold()
    return not needle or needle in job.tag.casefold() or any(needle in u.name.casefold() for u in job.units)


class JobsTable(DataTable[str | Text]):
    COLUMNS = (("tag", 24), ("id", 6), ("created", 10), ("status", 11), ("units", 48))

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.jobs: dict[int, Job] = {}
        self.filter_text = ""
        self.visible_ids: list[int] = []

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
        for job in shown:
            self.add_row(
                job.tag + (f" ⏱ {job.schedule}" if job.schedule else ""),
                Text(str(job.id), justify="right"),
                relative(job.created_at, now),
                status_text(job.status),
                units_summary(job.units),
                key=str(job.id),
            )
        if selected is not None and str(selected) in self.rows:
            self.move_cursor(row=self.get_row_index(str(selected)), animate=False)

    @property
    def selected_job_id(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None
