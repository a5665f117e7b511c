"""One line telling the operator whether the screen's stream is live."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.client import ConnectionState


class ConnectionBar(Static):
    DEFAULT_CSS = """
    ConnectionBar { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, url: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.url = url
        self.state = ConnectionState("connecting")

    def on_mount(self) -> None:
        self.show(self.state)

    def show(self, state: ConnectionState) -> None:
        self.state = state
        self.set_class(state.phase == "connected", "-connected")
        self.set_class(state.phase in ("reconnecting", "connecting"), "-reconnecting")
        self.set_class(state.phase == "failed", "-failed")
        self.update(self.describe(state))

    def describe(self, state: ConnectionState) -> Text:
        if state.phase == "connected":
            # A screen without a stream (Schedules) says how fresh its data is in `detail`.
            label = "live" if not state.detail else "up to date"
            more = f"  ({state.detail})" if state.detail else ""
            return Text.assemble(("● ", "green"), (label, "bold green"), f"  {self.url}{more}")
        if state.phase == "closed":
            return Text.assemble(("● ", "dim"), ("finished", "bold"), f"  {self.url}")
        if state.phase == "failed":
            return Text.assemble(("✖ ", "red"), ("failed", "bold red"), f"  {state.detail}")
        if state.phase == "connecting":
            return Text.assemble(("◌ ", "yellow"), ("connecting", "bold yellow"), f"  {self.url}")
        retry = f" in {state.retry_in:.1f}s" if state.retry_in is not None else ""
        detail = f" ({state.detail})" if state.detail else ""
        return Text.assemble(
            ("◌ ", "yellow"), (f"reconnecting{retry}", "bold yellow"), f" attempt {state.attempt}{detail}"
        )
