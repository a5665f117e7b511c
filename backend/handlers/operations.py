"""Operations: list, one (with the ?wait= long-poll), events, stdout, cancel."""

from __future__ import annotations

from ..names import EVENT_PAGE_LIMIT_DEFAULT, EVENT_PAGE_LIMIT_MAX
from ..streams import wait_for_operation
from ..validation import check_bool
from .base import APIHandler

ID = r"(?P<op_id>[^/]+)"


class OperationsHandler(APIHandler):
    route_name = "/operations"

    async def get(self) -> None:
        job_id = self.query("job_id")
        page = await self.call(
            self.state.queries.operations,
            self.query_int("job_id", 0, 1, 2**63 - 1) if job_id is not None else None,
            self.query("unit"),
            self.query("status"),
            self.query("action"),
            self.page_limit(),
            self.query("cursor"),
        )
        self.write_json(page)


class OperationHandler(APIHandler):
    route_name = "/operations/{id}"

    async def get(self, op_id: str) -> None:
        oid = self.path_id(op_id, "operation_id")
        wait = self.query_int("wait", 0, 0, 60)
        self.write_json(await wait_for_operation(self.state.bus, self.call, self.state.queries, oid, wait, self.gone))

    def gone(self) -> bool:
        """The client hung up: stop waiting for it."""
        return self.request.connection is None


class EventsHandler(APIHandler):
    route_name = "/operations/{id}/events"

    async def get(self, op_id: str) -> None:
        page = await self.call(
            self.state.queries.events,
            self.path_id(op_id, "operation_id"),
            self.query_int("after", 0, 0, 2**31 - 1),
            self.query_int("limit", EVENT_PAGE_LIMIT_DEFAULT, 1, EVENT_PAGE_LIMIT_MAX),
        )
        self.write_json(page)


class StdoutHandler(APIHandler):
    route_name = "/operations/{id}/stdout"

    async def get(self, op_id: str) -> None:
        oid = self.path_id(op_id, "operation_id")
        ansi = check_bool(self.query("ansi"), "ansi")
        chunks = await self.call(self.state.queries.stdout_chunks, oid, ansi)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        first = await self.call(next, chunks, None)  # raises 404 before any byte is sent
        while first is not None:
            self.write(first)
            await self.flush()
            first = await self.call(next, chunks, None)
        self.finish()


class CancelHandler(APIHandler):
    route_name = "/operations/{id}/cancel"

    async def post(self, op_id: str) -> None:
        oid = self.path_id(op_id, "operation_id")
        self.write_json(await self.call(self.state.dispatcher.cancel, oid), 202)


default_handlers = [
    (r"/api/v1/operations", OperationsHandler),
    (rf"/api/v1/operations/{ID}", OperationHandler),
    (rf"/api/v1/operations/{ID}/events", EventsHandler),
    (rf"/api/v1/operations/{ID}/stdout", StdoutHandler),
    (rf"/api/v1/operations/{ID}/cancel", CancelHandler),
]
