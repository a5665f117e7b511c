"""The README's key table, generated from the key bindings so the two never disagree.

`python -m console.keymap` prints it; tests/console/test_keymap.py fails when the README's copy
(between the `<!-- keys -->` markers) differs. A new binding needs only its tooltip.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.dom import DOMNode

from console.app import RedRunnerApp
from console.screens.home import HomeScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.widgets.log_view import LogLines, LogView

# Where each set of bindings applies, in the order the operator meets them.
PLACES: list[tuple[str, list[type[DOMNode]]]] = [
    ("Jobs", [HomeScreen]),
    ("Job", [JobScreen]),
    ("log", [OperationScreen, LogView, LogLines]),
    ("anywhere", [RedRunnerApp]),
]
NAMES = {"slash": "/", "ctrl+f": "ctrl+f", "escape": "escape", "backspace": "backspace"}
START, END = "<!-- keys -->", "<!-- /keys -->"


def _keys(binding: Binding) -> str:
    return " or ".join(f"`{NAMES.get(k.strip(), k.strip())}`" for k in binding.key.split(","))


def rows() -> list[tuple[str, str, str]]:
    """(keys, where, what) rows; a key doing the same on several screens is one row."""
    found: dict[tuple[str, str], list[str]] = {}
    for place, classes in PLACES:
        for cls in classes:
            for binding in cls.BINDINGS:
                if isinstance(binding, Binding) and binding.tooltip:
                    places = found.setdefault((_keys(binding), binding.tooltip), [])
                    if place not in places:
                        places.append(place)
    out = [(keys, ", ".join(places), what) for (keys, what), places in found.items()]
    out.append(
        (
            f"`{RedRunnerApp.COMMAND_PALETTE_BINDING}`",
            "anywhere",
            'The command palette: every action of the screen, "Open job N", "Open operation N"',
        )
    )
    return out


def table() -> str:
    lines = [START, "| key | where | does |", "|---|---|---|"]
    lines += [f"| {keys} | {where} | {what} |" for keys, where, what in rows()]
    return "\n".join([*lines, END])


if __name__ == "__main__":
    print(table())
