"""Units of a Job, and starting Operations: in one Unit, in many (/actions), again (/rerun)."""

from __future__ import annotations

from .base import APIHandler
from .jobs import ID

NAME = r"(?P<name>[^/]+)"


class UnitsHandler(APIHandler):
    route_name = "/jobs/{id}/units"

    async def get(self, job_id: str) -> None:
        self.write_json(await self.call(self.state.queries.units, self.path_id(job_id, "job_id")))

    async def post(self, job_id: str) -> None:
        jid = self.path_id(job_id, "job_id")
        body = self.body_params()
        unit, created = await self.call(self.state.commands.add_unit, jid, body.get("name"))
        self.set_header("Location", f"/api/v1/jobs/{jid}/units/{unit['name']}")
        self.write_json(unit, 201 if created else 200)


class UnitHandler(APIHandler):
    route_name = "/jobs/{id}/units/{name}"

    async def get(self, job_id: str, name: str) -> None:
        self.write_json(await self.call(self.state.queries.unit, self.path_id(job_id, "job_id"), name))

    async def post(self, job_id: str, name: str) -> None:
        jid = self.path_id(job_id, "job_id")
        body = self.body_params()
        op = await self.call(self.state.dispatcher.start_operation, jid, name, body)
        self.set_header("Location", f"/api/v1/operations/{op['id']}")
        self.write_json(op, 202)


class ActionsHandler(APIHandler):
    route_name = "/jobs/{id}/actions"

    async def post(self, job_id: str) -> None:
        jid = self.path_id(job_id, "job_id")
        body = self.body_params()
        ops = await self.call(self.state.dispatcher.start_actions, jid, body)
        self.write_json({"items": ops}, 202)


class RerunHandler(APIHandler):
    route_name = "/jobs/{id}/rerun"

    async def post(self, job_id: str) -> None:
        jid = self.path_id(job_id, "job_id")
        body = self.body_params()
        ops = await self.call(self.state.dispatcher.rerun, jid, body.get("statuses"), body.get("units"))
        self.write_json({"items": ops}, 202 if ops else 200)


default_handlers = [
    (rf"/api/v1/jobs/{ID}/units", UnitsHandler),
    (rf"/api/v1/jobs/{ID}/units/{NAME}", UnitHandler),
    (rf"/api/v1/jobs/{ID}/actions", ActionsHandler),
    (rf"/api/v1/jobs/{ID}/rerun", RerunHandler),
]
