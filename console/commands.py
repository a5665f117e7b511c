"""The command palette: every key binding of the current screen, plus the Jobs on the home screen."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.screens.base import ConsoleScreen

if TYPE_CHECKING:
    from console.app import RedRunnerApp


class ConsoleCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        commands: list[tuple[str, str, object]] = []
        if isinstance(screen, ConsoleScreen):
            for title, help_text, action in screen.palette_commands():
                commands.append((title, help_text, partial(screen.run_action, action)))
        from console.screens.home import HomeScreen

        if isinstance(screen, HomeScreen):
            app: RedRunnerApp = screen.console_app
            for job in screen.jobs_table.jobs.values():
                commands.append(
                    (
                        f"Open job {job.id} ({job.tag})",
                        f"status {job.status}",
                        partial(app.open_job, job.id),
                    )
                )
        return commands

    async def discover(self) -> Hits:
        for title, help_text, command in self._commands():
            yield DiscoveryHit(title, command, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, text=title, help=help_text)  # type: ignore[arg-type]
