"""Backups: list them (GET /backups), and restore a backup Job's in a Job of their own."""

from __future__ import annotations

from typing import Any

from .. import backup_records
from ..restores import start_restore
from .base import APIHandler
from .jobs import ID


class BackupsHandler(APIHandler):
    route_name = "/backups"

    async def get(self) -> None:
        page = await self.call(
            backup_records.listing,
            self.state.settings.keep,
            self.query("tag"),
            self.query("unit"),
            self.page_limit(),
            self.query("cursor"),
        )
        self.write_json(page)


class RestoreHandler(APIHandler):
    route_name = "/jobs/{id}/restore"

    async def post(self, job_id: str) -> None:
        jid = self.path_id(job_id, "job_id")
        body = self.body_params()
        result = await self.call(self._start, jid, body)
        self.set_header("Location", f"/api/v1/jobs/{result['job']['id']}")
        self.write_json(result, 202)

    def _start(self, job_id: int, body: dict[str, Any]) -> dict[str, Any]:
        dispatcher = self.state.dispatcher
        result = start_restore(self.state.commands, job_id, body, dispatcher.accepting)
        dispatcher.kick()
        return result


default_handlers = [
    (r"/api/v1/backups", BackupsHandler),
    (rf"/api/v1/jobs/{ID}/restore", RestoreHandler),
]
