"""Schedules: create, list, one, change, delete, and fire one now (POST /schedules/{name}/run)."""

from __future__ import annotations

from .base import APIHandler

NAME = r"(?P<name>[^/]+)"


class SchedulesHandler(APIHandler):
    route_name = "/schedules"

    async def get(self) -> None:
        page = await self.call(self.state.schedules.listing, self.page_limit(), self.query("cursor"))
        self.write_json(page)

    async def post(self) -> None:
        schedule = await self.call(self.state.schedules.create, self.body_params())
        self.set_header("Location", f"/api/v1/schedules/{schedule['name']}")
        self.write_json(schedule, 201)


class ScheduleHandler(APIHandler):
    route_name = "/schedules/{name}"

    async def get(self, name: str) -> None:
        self.write_json(await self.call(self.state.schedules.get, name))

    async def patch(self, name: str) -> None:
        self.write_json(await self.call(self.state.schedules.update, name, self.body_params()))

    async def delete(self, name: str) -> None:
        await self.call(self.state.schedules.delete, name)
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()


class ScheduleRunHandler(APIHandler):
    route_name = "/schedules/{name}/run"

    async def post(self, name: str) -> None:
        job = await self.call(self.state.scheduler.run_now, name)
        self.set_header("Location", f"/api/v1/jobs/{job['id']}")
        self.write_json(job, 201)


default_handlers = [
    (r"/api/v1/schedules", SchedulesHandler),
    (rf"/api/v1/schedules/{NAME}", ScheduleHandler),
    (rf"/api/v1/schedules/{NAME}/run", ScheduleRunHandler),
]
