"""The command palette on every screen: the screen's actions, "Open job N", "Open operation N".

Jobs and Operations the console knows (the Job list, the open Job's Units) are offered by name;
any number typed after "job" or "operation" (`job 17`, `op 345`) is offered too, so a Job or an
Operation can be opened from anywhere by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.screens.base import ConsoleScreen

if TYPE_CHECKING:
    from console.app import RedRunnerApp

TYPED_ID = re.compile(r"^\s*(?:open\s+)?(job|operation|op)\s*#?\s*(\d{1,18})\s*$", re.IGNORECASE)

Command = tuple[str, str, Callable[[], Any]]


class ConsoleCommands(Provider):
    @property
    def console_app(self) -> RedRunnerApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[Command]:
        screen = self.screen
        app = self.console_app
        commands: list[Command] = []
        if isinstance(screen, ConsoleScreen):
            for title, help_text, namespace, action in screen.palette_commands():
                commands.append((title, help_text, partial(app.run_action, action, namespace)))
        if hasattr(app, "action_open_schedules"):
            commands.append(("Schedules", "cron schedules: next runs, last Jobs, run now", app.action_open_schedules))
        if hasattr(app, "action_open_backups"):
            commands.append(
                ("Backups", "each component's newest backup, its age, when verified", app.action_open_backups)
            )
        for job in app.known_jobs():
            commands.append((f"Open job {job.id} ({job.tag})", f"status {job.status}", partial(app.open_job, job.id)))
        for op in app.known_operations():
            title = f"Open operation {op.id} ({op.unit} · {op.action})"
            commands.append((title, f"status {op.status}", partial(app.open_operation, op.id)))
        return commands

    def _typed(self, query: str) -> Command | None:
        found = TYPED_ID.match(query)
        if found is None:
            return None
        number = int(found.group(2))
        app = self.console_app
        if found.group(1).lower() == "job":
            return (f"Open job {number}", "by id", partial(app.open_job, number))
        return (f"Open operation {number}", "by id", partial(app.open_operation, number))

    async def discover(self) -> Hits:
        for title, help_text, command in self._commands():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        typed = self._typed(query)
        if typed is not None:
            yield Hit(1.0, typed[0], typed[2], text=typed[0], help=typed[1])
        same = (typed[0], f"{typed[0]} (") if typed is not None else ()
        matcher = self.matcher(query)
        for title, help_text, command in self._commands():
            score = matcher.match(title)
            if score > 0 and not (title in same or (same and title.startswith(same[1]))):
                yield Hit(score, matcher.highlight(title), command, text=title, help=help_text)
