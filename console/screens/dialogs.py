"""Modal dialogs: pick a playbook or action (with extravars), confirm, create a Job, add a Unit."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList
from textual.widgets.option_list import Option

from backend.names import MAX_RETRIES, TAG, UNIT_NAME
from console.widgets.fields import FormInput


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="dialog.yes", tooltip="Confirm"),
        Binding("n,escape", "answer(False)", "No", id="dialog.no", tooltip="Keep it running"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class CreateJobScreen(ModalScreen[tuple[str, list[str]] | None]):
    """A tag and the Units to add (separated by spaces or commas)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="dialog.close", tooltip="Close without creating")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New Job", classes="dialog-title")
            yield FormInput(placeholder="tag, e.g. backup", id="tag")
            yield FormInput(placeholder="units, e.g. db web cache", id="units")
            yield Label("", id="create-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", variant="primary", id="create")

    def text_sink(self) -> Input | None:
        """Keys typed right after `n`, before the dialog took focus, are the tag's first letters."""
        focused = self.focused
        return focused if isinstance(focused, Input) else self.query_one("#tag", Input)

    @on(Input.Submitted, "#tag")
    def _next(self) -> None:
        self.query_one("#units", Input).focus()

    @on(Input.Submitted, "#units")
    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        tag = self.query_one("#tag", Input).value.strip()
        units = [u for u in re.split(r"[\s,]+", self.query_one("#units", Input).value.strip()) if u]
        error = ""
        if not TAG.match(tag):
            error = "a tag starts with a letter or digit, then letters, digits, _ . : -"
        elif bad := [u for u in units if not UNIT_NAME.match(u)]:
            error = f"not a unit name: {', '.join(bad)}"
        if error:
            self.query_one("#create-error", Label).update(error)
            return
        self.dismiss((tag, units))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class AddUnitScreen(ModalScreen[str | None]):
    """The name of a Unit to add to a Job."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="dialog.close", tooltip="Close without adding")]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Add a Unit to Job {self.job_id}", classes="dialog-title")
            yield Input(placeholder="unit name, e.g. cache", id="unit-name")
            yield Label("", id="add-unit-error", classes="dialog-error")

    @on(Input.Submitted, "#unit-name")
    def _add(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not UNIT_NAME.match(name):
            self.query_one("#add-unit-error", Label).update(
                f"not a unit name: {name!r} (a letter or digit, then letters, digits, _ . -)"
            )
            return
        self.dismiss(name)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ActionChoice:
    action: str
    extravars: dict[str, Any]
    extravars_text: str
    check: bool = False
    retries: int = 0


def parse_extravars(text: str) -> dict[str, Any]:
    """The extravars box: empty, or a JSON object. ValueError says what is wrong, before sending."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise ValueError('extravars must be a JSON object, like {"files_path": "/srv/files"}')
    return value


class ActionScreen(ModalScreen[ActionChoice | None]):
    """Choose an action and give its extravars (JSON, checked here); the last extravars given for
    each action are offered again (`remembered`, kept by the caller per Unit and action)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="dialog.close", tooltip="Close without starting")]

    def __init__(self, title: str, choices: list[tuple[str, str]], remembered: dict[str, str]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.remembered = remembered
        self.error_text = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.choices:
                yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="choices")
            else:
                yield Label("nothing to choose from", classes="dialog-empty")
            yield Label("extravars (JSON object, optional; tab to edit, enter to start)", classes="dialog-hint")
            yield FormInput(placeholder='{"files_path": "/srv/files"}', id="extravars")
            with Horizontal(classes="dialog-options"):
                yield Checkbox("check mode (dry run)", id="check")
                yield Label("retries", classes="dialog-hint")
                yield FormInput("0", id="retries", restrict=r"[0-9]*", max_length=2)
            yield Label("", id="action-error", classes="dialog-error")

    def on_mount(self) -> None:
        if self.choices:
            self.query_one("#choices", OptionList).focus()
            self._show_remembered(self.choices[0][0])

    @property
    def extravars_text(self) -> str:
        return self.query_one("#extravars", Input).value

    def _highlighted(self) -> str | None:
        if not self.choices:
            return None
        index = self.query_one("#choices", OptionList).highlighted
        return self.choices[index if index is not None else 0][0]

    def _show_remembered(self, action: str) -> None:
        self.query_one("#extravars", Input).value = self.remembered.get(action, "")

    @on(OptionList.OptionHighlighted)
    def _highlight(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self._show_remembered(event.option.id)

    @on(OptionList.OptionSelected)
    @on(Input.Submitted, "#extravars")
    @on(Input.Submitted, "#retries")
    def _chosen(self) -> None:
        action = self._highlighted()
        if action is None:
            return
        text = self.extravars_text
        try:
            extravars = parse_extravars(text)
        except ValueError as exc:
            self._refuse(str(exc), "#extravars")
            return
        retries = int(self.query_one("#retries", Input).value or 0)
        if retries > MAX_RETRIES:
            self._refuse(f"retries: at most {MAX_RETRIES}", "#retries")
            return
        check = self.query_one("#check", Checkbox).value
        self.dismiss(ActionChoice(action, extravars, text.strip(), check, retries))

    def _refuse(self, message: str, widget: str) -> None:
        self.error_text = message
        self.query_one("#action-error", Label).update(message)
        self.query_one(widget, Input).focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
