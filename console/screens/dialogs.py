"""Modal dialogs: pick a playbook or action, confirm, create a Job."""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

UNIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class PickScreen(ModalScreen[str | None]):
    """Choose one value from a list (playbooks for a Unit, actions for every Unit)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="dialog.close", tooltip="Close without choosing")]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.choices:
                yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="choices")
            else:
                yield Label("nothing to choose from", classes="dialog-empty")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


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
            yield Input(placeholder="tag, e.g. backup", id="tag")
            yield Input(placeholder="units, e.g. db web cache", id="units")
            yield Label("", id="create-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", variant="primary", id="create")

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
