"""A dialog's text box that keeps fast typing where the operator meant it.

The app hands each key to the box that has focus when the key is read, and a box handles its keys in
order. Tab moves focus only once its binding has run at the app, which is after the keys typed right
behind it were handed to the same box: `backup`, Tab, `files` typed fast gave the tag `backupfiles`.
Here Tab moves focus as soon as the box reads it, and a key that reaches a box after focus has left it
is typed into the box that has focus now.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FormInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        if event.key in ("tab", "shift+tab") and screen.focused is self:
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                screen.focus_next()
            else:
                screen.focus_previous()
            return
        focused = screen.focused
        if focused is not self and isinstance(focused, Input) and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            focused.insert_text_at_cursor(event.character)
            return
        await super()._on_key(event)
