"""A Job: its tag and id in the header, one row per Unit, live from `/jobs/{id}/stream`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from backend.statuses import OperationStatus
from console.backups import is_restore as is_restore_job
from console.client import (
    TERMINAL,
    ApiError,
    EventFrame,
    Job,
    JobFrame,
    Operation,
    OperationFrame,
    SnapshotFrame,
    Unavailable,
    Unit,
    UnitFrame,
)
from console.failure import LOOKBACK, Failure, failure_of, worth_asking
from console.messages import JobStreamChange, OperationChanged, PreviousDuration, TasksFound
from console.present import job_status, newer, status_text, units_summary
from console.rerun import rerun_question
from console.restore import RestoreSource, is_restore, rerun_restore_question, restore_question, restore_refusal
from console.screens.base import ConsoleScreen
from console.screens.dialogs import ActionChoice, ActionScreen, AddUnitScreen, ConfirmScreen
from console.screens.history import HistoryScreen
from console.widgets.connection import ConnectionBar
from console.widgets.footer import FitFooter
from console.widgets.units_table import UnitsTable

# What `r` reruns: the server's default for /rerun.
RERUN_STATUSES = TERMINAL - {OperationStatus.SUCCESSFUL}

# The key under which extravars given for "every Unit" are remembered.
EVERY_UNIT = "*"

# Event frames only mark an Operation as changed; its counts are re-read at most this often.
REFRESH_PERIOD = 0.5
# Stored events read back to find the task a run was at, or the one that failed (console.failure).
TASK_LOOKBACK = LOOKBACK


class JobScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="job.back", tooltip="Back to the Job list"),
        Binding("enter,l", "open_log", "Log", id="job.log", tooltip="Follow the selected Unit's latest Operation"),
        Binding("a", "start_action", "Action", id="job.action", tooltip="Start a playbook on the selected Unit"),
        Binding("e", "start_each", "Each", id="job.each", tooltip="Start the same action on every Unit"),
        Binding("c", "cancel", "Cancel", id="job.cancel", tooltip="Cancel the selected Unit's running Operation"),
        Binding("u", "add_unit", "Add unit", id="job.add_unit", tooltip="Add a Unit to this Job"),
        Binding("r", "rerun", "Rerun", id="job.rerun", tooltip="Start again every Unit whose latest run failed"),
        Binding("h", "history", "History", id="job.history", tooltip="The selected Unit's Operations, newest first"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None
        self.units: dict[str, Unit] = {}
        self.previous: dict[str, float | None] = {}
        self.tasks: dict[int, str] = {}
        self.failures: dict[int, Failure] = {}
        self._dirty: set[int] = set()
        self._tasks_asked: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Header(icon="▶")
        yield ConnectionBar(self.source.url)
        yield Static("", id="job-summary")
        yield UnitsTable(id="units")
        yield Static("", id="unit-detail")
        yield FitFooter()

    def on_mount(self) -> None:
        self.title = f"Job {self.job_id}"
        self.query_one(UnitsTable).focus()
        self.set_interval(1.0, self._tick)
        self.set_interval(REFRESH_PERIOD, self._refresh_dirty)
        self._follow()

    # -- stream -------------------------------------------------------------------------------

    @work(exclusive=True, group="job-stream", exit_on_error=False)
    async def _follow(self) -> None:
        try:
            async for frame in self.source.follow_job(self.job_id, self.report_state):
                if isinstance(frame, EventFrame):
                    # A busy run sends many; record them as data and let the timer catch up.
                    if frame.event.task:
                        self.tasks[frame.operation_id] = frame.event.task
                    self._dirty.add(frame.operation_id)
                elif isinstance(frame, SnapshotFrame | UnitFrame | JobFrame):
                    self.post_message(JobStreamChange(frame))
                elif isinstance(frame, OperationFrame):
                    self.post_message(OperationChanged(frame.operation))
        except (ApiError, Unavailable) as exc:
            self.report_error(f"Job {self.job_id}", exc)

    @on(JobStreamChange)
    def _frame(self, event: JobStreamChange) -> None:
        frame = event.frame
        if isinstance(frame, SnapshotFrame):
            self.job = frame.job
            self.units = {u.name: u for u in frame.job.units}
        elif isinstance(frame, JobFrame):
            self.job = frame.job  # its tag and status; Units follow their own, finer frames
        else:
            unit = frame.unit
            old = self.units.get(unit.name)
            if old is not None:
                unit = replace(unit, latest_operation=newer(old.latest_operation, unit.latest_operation))
            self.units[unit.name] = unit
        self._redraw()

    @on(OperationChanged)
    def _operation_changed(self, event: OperationChanged) -> None:
        self._apply_operation(event.operation)
        self._redraw()

    def _apply_operation(self, op: Operation) -> None:
        if op.job_id != self.job_id:
            return
        unit = self.units.get(op.unit) or Unit(job_id=self.job_id, name=op.unit)
        latest = newer(unit.latest_operation, op)
        if latest is not None and latest.id == op.id:
            unit = replace(unit, latest_operation=latest, status=latest.status)
        self.units[op.unit] = unit

    def _refresh_dirty(self) -> None:
        if self._dirty:
            ids, self._dirty = sorted(self._dirty), set()
            self._fetch_operations(ids)

    @work(group="job-refresh", exit_on_error=False)
    async def _fetch_operations(self, ids: list[int]) -> None:
        try:
            ops = await asyncio.gather(*(self.source.get_operation(op_id) for op_id in ids))
        except (ApiError, Unavailable):
            self._dirty.update(ids)  # try again on the next tick
            return
        for op in ops:
            self.post_message(OperationChanged(op))

    @work(group="job-eta", exit_on_error=False)
    async def _fetch_previous(self, action: str, before_id: int) -> None:
        try:
            seconds = await self.source.previous_duration(action, before_id)
        except (ApiError, Unavailable):
            seconds = None
        self.post_message(PreviousDuration(action, seconds))

    @on(PreviousDuration)
    def _previous(self, event: PreviousDuration) -> None:
        self.previous[event.action] = event.seconds
        self._redraw()

    # Events seen live name the task; for runs that were already under way or over when the screen
    # opened, the last stored events do. A run that ended badly shows the task that failed (the one a
    # rescue caught, not the rescue's own `fail`: console.failure), also when it was followed live.
    @work(group="job-tasks", exit_on_error=False)
    async def _fetch_tasks(self, ops: list[Operation]) -> None:
        found: dict[int, str] = {}
        failures: dict[int, Failure] = {}
        for op in ops:
            try:
                page = await self.source.events(
                    op.id, after=max(0, op.event_count - TASK_LOOKBACK), limit=TASK_LOOKBACK
                )
            except (ApiError, Unavailable):
                self._tasks_asked.discard(op.id)
                continue
            failure = failure_of(page.items, op.stats.rescued) if worth_asking(op) else None
            tasks = [event.task for event in page.items if event.task]
            if failure is not None:
                failures[op.id] = failure
            if failure is not None and failure.task:
                found[op.id] = failure.task
            elif tasks:
                found[op.id] = tasks[-1]  # where it stopped: a timeout's or a cancel's last task
        if found or failures:
            self.post_message(TasksFound(found, failures))

    @on(TasksFound)
    def _tasks_found(self, event: TasksFound) -> None:
        for op_id, task in event.tasks.items():
            if op_id in event.failures:
                self.tasks[op_id] = task  # the failing task wins over the last one seen live
            else:
                self.tasks.setdefault(op_id, task)
        self.failures.update(event.failures)
        self._redraw()

    @on(DataTable.RowHighlighted, "#units")
    def _show_detail(self) -> None:
        self.query_one("#unit-detail", Static).update(self._detail(self.selected))

    def _detail(self, unit: Unit | None) -> Text:
        op = unit.latest_operation if unit else None
        if unit is None or op is None:
            return Text("")
        task = self.tasks.get(op.id)
        parts: list[str | tuple[str, str] | Text] = [(unit.name, "bold"), f" · {op.action} · ", status_text(op.status)]
        if task:
            parts.append(f" at task '{task}'" if op.terminal and op.status != "successful" else f" · task '{task}'")
        if op.requested_by:
            parts.append(f" · by {op.requested_by}")
        failure = self.failures.get(op.id)
        message = op.error or (failure.message if failure else None)
        if message:
            parts.append((f": {message}", "red"))
        return Text.assemble(*parts)

    # -- rendering ----------------------------------------------------------------------------

    def _tick(self) -> None:
        if any(u.latest_operation and u.latest_operation.active for u in self.units.values()):
            self._redraw()

    def _redraw(self) -> None:
        units = sorted(self.units.values(), key=lambda u: u.name)
        unknown = [
            u.latest_operation
            for u in units
            if u.latest_operation
            and u.latest_operation.event_count
            and (u.latest_operation.id not in self.tasks or worth_asking(u.latest_operation))
            and u.latest_operation.id not in self._tasks_asked
            and not u.latest_operation.active
        ]
        if unknown:
            self._tasks_asked.update(op.id for op in unknown)
            self._fetch_tasks(unknown)
        for unit in units:
            op = unit.latest_operation
            if op and op.active and op.action not in self.previous:
                self.previous[op.action] = None  # asked once per action
                self._fetch_previous(op.action, op.id)
        tag = self.job.tag if self.job else ""
        status = job_status(units)
        schedule = self.job.schedule if self.job else None
        self.title = f"Job {self.job_id} · {tag}" + (f" · schedule {schedule}" if schedule else "")
        self.sub_title = status
        summary = Text.assemble(
            ("Job ", "bold"),
            (str(self.job_id), "bold"),
            "  tag ",
            (tag, "bold cyan"),
            "  ",
            status_text(status),
            "  ",
            units_summary(units),
        )
        self.query_one("#job-summary", Static).update(summary)
        self.query_one(UnitsTable).show_units(units, self.console_app.now(), self.previous, self.tasks)
        self._show_detail()

    # -- actions ------------------------------------------------------------------------------

    @property
    def selected(self) -> Unit | None:
        return self.query_one(UnitsTable).selected_unit

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#units")
    def action_open_log(self) -> None:
        unit = self.selected
        op = unit.latest_operation if unit else None
        if op:
            self.console_app.open_operation(op.id)
        elif unit:
            self.notify(f"{unit.name} has no operation yet", timeout=3)

    def action_start_action(self) -> None:
        unit = self.selected
        if unit is not None:
            self._pick_playbook(unit.name)

    @work(exclusive=True, group="job-action", exit_on_error=False)
    async def _pick_playbook(self, unit: str) -> None:
        try:
            playbooks = await self.source.list_playbooks(unit=unit)
        except (ApiError, Unavailable) as exc:
            self.report_error("Playbooks", exc)
            return
        choices = [(p.name, p.name) for p in playbooks]
        remembered = self.console_app.remembered_extravars(unit)
        choice = await self.app.push_screen_wait(ActionScreen(f"Run on {unit}", choices, remembered))
        if choice is not None:
            await self._confirm_and_start([unit], choice, every=False)

    def action_start_each(self) -> None:
        self._pick_each()

    @work(exclusive=True, group="job-action", exit_on_error=False)
    async def _pick_each(self) -> None:
        names = sorted(self.units)
        try:
            playbooks = await self.source.list_playbooks()
        except (ApiError, Unavailable) as exc:
            self.report_error("Playbooks", exc)
            return
        covers: dict[str, list[str]] = {}
        for playbook in playbooks:
            if playbook.component in self.units and playbook.action:
                covers.setdefault(playbook.action, []).append(playbook.component)
        choices = [
            (action, f"{action}  ({len(units)}/{len(names)} units: {', '.join(sorted(units))})")
            for action, units in sorted(covers.items())
        ]
        remembered = self.console_app.remembered_extravars(EVERY_UNIT)
        choice = await self.app.push_screen_wait(ActionScreen("Run on every Unit", choices, remembered))
        if choice is not None:
            await self._confirm_and_start(sorted(covers[choice.action]), choice, every=True)

    async def _confirm_and_start(self, units: list[str], choice: ActionChoice, every: bool) -> None:
        """Starting on every Unit, and any restore, asks first. A restore restores this Job's backups in
        a Job of its own (POST /jobs/{id}/restore), and its question names this Job."""
        self.console_app.remember_extravars(EVERY_UNIT if every else units[0], choice)
        if is_restore(choice.action):
            await self._restore(units, choice)
            return
        if every:
            question = f"Start {choice.action} on every Unit of Job {self.job_id} ({', '.join(units)})?"
            if not await self.app.push_screen_wait(ConfirmScreen(question)):
                self.notify(f"{choice.action}: not started", timeout=3)
                return
            await self._start_every(units, choice)
        else:
            await self._start(units, choice)

    async def _restore(self, units: list[str], choice: ActionChoice) -> None:
        tag = self.job.tag if self.job else "?"
        question = restore_question(self.job_id, tag, units)
        if not await self.app.push_screen_wait(ConfirmScreen(question)):
            self.notify("restore: not started", timeout=3)
            return
        try:
            started = await self.restore_source.restore(self.job_id, units, choice.extravars)
        except ApiError as exc:
            message = restore_refusal(self.job_id, exc.error, exc.message)
            refused = ApiError(exc.status, exc.error, message, exc.field)
            self.report_error(f"Restore from Job {self.job_id} (nothing started)", refused)
            return
        except Unavailable as exc:
            self.report_error(f"Restore from Job {self.job_id} (nothing started)", exc)
            return
        names = ", ".join(op.unit for op in started.items)
        self.notify(f"restore Job {started.job.id} started from Job {self.job_id}: {names}", timeout=4)
        self.console_app.open_job(started.job.id)

    @property
    def restore_source(self) -> RestoreSource:
        return cast(RestoreSource, self.source)

    async def _start_every(self, units: list[str], choice: ActionChoice) -> None:
        """One `/actions` request: every Unit starts, or none does (a busy one names itself)."""
        try:
            ops = await self.source.start_action(
                self.job_id,
                choice.action,
                units,
                extravars=choice.extravars,
                check=choice.check,
                retries=choice.retries,
            )
        except (ApiError, Unavailable) as exc:
            self.report_error(f"{choice.action} on every Unit (nothing started)", exc)
            return
        for op in ops:
            self.post_message(OperationChanged(op))
        self.notify(f"{choice.action} started on {', '.join(op.unit for op in ops)}", timeout=3)

    async def _start(self, units: list[str], choice: ActionChoice) -> None:
        action = choice.action
        results = await asyncio.gather(
            *(
                self.source.start_operation(
                    self.job_id, unit, action, extravars=choice.extravars, check=choice.check, retries=choice.retries
                )
                for unit in units
            ),
            return_exceptions=True,
        )
        started, refused = [], []
        for unit, result in zip(units, results, strict=True):
            if isinstance(result, BaseException):
                reason = result.message if isinstance(result, ApiError) else str(result)
                refused.append(f"{unit}: {reason}")
            else:
                started.append(unit)
                self.post_message(OperationChanged(result))
        if started:
            self.notify(f"{action} started on {', '.join(started)}", timeout=3)
        if refused:
            self.notify("; ".join(refused), severity="error", timeout=6)

    def action_rerun(self) -> None:
        failed = sorted(
            (u.latest_operation for u in self.units.values() if u.latest_operation),
            key=lambda op: op.unit,
        )
        failed = [op for op in failed if op.status in RERUN_STATUSES]
        if not failed:
            self.notify("no Unit's latest Operation failed: nothing to rerun", severity="warning", timeout=3)
            return
        self._rerun(failed)

    @work(exclusive=True, group="job-action", exit_on_error=False)
    async def _rerun(self, latest: list[Operation]) -> None:
        units = [op.unit for op in latest]
        question = rerun_question(self.job_id, latest)
        if self.job is not None and is_restore_job(self.job):
            question = f"{rerun_restore_question(self.job)} {question}"
        if not await self.app.push_screen_wait(ConfirmScreen(question)):
            return
        try:
            ops = await self.source.rerun(self.job_id, units=units)
        except (ApiError, Unavailable) as exc:
            self.report_error("Rerun", exc)
            return
        for op in ops:
            self.post_message(OperationChanged(op))
        started = ", ".join(f"{op.unit} ({op.action})" for op in ops) or "nothing (already rerun?)"
        self.notify(f"rerun: {started}", timeout=3)

    def action_history(self) -> None:
        unit = self.selected
        if unit is not None:
            self.app.push_screen(HistoryScreen(self.job_id, unit.name))

    def action_cancel(self) -> None:
        unit = self.selected
        op = unit.latest_operation if unit else None
        if not unit or not op or not op.active:
            self.notify("nothing running on this unit", severity="warning", timeout=3)
            return
        self.console_app.confirm_cancel(op)

    def action_add_unit(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self._add_unit(name)

        self.app.push_screen(AddUnitScreen(self.job_id), chosen)

    @work(group="job-add-unit", exit_on_error=False)
    async def _add_unit(self, name: str) -> None:
        try:
            unit = await self.source.add_unit(self.job_id, name)
        except (ApiError, Unavailable) as exc:
            self.report_error(f"Add unit {name}", exc)
            return
        self.post_message(JobStreamChange(UnitFrame(unit)))
        self.notify(f"Unit {name} added to Job {self.job_id}", timeout=3)
