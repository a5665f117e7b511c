"""The RedRunner console: Jobs, their Units, and Operation logs, live from a server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from console.client import ApiError, Job, Operation, Unavailable
from console.commands import ConsoleCommands
from console.screens.base import ConsoleScreen
from console.screens.dialogs import ActionChoice, ConfirmScreen, CreateJobScreen
from console.screens.home import HomeScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.source import Source


def utc_now() -> datetime:
    return datetime.now(UTC)


class RedRunnerApp(App[int]):
    CSS_PATH = "console.tcss"
    TITLE = "RedRunner"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave the console (operations keep running)"),
        Binding(
            "s", "open_schedules", "Schedules", show=False, id="app.schedules", tooltip="Schedules: next runs, run now"
        ),
        Binding(
            "b",
            "open_backups",
            "Backups",
            show=False,
            id="app.backups",
            tooltip="Backups: each component's newest, its age, when last verified",
        ),
    ]

    def __init__(
        self,
        source: Source,
        *,
        tag: str | None = None,
        job_id: int | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.source = source
        self.tag = tag
        self.start_job_id = job_id
        self.now = now
        # The last extravars given per (Unit, action), offered again in the action dialog.
        self._extravars: dict[tuple[str, str], str] = {}

    def get_default_screen(self) -> Screen[None]:
        return HomeScreen(self.tag)

    def on_mount(self) -> None:
        if self.start_job_id is not None:
            self.open_job(self.start_job_id)

    def on_key(self, event: events.Key) -> None:
        """A key that reached the app unhandled. Keys typed right after `/` were sent to the widget
        that had focus before the filter (or find bar) opened; they are that box's text, never
        shortcuts (`/nightly` must not open "New job" on its `n`)."""
        screen = self.screen
        sink = screen.text_sink() if isinstance(screen, ConsoleScreen | CreateJobScreen) else None
        if sink is not None and event.is_printable and event.character:
            sink.insert_text_at_cursor(event.character)
            event.stop()

    async def on_unmount(self) -> None:
        await self.source.aclose()

    def open_job(self, job_id: int) -> None:
        self.push_screen(JobScreen(job_id))

    def action_open_schedules(self) -> None:
        from console.screens.schedules import SchedulesScreen

        if not isinstance(self.screen, SchedulesScreen):
            self.push_screen(SchedulesScreen())

    def action_open_backups(self) -> None:
        from console.screens.backups import BackupsScreen

        if not isinstance(self.screen, BackupsScreen):
            self.push_screen(BackupsScreen())

    def open_operation(self, op_id: int) -> None:
        self.push_screen(OperationScreen(op_id))

    def remembered_extravars(self, unit: str) -> dict[str, str]:
        return {action: text for (name, action), text in self._extravars.items() if name == unit}

    def remember_extravars(self, unit: str, choice: ActionChoice) -> None:
        self._extravars[(unit, choice.action)] = choice.extravars_text

    def known_jobs(self) -> list[Job]:
        """The Jobs of the home screen's list (under any screen), newest first."""
        homes = [s for s in self.screen_stack if isinstance(s, HomeScreen)]
        if not homes or not homes[0].is_mounted:
            return []
        table = homes[0].jobs_table
        return [table.jobs[i] for i in sorted(table.jobs, reverse=True)]

    def known_operations(self) -> list[Operation]:
        """The latest Operation of each Unit of the open Job screen, if one is open."""
        jobs = [s for s in self.screen_stack if isinstance(s, JobScreen)]
        if not jobs:
            return []
        units = sorted(jobs[-1].units.values(), key=lambda u: u.name)
        return [u.latest_operation for u in units if u.latest_operation is not None]

    def confirm_cancel(self, op: Operation) -> None:
        question = f"Cancel operation {op.id} ({op.action} on {op.unit})?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(op.id)

        self.push_screen(ConfirmScreen(question), answered)

    @work(group="cancel", exit_on_error=False)
    async def _cancel(self, op_id: int) -> None:
        try:
            await self.source.cancel_operation(op_id)
        except (ApiError, Unavailable) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            self.notify(f"Cancel {op_id}: {message}", severity="error", timeout=6)
            return
        self.notify(f"Operation {op_id}: cancel requested", timeout=3)
