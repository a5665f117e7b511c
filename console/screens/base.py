"""What every console screen shares: its Source, its connection bar and its palette commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from console.client import ApiError, ConnectionState, Unavailable
from console.messages import ConnectionChanged
from console.permissions import allows
from console.widgets.connection import ConnectionBar

if TYPE_CHECKING:
    from console.app import RedRunnerApp
    from console.source import Source


class ConsoleScreen(Screen[None]):
    def __init__(self) -> None:
        super().__init__()
        self.connection = ConnectionState("connecting")
        self._focus_before_dialog: Widget | None = None

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions beyond the caller's role are neither shown nor taken (console.permissions)."""
        return allows(self.console_app.role, action)

    def text_sink(self) -> Input | None:
        """The text box that owns the keyboard while it is open (a filter, a find bar), if any."""
        return None

    # A dialog (or the palette) covers this screen: focus comes back to where it was, not to the
    # first focusable widget (which put the next `/` into the filter box).
    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        self._focus_before_dialog = self.focused

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        widget, self._focus_before_dialog = self._focus_before_dialog, None
        if widget is not None and widget.is_mounted and widget.display and widget.focusable:
            self.set_focus(widget)

    def palette_commands(self) -> list[tuple[str, str, DOMNode, str]]:
        """(title, help, namespace, action) for every key binding active on this screen, the focused
        widget's included (the log's find and follow), in the order the footer shows them."""
        commands: list[tuple[str, str, DOMNode, str]] = []
        seen: set[tuple[int, str]] = set()
        for key, active in self.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description or binding.action == "command_palette":
                continue
            if (id(active.node), binding.action) in seen:
                continue
            seen.add((id(active.node), binding.action))
            keys = self.app.get_key_display(binding) or key
            commands.append((binding.description, f"{binding.tooltip} · key {keys}", active.node, binding.action))
        return commands
