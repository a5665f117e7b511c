"""Log records as one line each: JSON when not on a terminal, with job/operation ids when known."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from .timeutil import iso

CONTEXT_FIELDS = ("job_id", "operation_id", "method", "path", "status", "duration_ms", "remote_ip", "audit")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k))
        base = f"{iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        text = f"{base} {extra}" if extra else base
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(fmt: str, level: str) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # ansible-runner logs every event at debug through its own loggers; keep them quiet.
    logging.getLogger("ansible-runner").setLevel(logging.WARNING)


def log_request(handler: Any) -> None:
    """Tornado's log_function: one access-log line per request, without query strings (may carry data)."""
    status = handler.get_status()
    request = handler.request
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if request.path in ("/healthz", "/readyz", "/metrics") and status < 400:
        level = logging.DEBUG
    logging.getLogger("redrunner.access").log(
        level,
        "%s %s %d",
        request.method,
        request.path,
        status,
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(request.request_time() * 1000, 2),
            "remote_ip": request.remote_ip,
        },
    )
