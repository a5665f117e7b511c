"""A virtualized log: only the rows on screen are read (from a LogStore) and rendered.

Follows the tail while the view sits at the bottom; scrolling up pauses following, `end`
resumes it. Search runs in a thread over the spool and only posts its result back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from console.loglines import Kind
from console.logstore import LogStore

STYLES: dict[Kind, Style] = {
    Kind.PLAIN: Style(),
    Kind.HEADER: Style(bold=True),
    Kind.OK: Style(color="green"),
    Kind.CHANGED: Style(color="yellow"),
    Kind.SKIPPED: Style(color="cyan"),
    Kind.FAILED: Style(color="red", bold=True),
    Kind.UNREACHABLE: Style(color="bright_red", bold=True),
    Kind.WARNING: Style(color="bright_magenta"),
    Kind.DEPRECATION: Style(color="magenta"),
    Kind.RECAP_OK: Style(color="green"),
    Kind.RECAP_CHANGED: Style(color="yellow"),
    Kind.RECAP_FAILED: Style(color="red", bold=True),
    Kind.INCLUDED: Style(color="cyan"),
    Kind.DIM: Style(dim=True),
}
FAILED_MESSAGE = re.compile(r'"(?:msg|stderr|reason)": ?"(?:[^"\\]|\\.)*"')
FAILED_HIGHLIGHT = Style(color="bright_white", bgcolor="dark_red", bold=True)
MATCH = Style(color="black", bgcolor="yellow")
CURRENT_MATCH_LINE = Style(bgcolor="grey23")


class LogLines(ScrollView, can_focus=True):
    """The rows of one Operation's output, read on demand from a LogStore."""

    BINDINGS = [
        Binding("end,G", "follow", "Follow", id="log.follow", tooltip="Jump to the end and follow new lines"),
        Binding("home,g", "top", "Top", show=False, id="log.top", tooltip="Jump to the first line"),
    ]

    follow: reactive[bool] = reactive(True)
    match_line: reactive[int | None] = reactive(None)
    needle: reactive[str] = reactive("")

    @dataclass
    class FollowChanged(Message):
        follow: bool

    def __init__(self, store: LogStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self._needle_re: re.Pattern[str] | None = None

    def take_new_lines(self) -> None:
        """Take in lines appended to the store since the last call."""
        self.virtual_size = Size(self.store.max_width + 1, len(self.store))
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            # The new size counts only after layout: a log that arrived whole (a finished run)
            # would otherwise stay at its top. It opens at its end.
            self.call_after_refresh(self._stay_at_end)
        self.refresh()

    def _stay_at_end(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        self._stay_at_end()

    def watch_follow(self, follow: bool) -> None:
        self.post_message(self.FollowChanged(follow))

    def watch_needle(self, needle: str) -> None:
        self._needle_re = re.compile(re.escape(needle), re.IGNORECASE) if needle else None
        self.refresh()

    def watch_match_line(self) -> None:
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y and not self.follow:
            self.follow = True

    def _pause(self) -> None:
        if self.follow and self.max_scroll_y > 0:
            self.follow = False

    # User-initiated upward movement pauses following; appends never move the view up.
    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._pause()
        super()._on_mouse_scroll_up(event)

    def action_scroll_up(self) -> None:
        self._pause()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._pause()
        super().action_page_up()

    def action_top(self) -> None:
        self._pause()
        self.scroll_to(y=0, animate=False)

    def action_follow(self) -> None:
        self.follow = True
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def show_line(self, index: int, column: int = 0, length: int = 0) -> None:
        """Scroll so line `index`, and its cells `column` to `column + length`, are in view (pausing the
        tail), and mark it as the current match. A match past the right edge of a long line (ansible's
        one-line JSON results) scrolls sideways too."""
        self._pause()
        self.match_line = index
        region = self.scrollable_content_region
        y, x = self.scroll_y, self.scroll_x
        if not y <= index < y + region.height:
            y = max(0, index - region.height // 2)
        if not (x <= column and column + length <= x + region.width):
            x = max(0, column - region.width // 3)
        if (x, y) != (self.scroll_x, self.scroll_y):
            self.scroll_to(x=x, y=y, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.store):
            return Strip.blank(width, base)
        text = self._render_text(index)
        if index == self.match_line:
            text.stylize(CURRENT_MATCH_LINE)
        segments = list(Segment.apply_style(text.render(self.app.console), base))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base)

    def _render_text(self, index: int) -> Text:
        line = self.store.line(index)
        kind = self.store.kind(index)
        text = Text(line, style=STYLES.get(kind, Style()), no_wrap=True, end="")
        if kind in (Kind.FAILED, Kind.UNREACHABLE):
            for found in FAILED_MESSAGE.finditer(line):
                text.stylize(FAILED_HIGHLIGHT, found.start(), found.end())
        if self._needle_re is not None:
            for found in self._needle_re.finditer(line):
                text.stylize(MATCH, found.start(), found.end())
        return text


class LogView(Vertical):
    """LogLines with a find bar and a one-line status (lines, following or paused, search)."""

    BINDINGS = [
        Binding("slash,ctrl+f", "find", "Find", id="log.find", tooltip="Search the output"),
        Binding("n", "find_next", "Next", id="log.find_next", tooltip="Next match"),
        Binding("N", "find_previous", "Prev", show=False, id="log.find_previous", tooltip="Previous match"),
    ]

    @dataclass
    class Found(Message):
        needle: str
        index: int | None

    def __init__(self, store: LogStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self._status_text = ""

    def compose(self) -> ComposeResult:
        yield LogLines(self.store, id="log-lines")
        yield Input(placeholder="find (enter: next, escape: close)", id="find")
        yield Static("", id="log-status")

    @property
    def lines(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self.query_one("#find", Input).display = False
        self._update_status()

    def take_new_lines(self) -> None:
        self.lines.take_new_lines()
        self._update_status()

    def set_extra_status(self, text: str) -> None:
        self._status_text = text
        self._update_status()

    def _update_status(self) -> None:
        lines = self.lines
        mode = "following" if lines.follow else "paused (end: follow)"
        found = ""
        if lines.needle:
            found = f" · find '{lines.needle}'" + (
                f" at line {lines.match_line + 1}" if lines.match_line is not None else ": no match"
            )
        extra = f" · {self._status_text}" if self._status_text else ""
        self.query_one("#log-status", Static).update(f"{len(self.store):,} lines · {mode}{found}{extra}")

    @on(LogLines.FollowChanged)
    def _follow_changed(self) -> None:
        self._update_status()

    def action_find(self) -> None:
        find = self.query_one("#find", Input)
        find.display = True
        find.focus()

    def action_close_find(self) -> None:
        find = self.query_one("#find", Input)
        find.display = False
        self.lines.focus()

    @on(Input.Submitted, "#find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.lines.needle = event.value
        self.action_find_next()

    def action_find_next(self) -> None:
        self._search(forward=True)

    def action_find_previous(self) -> None:
        self._search(forward=False)

    def _search(self, forward: bool) -> None:
        lines = self.lines
        needle = lines.needle or self.query_one("#find", Input).value
        if not needle:
            self.action_find()
            return
        lines.needle = needle
        current = lines.match_line
        if current is None:
            start = int(lines.scroll_y) if forward else int(lines.scroll_y) + lines.size.height - 1
        else:
            start = current + 1 if forward else current - 1
        if start >= len(self.store):
            start = 0
        if start < 0:
            start = len(self.store) - 1
        self._find(needle, start, forward)

    @work(thread=True, exclusive=True, group="find")
    def _find(self, needle: str, start: int, forward: bool) -> None:
        self.post_message(self.Found(needle, self.store.find(needle, start, forward)))

    @on(Found)
    def _found(self, event: Found) -> None:
        if event.index is None:
            self.lines.match_line = None
            self.notify(f"'{event.needle}' not found", severity="warning", timeout=2)
        else:
            line = self.store.line(event.index)
            column = max(0, line.lower().find(event.needle.lower()))
            self.lines.show_line(event.index, cell_len(line[:column]), cell_len(event.needle))
        self._update_status()
