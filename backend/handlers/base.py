"""The base handlers: JSON bodies, bearer auth, and the error envelope on every error path."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from http.client import responses
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl

from tornado import httputil, web
from tornado.ioloop import IOLoop

from ..config import is_loopback, normalize_origin
from ..errors import ApiError
from ..names import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from ..validation import int_param, strict_json

if TYPE_CHECKING:
    from ..state import AppState

log = logging.getLogger(__name__)
T = TypeVar("T")

# Metric labels come from fixed sets: a made-up method name must not grow /metrics without bound.
METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A refused request's body is read and dropped up to this size, after the answer went out, so a client that
# sends its whole body before reading still reads the answer instead of a connection reset. Larger ones
# (and chunked ones) get the connection closed after the answer.
DRAIN_LIMIT = 64 * 1024 * 1024

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    500: "internal_error",
    503: "unavailable",
}


def public(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler method as open without the token (probes)."""
    method.__redrunner_public__ = True  # type: ignore[attr-defined]
    return method


class HandlerMixin:
    """What every handler shares, HTTP or WebSocket: state, auth, the envelope."""

    request: httputil.HTTPServerRequest
    settings: dict[str, Any]

    @property
    def state(self) -> AppState:
        state: AppState = self.settings["redrunner"]
        return state

    def check_request_origin(self) -> None:
        """Refuse cross-site requests (a foreign Origin) and, on a loopback listen, foreign Host names (DNS
        rebinding): a web page must not drive the API through a browser on the operator's machine."""
        settings = self.state.settings
        host = self.request.host or ""
        if is_loopback(settings.host) and ("," in host or not is_loopback(_host_name(host))):
            raise ApiError(403, "forbidden_host", "this server answers loopback names only (Host header)")
        origin = self.request.headers.get("Origin")
        if origin is None:
            return  # not sent by a browser on another site: curl, the console, the Ansible modules
        given = normalize_origin(origin)
        own = normalize_origin(f"{self.request.protocol}://{host}")
        if given is None or (given != own and given not in settings.allowed_origins):
            raise ApiError(
                403, "forbidden_origin", f"requests from origin {origin[:200]!r} are not allowed (--allowed-origins)"
            )

    def check_auth(self) -> None:
        token = self.state.settings.token
        if not token:
            return
        method = getattr(self, self.request.method.lower(), None) if self.request.method else None
        if method is not None and getattr(method, "__redrunner_public__", False):
            return
        header = self.request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(401, "unauthorized", "a valid bearer token is required")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking (database) work in the database thread pool, never on the IOLoop."""
        return await IOLoop.current().run_in_executor(self.state.db_pool, fn, *args)

    # -- the error envelope, for HTTP and for WebSocket routes refused before the upgrade -------------

    def _handle_request_exception(self, e: BaseException) -> None:
        handler = cast(web.RequestHandler, self)
        if isinstance(e, ApiError):
            if handler._finished:
                return
            handler.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)  # type: ignore[misc]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        handler = cast(web.RequestHandler, self)
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code >= 500 and not isinstance(exc, ApiError | web.HTTPError):
            log.error(
                "unhandled error in %s %s", self.request.method, self.request.path, exc_info=kwargs.get("exc_info")
            )
        handler.clear_header("Content-Disposition")
        handler.set_header("Content-Type", "application/json; charset=utf-8")
        body = self.envelope_for(status_code, exc)
        if body["status"] != status_code:
            handler.set_status(int(body["status"]))
        if status_code == 401:
            handler.set_header("WWW-Authenticate", 'Bearer realm="redrunner"')
        if status_code == 405:
            handler.set_header("Allow", ", ".join(self.allowed_methods()))
        handler.finish(json.dumps(body))

    def allowed_methods(self) -> list[str]:
        """The methods this handler implements: RFC 9110 wants them in the Allow header of a 405."""
        return [
            m
            for m in web.RequestHandler.SUPPORTED_METHODS
            if getattr(type(self), m.lower(), None) is not getattr(web.RequestHandler, m.lower(), None)
        ]

    def envelope_for(self, status_code: int, exc: BaseException | None) -> dict[str, Any]:
        if isinstance(exc, ApiError):
            return exc.envelope()
        if isinstance(exc, web.HTTPError):
            if status_code == 400 and (exc.log_message or "").startswith("Invalid body"):
                return self._unparsable_body_envelope()
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            if not message:
                message = responses.get(status_code, "error")
            return {"status": status_code, "error": DEFAULT_CODES.get(status_code, "error"), "message": message}
        if status_code >= 500:
            return {
                "status": status_code,
                "error": "internal_error",
                "message": "the server failed to handle this request; see its log",
            }
        return {
            "status": status_code,
            "error": DEFAULT_CODES.get(status_code, "error"),
            "message": responses.get(status_code, "error"),
        }

    def _unparsable_body_envelope(self) -> dict[str, Any]:
        """Tornado parses multipart and form bodies itself, before prepare(), and fails with a bare 400."""
        ctype = (self.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype.startswith("multipart/"):
            return {
                "status": 415,
                "error": "unsupported_media_type",
                "message": "send application/json or application/x-www-form-urlencoded",
            }
        return {"status": 400, "error": "invalid_form", "message": "request body is not valid form data"}


def _host_name(host: str) -> str:
    """The name part of a Host header: `[::1]:8787` -> `::1`, `127.0.0.1:8787` -> `127.0.0.1`."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@web.stream_request_body
