"""A Unit's history: its Operations newest first, each openable (a rerun never hides a good run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from console.client import ApiError, Operation, Unavailable
from console.present import progress_label, status_text
from console.timefmt import duration, elapsed, relative

if TYPE_CHECKING:
    from console.app import RedRunnerApp


class HistoryScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="history.close", tooltip="Back to the Job"),
        Binding("enter", "open", "Open", id="history.open", tooltip="Open the selected Operation's log"),
    ]

    def __init__(self, job_id: int, unit: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.unit = unit
        self.ids: list[int] = []

    @property
    def console_app(self) -> RedRunnerApp:
        return cast("RedRunnerApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog history"):
            yield Label(f"{self.unit} in Job {self.job_id}: every Operation, newest first", classes="dialog-title")
            yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
            yield Label("", id="history-empty", classes="dialog-empty")

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        for label in ("id", "action", "status", "progress", "started", "took", "error"):
            table.add_column(label, key=label)
        table.focus()
        self._load()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _load(self) -> None:
        try:
            ops = await self.console_app.source.list_operations(job_id=self.job_id, unit=self.unit, limit=200)
        except (ApiError, Unavailable) as exc:
            self.query_one("#history-empty", Label).update(f"could not load: {exc}")
            return
        self._show(sorted(ops, key=lambda op: op.id, reverse=True))

    def _show(self, ops: list[Operation]) -> None:
        table = self.query_one("#history", DataTable)
        now = self.console_app.now()
        for op in ops:
            table.add_row(
                str(op.id),
                op.action,
                status_text(op.status),
                progress_label(op),
                relative(op.started_at, now),
                duration(elapsed(op.started_at, op.finished_at, now)),
                (op.error or "")[:60],
                key=str(op.id),
            )
        self.ids = [op.id for op in ops]
        if not ops:
            self.query_one("#history-empty", Label).update("no Operation yet")

    @on(DataTable.RowSelected, "#history")
    def action_open(self) -> None:
        table = self.query_one("#history", DataTable)
        if not table.row_count:
            return
        op_id = int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        self.dismiss(None)
        self.console_app.open_operation(op_id)

    def action_close(self) -> None:
        self.dismiss(None)
