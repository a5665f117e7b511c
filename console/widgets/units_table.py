"""The Job screen's table: one row per Unit with the API's status word and its latest Operation."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console.client import Operation, Unit
from console.present import eta_text, progress_bar, status_text
from console.timefmt import duration, elapsed
from console.widgets.fit import fit_columns, text_width


def _count(op: Operation | None, key: str) -> Text:
    if not op:
        return Text("")
    value = int(getattr(op.stats, key))
    style = {"ok": "green", "changed": "yellow", "failed": "red"}[key] if value else "dim"
    return Text(str(value), style=style, justify="right")


class UnitsTable(DataTable[str | Text]):
    COLUMNS = (
        ("unit", 12),
        ("status", 10),
        ("action", 18),
        ("task", 16),
        ("progress", 20),
        ("elapsed", 7),
        ("eta", 7),
        ("ok", 3),
        ("chg", 3),
        ("fail", 4),
    )
    # Sized to their content and the terminal (console.widgets.fit); the others keep their width.
    FLEXIBLE = ("unit", "action", "task")
    BINDINGS = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.units: dict[str, Unit] = {}
        self._wanted: dict[str, int] = {key: len(key) for key in self.FLEXIBLE}

    def on_mount(self) -> None:
        for label, width in self.COLUMNS:
            self.add_column(label, width=width, key=label)

    def row_cells(
        self, unit: Unit, now: datetime, previous: dict[str, float | None], tasks: dict[int, str]
    ) -> list[str | Text]:
        op = unit.latest_operation
        if not op:
            return [
                unit.name,
                status_text(unit.status),
                "",
                "",
                "",
                "",
                "",
                *([""] * 3),
            ]
        spent = elapsed(op.started_at, op.finished_at, now)
        eta = eta_text(op, previous.get(op.action), spent)
        return [
            unit.name,
            status_text(unit.status or op.status),
            op.action,
            tasks.get(op.id, ""),
            progress_bar(op, width=8),
            duration(spent) if spent is not None else "",
            eta,
            _count(op, "ok"),
            _count(op, "changed"),
            _count(op, "failed"),
        ]

    def show_units(
        self, units: list[Unit], now: datetime, previous: dict[str, float | None], tasks: dict[int, str]
    ) -> None:
        """Update cells in place (rows keyed by unit name) so the cursor and scroll stay put."""
        self.units = {u.name: u for u in units}
        keys = [str(col) for col, _ in self.COLUMNS]
        stale = set(self.rows) - {k for k in self.rows if k.value in self.units}
        for key in stale:
            self.remove_row(key)
        wanted = {key: len(key) for key in self.FLEXIBLE}
        for unit in units:
            cells = self.row_cells(unit, now, previous, tasks)
            if unit.name in {k.value for k in self.rows}:
                for column, value in zip(keys, cells, strict=True):
                    self.update_cell(unit.name, column, value)
            else:
                self.add_row(*cells, key=unit.name)
            for column, value in zip(keys, cells, strict=True):
                if column in wanted:
                    wanted[column] = max(wanted[column], text_width(value))
        self._wanted = wanted
        fit_columns(self, wanted)

    def on_resize(self) -> None:
        fit_columns(self, self._wanted)

    @property
    def selected_unit(self) -> Unit | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.units.get(key) if key is not None else None
