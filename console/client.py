"""The console's only connection to a RedRunner server: HTTP through httpx, streams through websockets.

Nothing here knows about Textual, so the UI can be swapped and this module tested on its own.
Answers and frames are parsed here into the typed values of `console.models` and `console.frames`
(re-exported below), so no caller reads a raw dict.
Streams reconnect by themselves with exponential backoff and report their connection state
through a callback; the Operation stream resumes with `after=` so no line is lost or repeated.
A follower waits longer after each close that brought no new event (to at most 5 s: a server that
closes every connection at once is not hammered) and refuses a frame over 16 MiB.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode

from console.access_client import AccessCalls
from console.answers import MAX_FRAME_BYTES, ApiError, Backoff, Unavailable, not_redrunner, raise_for
from console.backups import Backup, RestoreStarted
from console.frames import (
    EndFrame,
    ErrorFrame,
    EventFrame,
    Frame,
    JobDeletedFrame,
    JobFrame,
    JobsSnapshotFrame,
    OperationFrame,
    OtherFrame,
    SnapshotFrame,
    UnitFrame,
    parse_frame,
)
from console.models import (
    ACTIVE,
    TERMINAL,
    Event,
    EventsPage,
    Job,
    Operation,
    Playbook,
    Progress,
    Schedule,
    Stats,
    Unit,
    WireError,
    items_of,
)
from console.models import Delivery as Delivery
from console.models import Webhook as Webhook
from console.timefmt import parse_ts

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "ApiError",
    "Backoff",
    "ConnectionState",
    "EndFrame",
    "ErrorFrame",
    "Event",
    "EventFrame",
    "EventsPage",
    "Frame",
    "Job",
    "JobDeletedFrame",
    "JobFrame",
    "JobsSnapshotFrame",
    "Operation",
    "OperationFrame",
    "OtherFrame",
    "Playbook",
    "Progress",
    "RedRunnerClient",
    "Schedule",
    "SnapshotFrame",
    "Stats",
    "Unavailable",
    "Unit",
    "UnitFrame",
    "operation_duration",
    "parse_frame",
]

T = TypeVar("T")

Phase = Literal["connecting", "connected", "reconnecting", "closed", "failed"]


@dataclass(frozen=True)
class ConnectionState:
    """Where a stream stands; `retry_in` is set while waiting to reconnect."""

    phase: Phase
    attempt: int = 0
    retry_in: float | None = None
    detail: str = ""


StateCallback = Callable[[ConnectionState], None]


class RedRunnerClient(AccessCalls):
    """Typed access to the `/api/v1` routes of one server."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 15.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self._backoff = backoff
        self._http: httpx.AsyncClient | None = None
        parts = urlsplit(self.url)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        self._ws_base = urlunsplit((scheme, parts.netloc, parts.path, "", ""))

    # -- plumbing -------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _client(self) -> httpx.AsyncClient:
        # Created lazily so it binds to the event loop that actually uses it (the app's).
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=f"{self.url}/api/v1/", headers=self.headers, timeout=self.timeout)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client().request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"{self.url}: {exc.__class__.__name__} {exc}".strip()) from exc
        raise_for(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    async def _typed(self, parse: Callable[[Any], T], method: str, path: str, **kwargs: Any) -> T:
        """The answer parsed into its model; a body without the contract's shape is an ApiError."""
        response = await self._request(method, path, **kwargs)
        if not response.headers.get("content-type", "").startswith("application/json"):
            raise not_redrunner(response)
        try:
            return parse(response.json())
        except (ValueError, WireError) as exc:
            raise ApiError(response.status_code, "invalid_response", f"{method} {path}: {exc}") from exc

    @staticmethod
    def _params(**params: Any) -> dict[str, Any]:
        return {k: v for k, v in params.items() if v is not None and v != ""}

    # -- Jobs and Units ---------------------------------------------------------------------

    async def list_jobs(self, tag: str | None = None, status: str | None = None, limit: int = 50) -> list[Job]:
        params = self._params(tag=tag, status=status, limit=limit)
        return await self._typed(lambda body: [Job.from_wire(j) for j in items_of(body)], "GET", "jobs", params=params)

    async def get_job(self, job_id: int) -> Job:
        return await self._typed(Job.from_wire, "GET", f"jobs/{job_id}")

    async def create_job(self, tag: str, units: list[str] | None = None, *, reuse_latest: bool = False) -> Job:
        """A new Job; with `reuse_latest`, the newest Job with the tag if there is one (units added)."""
        body: dict[str, Any] = {"tag": tag}
        if units:
            body["units"] = units
        if reuse_latest:
            body["reuse"] = "latest"
        return await self._typed(Job.from_wire, "POST", "jobs", json=body)

    async def add_unit(self, job_id: int, name: str) -> Unit:
        return await self._typed(Unit.from_wire, "POST", f"jobs/{job_id}/units", json={"name": name})

    # -- Operations -------------------------------------------------------------------------

    async def start_operation(
        self,
        job_id: int,
        unit: str,
        action: str,
        *,
        extravars: Mapping[str, Any] | None = None,
        queue: bool = False,
        timeout: float | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> Operation:
        body = _run_request(action, extravars, queue, timeout, check, retries)
        return await self._typed(Operation.from_wire, "POST", f"jobs/{job_id}/units/{unit}", json=body)

    async def start_action(
        self,
        job_id: int,
        action: str,
        units: list[str] | None = None,
        *,
        extravars: Mapping[str, Any] | None = None,
        queue: bool = False,
        timeout: float | None = None,
        check: bool = False,
        retries: int = 0,
    ) -> list[Operation]:
        """`action` on every listed Unit (all of the Job's by default), all or nothing."""
        body = _run_request(action, extravars, queue, timeout, check, retries)
        if units:
            body["units"] = units
        return await self._typed(_operations, "POST", f"jobs/{job_id}/actions", json=body)

    async def rerun(
        self, job_id: int, statuses: list[str] | None = None, units: list[str] | None = None
    ) -> list[Operation]:
        """Start again each Unit's latest Operation that ended in one of `statuses` (the server's default)."""
        body: dict[str, Any] = {}
        if statuses:
            body["statuses"] = statuses
        if units:
            body["units"] = units
        return await self._typed(_operations, "POST", f"jobs/{job_id}/rerun", json=body)

    async def list_backups(self, tag: str | None = None, unit: str | None = None, limit: int = 50) -> list[Backup]:
        """Backups newest first, with whether retention keeps each and when a drill verified it."""
        params = self._params(tag=tag, unit=unit, limit=limit)
        return await self._typed(lambda b: [Backup.from_wire(x) for x in items_of(b)], "GET", "backups", params=params)

    async def restore(
        self, job_id: int, units: list[str] | None = None, extravars: Any = None, partial: bool = False
    ) -> RestoreStarted:
        """Backup Job `job_id`'s backups restored in a new Job tagged restore (POST /jobs/{id}/restore);
        `partial` restores those whose sealed backups pass the server's check (the others: `skipped`)."""
        given = (("units", units), ("extravars", extravars), ("partial", partial))
        body = {key: value for key, value in given if value}
        return await self._typed(RestoreStarted.from_wire, "POST", f"jobs/{job_id}/restore", json=body)

    async def get_operation(self, op_id: int) -> Operation:
        return await self._typed(Operation.from_wire, "GET", f"operations/{op_id}")

    async def wait_operation(self, op_id: int, wait: float) -> Operation:
        """The Operation as soon as it is terminal, or after `wait` seconds (at most 60) as it is then."""
        seconds = max(1, min(60, int(wait)))
        params = {"wait": seconds}
        path = f"operations/{op_id}"
        return await self._typed(Operation.from_wire, "GET", path, params=params, timeout=seconds + self.timeout)

    async def stdout(self, op_id: int, *, ansi: bool = False) -> str:
        """The playbook's whole output so far: plain text, or with ansible's colour codes when `ansi`."""
        params = {"ansi": "true"} if ansi else {}
        response = await self._request("GET", f"operations/{op_id}/stdout", params=params)
        if not response.headers.get("content-type", "").startswith("text/plain"):
            raise not_redrunner(response)
        return response.text

    async def list_operations(
        self,
        *,
        job_id: int | None = None,
        unit: str | None = None,
        status: str | None = None,
        action: str | None = None,
        limit: int = 50,
    ) -> list[Operation]:
        params = self._params(job_id=job_id, unit=unit, status=status, action=action, limit=limit)
        return await self._typed(_operations, "GET", "operations", params=params)

    async def cancel_operation(self, op_id: int) -> None:
        await self._request("POST", f"operations/{op_id}/cancel", json={})

    async def events(self, op_id: int, after: int = 0, limit: int = 500) -> EventsPage:
        params = {"after": after, "limit": limit}
        return await self._typed(EventsPage.from_wire, "GET", f"operations/{op_id}/events", params=params)

    # -- Schedules --------------------------------------------------------------------------

    async def list_schedules(self) -> list[Schedule]:
        return await self._typed(lambda body: [Schedule.from_wire(x) for x in items_of(body)], "GET", "schedules")

    async def create_schedule(self, schedule: Mapping[str, Any]) -> Schedule:
        return await self._typed(Schedule.from_wire, "POST", "schedules", json=dict(schedule))

    async def set_schedule_enabled(self, name: str, enabled: bool) -> Schedule:
        return await self._typed(Schedule.from_wire, "PATCH", f"schedules/{name}", json={"enabled": enabled})

    async def update_schedule(self, name: str, changes: Mapping[str, Any]) -> Schedule:
        """PATCH: only the fields given change (any but `name`)."""
        return await self._typed(Schedule.from_wire, "PATCH", f"schedules/{name}", json=dict(changes))

    async def delete_schedule(self, name: str) -> None:
        await self._request("DELETE", f"schedules/{name}")

    async def run_schedule(self, name: str) -> Job:
        """Fire the Schedule now: the new Job, its action started on every Unit."""
        return await self._typed(Job.from_wire, "POST", f"schedules/{name}/run", json={})

    # -- Webhooks ---------------------------------------------------------------------------

    async def list_webhooks(self) -> list[Webhook]:
        return await self._typed(lambda body: [Webhook.from_wire(x) for x in items_of(body)], "GET", "webhooks")

    async def create_webhook(self, webhook: Mapping[str, Any]) -> Webhook:
        return await self._typed(Webhook.from_wire, "POST", "webhooks", json=dict(webhook))

    async def delete_webhook(self, hook_id: int) -> None:
        await self._request("DELETE", f"webhooks/{hook_id}")

    async def test_webhook(self, hook_id: int) -> Delivery:
        """Queue a `webhook.test` delivery; it is sent like any other (see `deliveries`)."""
        return await self._typed(Delivery.from_wire, "POST", f"webhooks/{hook_id}/test", json={})

    async def deliveries(self, hook_id: int, limit: int = 50) -> list[Delivery]:
        return await self._typed(
            lambda body: [Delivery.from_wire(x) for x in items_of(body)],
            "GET",
            f"webhooks/{hook_id}/deliveries",
            params={"limit": limit},
        )

    async def list_playbooks(self, unit: str | None = None) -> list[Playbook]:
        params = self._params(unit=unit)
        return await self._typed(
            lambda body: [Playbook.from_wire(p) for p in items_of(body)], "GET", "playbooks", params=params
        )

    async def previous_duration(self, action: str, before_id: int | None = None) -> float | None:
        """Seconds the newest successful run of `action` took (the ETA's yardstick), or None."""
        for op in await self.list_operations(action=action, status="successful", limit=5):
            if before_id is not None and op.id >= before_id:
                continue
            return operation_duration(op)
        return None

    # -- streams ----------------------------------------------------------------------------

    def _ws_url(self, path: str, params: Mapping[str, Any]) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
        return f"{self._ws_base}/api/v1/{path}" + (f"?{query}" if query else "")

    async def _follow(
        self,
        path: str,
        params: Callable[[], Mapping[str, Any]],
        on_state: StateCallback,
        on_open: Callable[[], Awaitable[list[Frame]]] | None = None,
        fresh: Callable[[Frame], bool] | None = None,
    ) -> AsyncIterator[Frame]:
        """Frames of one stream across reconnects, until an `end` frame or a permanent refusal.

        `fresh` says whether a frame is news (default: any but a snapshot); the frames every connection
        opens with (a snapshot, the current status) are not. Only a connection that brought news
        resets the backoff, or reconnects at once after a 1013."""
        is_fresh = fresh or (lambda frame: not isinstance(frame, SnapshotFrame | JobsSnapshotFrame))
        backoff = self._backoff()
        attempt = 0
        while True:
            on_state(ConnectionState("connecting" if attempt == 0 else "reconnecting", attempt))
            detail = ""
            retry_now = False
            progressed = False
            try:
                async with connect(
                    self._ws_url(path, params()),
                    additional_headers=self.headers,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=self.timeout,
                    proxy=None,
                ) as ws:
                    attempt = 0
                    on_state(ConnectionState("connected"))
                    if on_open is not None:
                        for frame in await on_open():
                            yield frame
                    async for raw in ws:
                        try:
                            frame = parse_frame(json.loads(raw))
                        except (ValueError, WireError) as exc:
                            err = ApiError(0, "invalid_frame", f"{path}: {exc}")
                            on_state(ConnectionState("failed", detail=err.message))
                            raise err from exc
                        if not progressed and is_fresh(frame):
                            progressed = True
                            backoff.reset()
                        yield frame
                        if isinstance(frame, EndFrame):
                            on_state(ConnectionState("closed", detail="ended"))
                            return
                    detail = f"closed by server ({ws.close_code})"
                    # 1013: we were too slow and the server dropped us; catching up is the cure.
                    retry_now = ws.close_code == 1013
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (400, 401, 403, 404):
                    try:
                        body = json.loads(exc.response.body or b"{}")
                    except ValueError:
                        body = {}
                    err = ApiError(status, body.get("error", "refused"), body.get("message", str(exc)))
                    on_state(ConnectionState("failed", detail=err.message))
                    raise err from exc
                detail = f"refused ({status})"
            except ConnectionClosed as exc:
                if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                    # The same frame would come again after a reconnect: refuse the stream.
                    err = ApiError(0, "frame_too_big", f"{path}: a frame over {MAX_FRAME_BYTES} bytes was refused")
                    on_state(ConnectionState("failed", detail=err.message))
                    raise err from exc
                code = exc.rcvd.code if exc.rcvd is not None else None
                detail = f"connection lost ({code})" if code else "connection lost"
                retry_now = code == 1013
            except (OSError, InvalidHandshake, TimeoutError, ApiError, Unavailable) as exc:
                detail = f"{exc.__class__.__name__}: {exc}".rstrip(": ")
            attempt += 1
            # 1013 after news: we were only too slow, and catching up is the cure.
            delay = 0.0 if retry_now and progressed else backoff.next_delay()
            on_state(ConnectionState("reconnecting", attempt, delay, detail))
            await asyncio.sleep(delay)

    def follow_jobs(self, on_state: StateCallback, tag: str | None = None) -> AsyncIterator[Frame]:
        """`/stream`: first a `snapshot` frame `{"items": [Job...]}` (re-sent after each reconnect,
        read after subscribing so nothing falls between), then `job` frames."""

        async def snapshot() -> list[Frame]:
            return [JobsSnapshotFrame(await self.list_jobs(tag=tag))]

        return self._follow("stream", lambda: {"tag": tag}, on_state, snapshot)

    def follow_job(self, job_id: int, on_state: StateCallback) -> AsyncIterator[Frame]:
        """`/jobs/{id}/stream`: a `snapshot` of the Job after each (re)connect, then `status`/`event`."""
        return self._follow(f"jobs/{job_id}/stream", dict, on_state)

    async def follow_operation(self, op_id: int, on_state: StateCallback, after: int = 0) -> AsyncIterator[Frame]:
        """`/operations/{id}/stream`: each event exactly once, in seq order, across reconnects."""
        seen = {"after": after}

        def fresh(frame: Frame) -> bool:
            return isinstance(frame, EventFrame) and frame.seq > seen["after"]

        async for frame in self._follow(f"operations/{op_id}/stream", lambda: dict(seen), on_state, fresh=fresh):
            if isinstance(frame, EventFrame):
                if frame.seq <= seen["after"]:
                    continue  # already seen before a reconnect
                seen["after"] = frame.seq
            yield frame


def _operations(body: Any) -> list[Operation]:
    return [Operation.from_wire(o) for o in items_of(body)]


def _run_request(
    action: str,
    extravars: Mapping[str, Any] | None,
    queue: bool,
    timeout: float | None,
    check: bool,
    retries: int = 0,
) -> dict[str, Any]:
    """The body shared by one-Unit starts and `/actions`: only what the caller set."""
    body: dict[str, Any] = {"action": action}
    if extravars:
        body["extravars"] = dict(extravars)
    if queue:
        body["queue"] = True
    if timeout is not None:
        body["timeout"] = timeout
    if check:
        body["check"] = True
    if retries:
        body["retries"] = retries
    return body


def operation_duration(op: Operation) -> float | None:
    """Seconds from start to finish, from `duration` when the server gives it."""
    if op.duration is not None:
        return op.duration
    start, end = parse_ts(op.started_at), parse_ts(op.finished_at)
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
