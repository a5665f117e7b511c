"""Jobs: create (or reuse the latest by tag), list, latest, one, delete."""

from __future__ import annotations

from .base import APIHandler

ID = r"(?P<job_id>[^/]+)"


class JobsHandler(APIHandler):
    route_name = "/jobs"

    async def get(self) -> None:
        page = await self.call(
            self.state.queries.jobs,
            self.query("tag"),
            self.query("status"),
            self.page_limit(),
            self.query("cursor"),
        )
        self.write_json(page)

    async def post(self) -> None:
        body = self.body_params()
        job, created = await self.call(
            self.state.commands.create_job,
            body.get("tag"),
            body.get("units"),
            body.get("reuse"),
            body.get("source_job"),
        )
        self.set_header("Location", f"/api/v1/jobs/{job['id']}")
        self.write_json(job, 201 if created else 200)


class LatestJobHandler(APIHandler):
    route_name = "/jobs/latest"

    async def get(self) -> None:
        tag = self.query("tag")
        if tag is None:
            from ..errors import ApiError

            raise ApiError(400, "invalid_tag", "tag is required", "tag")
        self.write_json(await self.call(self.state.queries.latest_job, tag))


class JobHandler(APIHandler):
    route_name = "/jobs/{id}"

    async def get(self, job_id: str) -> None:
        self.write_json(await self.call(self.state.queries.job, self.path_id(job_id, "job_id")))

    async def delete(self, job_id: str) -> None:
        await self.call(self.state.commands.delete_job, self.path_id(job_id, "job_id"))
        self.set_status(204)
        self.clear_header("Content-Type")
        self.finish()


default_handlers = [
    (r"/api/v1/jobs", JobsHandler),
    (r"/api/v1/jobs/latest", LatestJobHandler),
    (rf"/api/v1/jobs/{ID}", JobHandler),
]
