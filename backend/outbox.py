"""The webhook outbox: a Delivery row per matching webhook, written inside the caller's transaction.

Called from the very transaction that commits the status change (a Job leaving `running`, an Operation
becoming terminal), so the change and its notifications commit together or not at all: a crash can
neither lose a notification of a committed change nor invent one for a change that rolled back.
The sender (`delivery.py`) sends them later, from any replica.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .db import Delivery
from .sql import records_sql
from .timeutil import iso, now

JOB_FINISHED = "job.finished"
OPERATION_FINISHED = "operation.finished"
EVENTS = (JOB_FINISHED, OPERATION_FINISHED)
# Sent only on request (`POST /webhooks/{id}/test`), to the one webhook named, whatever it subscribes to.
WEBHOOK_TEST = "webhook.test"


def _wants(hook: Any, event: str, tag: str | None) -> bool:
    if event not in json.loads(hook.events or "[]"):
        return False
    tags = json.loads(hook.tags) if hook.tags else None
    return tags is None or tag in tags


def record(event: str, tag: str | None, data: Callable[[], dict[str, Any]]) -> int:
    """Queue `event` for every webhook that wants it; `data` (the Job or Operation) is built only if one does.

    Must run inside the write transaction of the change. Returns how many deliveries were queued."""
    # Asked at the end of every Operation, webhooks or not: a plain statement, not built by peewee.
    hooks = [h for h in records_sql('SELECT id, events, tags FROM "webhook"', []) if _wants(h, event, tag)]
    if not hooks:
        return 0
    at = now()
    # One body for every webhook and every attempt: the signature covers exactly these bytes.
    body = json.dumps({"type": event, "timestamp": iso(at), "data": data()})
    for hook in hooks:
        Delivery.create(webhook=hook.id, event=event, body=body, created_at=at, next_attempt_at=at)
    return len(hooks)


def record_test(hook_id: int) -> Delivery:
    """Queue a `webhook.test` delivery to one webhook, sent, signed and retried like any other."""
    at = now()
    body = json.dumps({"type": WEBHOOK_TEST, "timestamp": iso(at), "data": {"webhook_id": hook_id}})
    return Delivery.create(webhook=hook_id, event=WEBHOOK_TEST, body=body, created_at=at, next_attempt_at=at)
