"""Column widths that follow the content and the terminal: a wide terminal shows whole action and task
names (`backup-postgres.yml`), a narrow one shares what is left fairly instead of cutting every column
at a fixed width.

`share` is the rule (pure); `fit_columns` applies it to a DataTable on each redraw and resize.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.cells import cell_len
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

# No flexible column gets narrower than this (a name still reads as a name).
FLOOR = 8


def share(available: int, wanted: Mapping[str, int], floor: int = FLOOR) -> dict[str, int]:
    """Widths for the flexible columns: each its `wanted` width when all fit; otherwise the narrow ones
    whole and the room left split evenly among the wider ones, none below `floor`."""
    widths: dict[str, int] = {}
    left = available
    order = sorted(wanted, key=lambda key: wanted[key])
    for n, key in enumerate(order):
        fair = left // (len(order) - n) if left > 0 else 0
        widths[key] = max(min(floor, wanted[key]), min(wanted[key], fair))
        left -= widths[key]
    return widths


def text_width(value: object) -> int:
    return cell_len(value.plain if hasattr(value, "plain") else str(value))


def fit_columns(table: DataTable[Any], wanted: Mapping[str, int]) -> None:
    """Give `wanted`'s columns (key: widest cell or label) the room the other columns leave."""
    width = table.scrollable_content_region.width
    if width <= 0:
        return
    pad = 2 * table.cell_padding
    fixed = sum(col.get_render_width(table) for key, col in table.columns.items() if key.value not in wanted)
    room = width - fixed - pad * len(wanted)
    changed = False
    for key, size in share(room, wanted).items():
        column = table.columns.get(ColumnKey(key))
        if column is not None and column.width != size:
            column.width, changed = size, True
    if changed:
        # DataTable has no public setter for a column's width: these are what add_column's width sets up.
        table._require_update_dimensions = True
        table._clear_caches()
        table.refresh()
