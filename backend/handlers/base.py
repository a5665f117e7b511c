"""The base handlers: JSON bodies, bearer auth, and the error envelope on every error path."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl

from tornado import httputil, web
from tornado.ioloop import IOLoop

from ..errors import ApiError
from ..validation import int_param, strict_json

if TYPE_CHECKING:
    from ..app import AppState

log = logging.getLogger(__name__)
T = TypeVar("T")

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
        return self.settings["redrunner"]

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
                message = httputil.responses.get(status_code, "error")
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
            "message": httputil.responses.get(status_code, "error"),
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


class APIHandler(HandlerMixin, web.RequestHandler):
    """JSON in, JSON out."""

    _started: float = 0.0

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        self._started = time.perf_counter()
        self.check_auth()
        length = self.request.headers.get("Content-Length")
        limit = self.state.settings.max_body_size
        if (length and length.isdigit() and int(length) > limit) or len(self.request.body or b"") > limit:
            raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")

    def on_finish(self) -> None:
        route = getattr(self, "route_name", type(self).__name__)
        self.state.metrics.http_latency.labels(
            method=self.request.method or "", route=route, status=str(self.get_status())
        ).observe(time.perf_counter() - (self._started or time.perf_counter()))

    # -- input ------------------------------------------------------------------------------------

    def body_params(self) -> dict[str, Any]:
        """The request body as a dict: a JSON object, or form fields (lists and objects as JSON text)."""
        body = self.request.body or b""
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

    def path_id(self, value: str, field: str) -> int:
        return int_param(value, field, 0, 1, 2**63 - 1)

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value))


class NotFoundHandler(APIHandler):
    """The catch-all: unknown paths get the envelope, not an HTML page."""

    async def prepare(self) -> None:
        self._started = time.perf_counter()
        raise ApiError(404, "not_found", f"no route {self.request.path}")
