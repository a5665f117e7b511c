"""WebSocket routes. The handler only wires a connection's lifecycle; the protocol lives in ..streams."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado import web, websocket

from ..errors import ApiError
from ..streams import JobStream, OperationStream, TagStream, dumps
from ..validation import check_tag, int_param
from .base import HandlerMixin

log = logging.getLogger(__name__)


class StreamHandler(HandlerMixin, websocket.WebSocketHandler):
    kind = "stream"
    _task: asyncio.Task[None] | None = None
    _closed = False

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    async def prepare(self) -> None:
        self.check_request_origin()
        self.check_auth()
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "websocket_required", "this route is a WebSocket stream: send an Upgrade request")

    def check_origin(self, origin: str) -> bool:
        # prepare() has checked Origin already (check_request_origin), with the envelope on refusal.
        return True

    # -- the Connection protocol used by ..streams -----------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(dumps(frame))

    async def send_text(self, text: str) -> None:
        if self._closed:
            return
        try:
            await self.write_message(text)
        except websocket.WebSocketClosedError:
            self._closed = True

    def closed(self) -> bool:
        return self._closed

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.state.metrics.websocket_clients.labels(stream=self.kind).inc()
        self.state.connections.add(self)
        self._task = asyncio.ensure_future(self._serve())

    async def _serve(self) -> None:
        try:
            await self.protocol().run()
        except ApiError as exc:
            await self.send({"type": "error", "data": exc.envelope()})
            self.close(1011 if exc.status >= 500 else 1008, exc.error)
        except Exception:
            log.exception("stream %s failed", self.request.path)
            if not self._closed:
                await self.send(
                    {
                        "type": "error",
                        "data": {"status": 500, "error": "internal_error", "message": "the stream failed; reconnect"},
                    }
                )
                self.close(1011, "internal error")

    def protocol(self) -> Any:
        raise NotImplementedError

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code == 1013:
            self.state.metrics.websocket_overflows.inc()
        if not self._closed:
            self._closed = True
            super().close(code, reason)

    def on_message(self, message: str | bytes) -> None:
        # Streams are one-way; anything a client sends is ignored.
        return None

    def on_close(self) -> None:
        self._closed = True
        self.state.connections.discard(self)
        self.state.metrics.websocket_clients.labels(stream=self.kind).dec()
        if self._task is not None and not self._task.done():
            self._task.cancel()


class OperationStreamHandler(StreamHandler):
    kind = "operation"

    async def get(self, op_id: str) -> None:
        self.op_id = int_param(op_id, "operation_id", 0, 1, 2**63 - 1)
        self.after = int_param(self.get_query_argument("after", None), "after", 0, 0, 2**31 - 1)
        await self.call(self.state.queries.operation, self.op_id)  # 404 before the upgrade
        await super().get(op_id)

    def protocol(self) -> OperationStream:
        return OperationStream(
            self.state.bus,
            self.call,
            self.state.queries,
            self,
            self.op_id,
            self.after,
            self.state.settings.ws_queue_limit,
        )


class JobStreamHandler(StreamHandler):
    kind = "job"

    async def get(self, job_id: str) -> None:
        self.job_id = int_param(job_id, "job_id", 0, 1, 2**63 - 1)
        await self.call(self.state.queries.job, self.job_id)
        await super().get(job_id)

    def protocol(self) -> JobStream:
        return JobStream(
            self.state.bus, self.call, self.state.queries, self, self.job_id, self.state.settings.ws_queue_limit
        )


class TagStreamHandler(StreamHandler):
    kind = "tag"

    async def get(self) -> None:
        tag = self.get_query_argument("tag", None)
        self.tag = check_tag(tag) if tag not in (None, "") else None
        await super().get()

    def protocol(self) -> TagStream:
        return TagStream(self.state.bus, self, self.tag, self.state.settings.ws_queue_limit)


default_handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (r"/api/v1/operations/(?P<op_id>[^/]+)/stream", OperationStreamHandler),
    (r"/api/v1/jobs/(?P<job_id>[^/]+)/stream", JobStreamHandler),
    (r"/api/v1/stream", TagStreamHandler),
]
