"""One Operation's output, following `/operations/{id}/stream` (resumed with `after=`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Input, Static

from console.client import ApiError, EndFrame, Event, EventFrame, Operation, OperationFrame, Unavailable
from console.failure import FAILED_EVENTS, failure_of
from console.loglines import Kind, event_lines
from console.logstore import LogStore
from console.messages import LogAppended, OperationChanged
from console.present import progress_label, status_text
from console.screens.base import ConsoleScreen
from console.timefmt import duration, elapsed
from console.widgets.connection import ConnectionBar
from console.widgets.footer import FitFooter
from console.widgets.log_view import LogView

# The stream worker shares the UI's event loop: it hands the loop back after this much work, and
# publishes new lines at most this often, so keys and repaints never wait behind a burst.
SLICE = 0.008
PUBLISH_PERIOD = 0.05


class OperationScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="operation.back", tooltip="Back (or close the find bar)"),
        Binding("c", "cancel", "Cancel", id="operation.cancel", tooltip="Cancel this Operation"),
        Binding(
            "w",
            "save",
            "Save",
            id="operation.save",
            tooltip="Save the whole output with its colours to ./redrunner-operation-ID.log (less -R)",
        ),
    ]

    def __init__(self, op_id: int) -> None:
        super().__init__()
        self.op_id = op_id
        self.operation: Operation | None = None
        self.store = LogStore()
        self.events_seen = 0
        # Only failure events are kept (a few): enough to name the failing task at the end.
        self.failed_events: list[Event] = []

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield Static("", id="operation-summary")
        yield LogView(self.store, id="log")
        yield FitFooter()

    def on_mount(self) -> None:
        self.title = f"Operation {self.op_id}"
        self.query_one(LogView).lines.focus()
        self._follow()

    def on_unmount(self) -> None:
        self.store.close()

    @work(exclusive=True, group="operation-stream", exit_on_error=False)
    async def _follow(self) -> None:
        pending: list[tuple[Kind, str]] = []
        published = slice_start = time.monotonic()
        try:
            async for frame in self.source.follow_operation(self.op_id, self.report_state):
                is_event = isinstance(frame, EventFrame)
                if isinstance(frame, EventFrame):
                    pending.extend(event_lines(frame.event))
                    self.events_seen += 1
                    if frame.event.event in FAILED_EVENTS:
                        self.failed_events.append(frame.event)
                elif isinstance(frame, OperationFrame | EndFrame) and frame.operation is not None:
                    self.post_message(OperationChanged(frame.operation))
                now = time.monotonic()
                if pending and (now - published >= PUBLISH_PERIOD or not is_event):
                    self.store.append(pending)
                    pending = []
                    published = now
                    self.post_message(LogAppended())
                if now - slice_start >= SLICE:
                    await asyncio.sleep(0)
                    slice_start = time.monotonic()
        except (ApiError, Unavailable) as exc:
            self.report_error(f"Operation {self.op_id}", exc)
        finally:
            if pending and not self.store.closed:
                self.store.append(pending)
                self.post_message(LogAppended())

    @on(LogAppended)
    def _appended(self) -> None:
        self.query_one(LogView).take_new_lines()

    @on(OperationChanged)
    def _changed(self, event: OperationChanged) -> None:
        self.operation = event.operation
        self._render_summary()

    def _render_summary(self) -> None:
        op = self.operation
        if op is None:
            return
        self.title = f"Operation {self.op_id} · {op.unit} · {op.action}"
        self.sub_title = op.status
        stats = op.stats
        spent = elapsed(op.started_at, op.finished_at, self.console_app.now())
        parts: list[str | tuple[str, str] | Text] = [
            ("Operation ", "bold"),
            (str(self.op_id), "bold"),
            "  unit ",
            (op.unit, "bold cyan"),
            "  ",
            (op.action, "bold"),
            "  ",
            status_text(op.status),
            f"  progress {progress_label(op)}",
            f"  ok {stats.ok} changed {stats.changed} failed {stats.failed}",
            f"  {duration(spent)}",
        ]
        if op.rc is not None:
            parts.append(f"  rc {op.rc}")
        failure = failure_of(self.failed_events, stats.rescued) if op.terminal and op.status != "successful" else None
        if failure is not None and failure.task:
            parts.append((f"  failed at '{failure.task}'", "bold red"))
        message = op.error or (failure.message if failure else None)
        if message:
            parts.append(("  " + message, "red"))
        self.query_one("#operation-summary", Static).update(Text.assemble(*parts))

    def text_sink(self) -> Input | None:
        find = self.query_one("#find", Input)
        return find if find.display and self.focused is find else None

    def action_back(self) -> None:
        find = self.query_one("#find", Input)
        if find.display:
            self.query_one(LogView).action_close_find()
        else:
            self.app.pop_screen()

    def action_cancel(self) -> None:
        if self.operation is None or not self.operation.active:
            self.notify("this operation is not running", severity="warning", timeout=3)
            return
        self.console_app.confirm_cancel(self.operation)

    def action_save(self) -> None:
        self._save(Path.cwd() / f"redrunner-operation-{self.op_id}.log")

    @work(exclusive=True, group="operation-save", exit_on_error=False)
    async def _save(self, path: Path) -> None:
        # The server's own text with ansible's colours (the API gives plain text unless asked).
        try:
            text = await self.source.stdout(self.op_id, ansi=True)
            await asyncio.to_thread(_write_whole, path, text)
        except (ApiError, Unavailable, OSError) as exc:
            self.report_error(f"Save operation {self.op_id}", exc)
            return
        self.notify(f"saved to {path} (less -R shows its colours)", timeout=6)


def _write_whole(path: Path, text: str) -> None:
    """Write under a temporary name, then rename: the file is never seen half written."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)
