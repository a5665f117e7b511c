"""Backups: per component (backup tag, unit), its newest good backup, how old it is and when a restore
drill last verified it. An old one (over two days) or one never verified stands out.

Backups change rarely and have no stream, so the list is re-read every few seconds while shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from console.backups import Backup, attention, newest_per_component
from console.client import ApiError, Unavailable
from console.screens.base import ConsoleScreen
from console.timefmt import relative
from console.widgets.connection import ConnectionBar

REFRESH_PERIOD = 10.0
# Enough for every component's newest backup on a nightly schedule with weeks of history.
READ_BACKUPS = 500


class BackupSource(Protocol):
    """What this screen needs besides the Source protocol (RedRunnerClient has it)."""

    async def list_backups(self, tag: str | None = None, unit: str | None = None, limit: int = 50) -> list[Backup]: ...


def size_text(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class BackupsTable(DataTable[str | Text]):
    COLUMNS = (
        ("component", 22),
        ("tag", 14),
        ("job", 7),
        ("made", 10),
        ("verified", 10),
        ("size", 10),
        ("attention", 22),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.backups: dict[str, Backup] = {}

    def on_mount(self) -> None:
        for label, width in self.COLUMNS:
            self.add_column(label, width=width, key=label)

    def set_backups(self, backups: list[Backup], now: datetime) -> None:
        selected = self.selected_key
        newest = newest_per_component(backups)
        self.backups = {f"{b.tag}/{b.unit}": b for b in newest}
        self.clear()
        for b in newest:
            why = attention(b, now)
            self.add_row(
                Text(b.unit, style="bold"),
                b.tag,
                Text(str(b.job_id), justify="right"),
                Text(relative(b.created_at, now), style="bold red" if "old" in why else ""),
                Text(
                    relative(b.verified_at, now) if b.verified_at else "never",
                    style="yellow" if not b.verified_at else "",
                ),
                Text(size_text(b.size), justify="right"),
                Text(", ".join(why) if why else "ok", style="bold red" if why else "green"),
                key=f"{b.tag}/{b.unit}",
            )
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @property
    def selected(self) -> Backup | None:
        key = self.selected_key
        return self.backups.get(key) if key is not None else None


class BackupsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="backups.back", tooltip="Back to the previous screen"),
        Binding("enter", "open_job", "Open job", id="backups.open", tooltip="Open the Job that made the backup"),
        Binding("r", "reload", "Reload", id="backups.reload", tooltip="Read the backups again"),
    ]

    @property
    def backup_source(self) -> BackupSource:
        return cast(BackupSource, self.source)

    @property
    def table(self) -> BackupsTable:
        return self.query_one(BackupsTable)

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield Static("", id="backups-summary")
        yield BackupsTable(id="backups")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "RedRunner"
        self.sub_title = "Backups"
        self.table.focus()
        self.set_interval(REFRESH_PERIOD, self.action_reload)
        self.action_reload()

    @work(exclusive=True, group="backups-load", exit_on_error=False)
    async def action_reload(self) -> None:
        try:
            backups = await self.backup_source.list_backups(limit=READ_BACKUPS)
        except (ApiError, Unavailable) as exc:
            self.report_error("Backups", exc)
            return
        now = self.console_app.now()
        self.table.set_backups(backups, now)
        newest = newest_per_component(backups)
        flagged = [b for b in newest if attention(b, now)]
        if not newest:
            summary = Text("No successful backup published one yet.", style="yellow")
        elif flagged:
            names = ", ".join(f"{b.unit} ({', '.join(attention(b, now))})" for b in flagged)
            summary = Text.assemble((f"{len(flagged)} of {len(newest)} need attention: ", "bold red"), names)
        else:
            summary = Text(f"All {len(newest)} components: a backup under two days old, verified.", style="green")
        self.query_one("#backups-summary", Static).update(summary)

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#backups")
    def action_open_job(self) -> None:
        backup = self.table.selected
        if backup is not None:
            self.console_app.open_job(backup.job_id)
