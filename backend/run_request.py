"""What a caller asks an Operation to do, checked once: one Unit's POST and /actions share it.

A retry and a rerun repeat the stored request (real extravars, not the redacted ones a response shows),
so every field here is also a column of the Operation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .db import Operation
from .errors import ApiError, invalid_parameter
from .names import MAX_RETRIES, MAX_RETRY_DELAY
from .statuses import OperationStatus
from .validation import check_bool, check_extravars, check_timeout, strict_json

DEFAULT_RETRY_DELAY = 10.0
#: What /rerun starts again unless told otherwise: every way an Operation can end but `successful`.
RERUN_DEFAULT = frozenset(
    {
        OperationStatus.FAILED,
        OperationStatus.TIMEOUT,
        OperationStatus.LOST,
        OperationStatus.ERROR,
        OperationStatus.CANCELED,
    }
)
TERMINAL_WORDS = sorted(str(s) for s in OperationStatus if s not in (OperationStatus.PENDING, OperationStatus.RUNNING))


@dataclass(frozen=True)
class RunRequest:
    """The checked request; `action` is still as given (a file name, or a shorthand resolved per Unit)."""

    action: Any
    extravars: dict[str, Any]
    timeout: float | None
    queue: bool = False
    check: bool = False
    diff: bool = False
    retries: int = 0
    retry_delay: float = DEFAULT_RETRY_DELAY


def check_retries(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise invalid_parameter("retries", f"retries must be an integer from 0 to {MAX_RETRIES}")
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 3:
            raise invalid_parameter("retries", f"retries must be an integer from 0 to {MAX_RETRIES}")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise invalid_parameter("retries", f"retries must be an integer from 0 to {MAX_RETRIES}")
    return value


def check_retry_delay(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_RETRY_DELAY
    if isinstance(value, bool):
        raise invalid_parameter("retry_delay", "retry_delay must be a number of seconds >= 0")
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise invalid_parameter("retry_delay", "retry_delay must be a number of seconds >= 0") from exc
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_RETRY_DELAY:
        raise invalid_parameter("retry_delay", "retry_delay must be a number of seconds >= 0 (at most a day)")
    return seconds


def require_action(body: dict[str, Any]) -> Any:
    if body.get("action") is None:
        raise ApiError(400, "invalid_action", "action is required", "action")
    return body["action"]


def parse_run_request(body: dict[str, Any], allow_templated: bool = False) -> RunRequest:
    """Check a request body's run fields; the action is resolved per Unit by commands.py."""
    return RunRequest(
        action=require_action(body),
        extravars=check_extravars(body.get("extravars"), allow_templated),
        timeout=check_timeout(body.get("timeout")),
        queue=check_bool(body.get("queue"), "queue"),
        check=check_bool(body.get("check"), "check"),
        diff=check_bool(body.get("diff"), "diff"),
        retries=check_retries(body.get("retries")),
        retry_delay=check_retry_delay(body.get("retry_delay")),
    )


def stored_request(op: Operation) -> RunRequest:
    """The request an Operation was started with, from its row: real extravars, its resolved playbook."""
    return RunRequest(
        action=op.action,
        extravars=json.loads(op.extravars or "{}"),
        timeout=op.timeout,
        queue=False,
        check=bool(op.check_mode),
        diff=bool(op.diff_mode),
        retries=int(op.retries or 0),
        retry_delay=float(op.retry_delay if op.retry_delay is not None else DEFAULT_RETRY_DELAY),
    )


def check_statuses(value: Any) -> frozenset[str]:
    """/rerun's `statuses`: terminal status words (a JSON list in a form body); default RERUN_DEFAULT."""
    if value is None:
        return frozenset(str(s) for s in RERUN_DEFAULT)
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError as exc:
            raise invalid_parameter("statuses", "statuses must be a list of status words") from exc
    if not isinstance(value, list) or not value or len(value) > 20:
        raise invalid_parameter("statuses", f"statuses must be a non-empty list of {', '.join(TERMINAL_WORDS)}")
    for word in value:
        if word not in TERMINAL_WORDS:
            raise invalid_parameter("statuses", f"statuses must be a list of {', '.join(TERMINAL_WORDS)}")
    return frozenset(value)