class APIHandler(HandlerMixin, web.RequestHandler):
    """JSON in, JSON out. The body streams in (stream_request_body) so that Origin, auth and the declared
    length are all checked on the headers, before a byte of the body is read or kept."""

    _started: float = 0.0
    _chunks: list[bytes]
    _received: int = 0
    _too_large: bool = False
    _dropping: bool = False

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        self._started = time.perf_counter()
        self._chunks = []
        try:
            self.check_request_origin()
            self.check_auth()
            limit = self.state.settings.max_body_size
            if self._declared_length() > limit:
                raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")
        except ApiError as exc:
            self._refuse_before_body(exc)

    def _declared_length(self) -> int:
        length = self.request.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else 0

    def _refuse_before_body(self, exc: ApiError) -> None:
        """Answer now. Then drop a modest declared body as it arrives (so the client reads the answer, not a
        reset), or close the connection after the answer; either way nothing of the body is kept."""
        length = self._declared_length()
        expects_continue = "100-continue" in self.request.headers.get("Expect", "").lower()
        if not 0 < length <= DRAIN_LIMIT or expects_continue:
            raise exc
        self._dropping = True
        self.set_status(exc.status)
        body = json.dumps(exc.envelope()).encode()
        if exc.status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="redrunner"')
        self.set_header("Content-Length", str(len(body)))
        self.set_header("Connection", "close")
        self.write(body)
        self.flush()
        # The handler method must not run once the dropped body is in: finish instead.
        setattr(self, (self.request.method or "get").lower(), self._finish_refused)

    def _finish_refused(self, *args: Any, **kwargs: Any) -> None:
        self.finish()

    def data_received(self, chunk: bytes) -> None:
        if self._dropping or self._too_large or self._finished:
            return
        self._received += len(chunk)
        if self._received > self.state.settings.max_body_size:
            # A chunked body (no Content-Length) grew past the limit: keep nothing, answer 413 at its end.
            self._too_large = True
            self._chunks = []
            return
        self._chunks.append(chunk)
        if self._received == self._declared_length():
            self.request.body = b"".join(self._chunks)

    def on_finish(self) -> None:
        route = getattr(self, "route_name", type(self).__name__)
        self.state.metrics.http_latency.labels(
            method=method_label(self.request.method), route=route, status=str(self.get_status())
        ).observe(time.perf_counter() - (self._started or time.perf_counter()))

    # -- input ------------------------------------------------------------------------------------

    def body_params(self) -> dict[str, Any]:
        """The request body as a dict: a JSON object, or form fields (lists and objects as JSON text)."""
        if self._too_large:
            limit = self.state.settings.max_body_size
            raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")
        body = b"".join(self._chunks)
        ctype = (self.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not body.strip():
            return {}
        if ctype in ("", "application/json") or ctype.endswith("+json"):
            try:
                value = strict_json(body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ApiError(400, "invalid_json", "request body is not UTF-8") from exc
            except ValueError as exc:
                raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise ApiError(400, "invalid_json", "request body must be a JSON object")
            return value
        if ctype == "application/x-www-form-urlencoded":
            try:
                text = body.decode("utf-8")
                pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
            except (UnicodeDecodeError, ValueError) as exc:
                raise ApiError(400, "invalid_form", "request body is not valid form data") from exc
            form: dict[str, Any] = {}
            for key, value in pairs:
                if "\x00" in key or "\x00" in value:
                    raise ApiError(400, "invalid_form", "form data may not contain NUL bytes", key)
                form[key] = value
            return form
        raise ApiError(415, "unsupported_media_type", "send application/json or application/x-www-form-urlencoded")

    def query(self, name: str) -> str | None:
        values = self.request.query_arguments.get(name)
        if not values:
            return None
        try:
            text = values[-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "invalid_parameter", f"{name} is not UTF-8", name) from exc
        if "\x00" in text:
            raise ApiError(400, "invalid_parameter", f"{name} may not contain NUL bytes", name)
        return text

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        return int_param(self.query(name), name, default, low, high)

    def page_limit(self) -> int:
        """The `limit` of a list request."""
        return self.query_int("limit", PAGE_LIMIT_DEFAULT, 1, PAGE_LIMIT_MAX)

    def path_id(self, value: str, field: str) -> int:
        return int_param(value, field, 0, 1, 2**63 - 1)

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value))


def method_label(method: str | None) -> str:
    return method if method in METRIC_METHODS else "other"


class NotFoundHandler(APIHandler):
    """The catch-all: unknown paths get the envelope, not an HTML page."""

    async def prepare(self) -> None:
        self._started = time.perf_counter()
        raise ApiError(404, "not_found", f"no route {self.request.path}")
