"""What every console screen shares: its Source, its connection bar and its palette commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.binding import Binding
from textual.screen import Screen

from console.client import ApiError, ConnectionState, Unavailable
from console.messages import ConnectionChanged
from console.widgets.connection import ConnectionBar

if TYPE_CHECKING:
    from console.app import RedRunnerApp
    from console.source import Source


class ConsoleScreen(Screen[None]):
    def __init__(self) -> None:
        super().__init__()
        self.connection = ConnectionState("connecting")

    @property
    def console_app(self) -> RedRunnerApp:
        return cast("RedRunnerApp", self.app)

    @property
    def source(self) -> Source:
        return self.console_app.source

    def report_state(self, state: ConnectionState) -> None:
        """The Source's state callback: runs in the worker, so it only posts."""
        self.post_message(ConnectionChanged(state))

    @on(ConnectionChanged)
    def _connection_changed(self, event: ConnectionChanged) -> None:
        self.connection = event.state
        for bar in self.query(ConnectionBar):
            bar.show(event.state)

    def report_error(self, what: str, exc: Exception) -> None:
        if isinstance(exc, ApiError):
            self.notify(f"{what}: {exc.message} ({exc.error})", severity="error", timeout=6)
        elif isinstance(exc, Unavailable):
            self.notify(f"{what}: server unreachable", severity="error", timeout=6)
        else:
            self.notify(f"{what}: {exc}", severity="error", timeout=6)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for every key binding of this screen, for the command palette."""
        commands: list[tuple[str, str, str]] = []
        for binding in type(self).BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                commands.append((binding.description, binding.tooltip, binding.action))
        return commands
