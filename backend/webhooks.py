"""Webhooks: registering them, listing their deliveries, and the Standard Webhooks signature.

The secret (`whsec_<base64>`) is stored to sign with, and never leaves the server: responses say
`has_secret`, and no log line carries it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from .db import Delivery, Webhook
from .errors import ApiError
from .outbox import EVENTS, JOB_FINISHED, record_test
from .paging import newest_first
from .sql import write_transaction
from .timeutil import iso, now
from .validation import check_tag, strict_json
from .webhook_targets import TargetPolicy, TargetRefused, split_url

SECRET_PREFIX = "whsec_"
MAX_URL = 2000


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the secret's decoded bytes."""
    key = base64.b64decode(secret)
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def check_url(value: Any, policy: TargetPolicy) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_URL or re.search(r"[\s\x00-\x1f\x7f]", value):
        raise ApiError(400, "invalid_url", "url must be an http or https address", "url")
    try:
        parts = split_url(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_url", str(exc), "url") from exc
    try:
        policy.vet(parts)
    except TargetRefused as exc:
        raise ApiError(400, "invalid_url", f"url: {exc}", "url") from exc
    except OSError:
        pass  # a name that does not resolve yet: every attempt checks again
    return value


def _json_list(value: Any, field: str) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except ValueError as exc:
            raise ApiError(400, f"invalid_{field}", f"{field} must be a JSON list", field) from exc
    if not isinstance(value, list) or len(value) > 100:
        raise ApiError(400, f"invalid_{field}", f"{field} must be a list of at most 100 items", field)
    return value


def check_events(value: Any) -> list[str]:
    events = _json_list(value, "events")
    if events is None:
        return [JOB_FINISHED]
    if not events or any(e not in EVENTS for e in events):
        raise ApiError(400, "invalid_events", f"events must be a non-empty list of {', '.join(EVENTS)}", "events")
    return sorted(set(events), key=events.index)


def check_tags(value: Any) -> list[str] | None:
    tags = _json_list(value, "tags")
    if tags is None:
        return None
    return [check_tag(t, "tags") for t in tags]


def check_secret(value: Any) -> str | None:
    """The key bytes, base64, of a `whsec_<base64>` secret (16 to 128 bytes)."""
    if value is None or value == "":
        return None
    message = "secret must be whsec_ followed by the base64 of 16 to 128 random bytes"
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX) or len(value) > 400:
        raise ApiError(400, "invalid_secret", message, "secret")
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_secret", message, "secret") from exc
    if not 16 <= len(key) <= 128:
        raise ApiError(400, "invalid_secret", message, "secret")
    return base64.b64encode(key).decode()


def webhook_dict(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": json.loads(hook.events),
        "tags": json.loads(hook.tags) if hook.tags else None,
        "has_secret": bool(hook.secret),
        "created_at": iso(hook.created_at),
    }


def delivery_dict(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "response_status": d.response_status,
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "delivered_at": iso(d.delivered_at),
    }


class WebhookService:
    def __init__(self, policy: TargetPolicy | None = None) -> None:
        self.policy = policy or TargetPolicy()

    def _hook_or_404(self, hook_id: int) -> Webhook:
        hook = Webhook.get_or_none(Webhook.id == hook_id)
        if hook is None:
            raise ApiError(404, "webhook_not_found", f"no webhook {hook_id}")
        return hook

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        hook = Webhook.create(
            url=check_url(body.get("url"), self.policy),
            events=json.dumps(check_events(body.get("events"))),
            tags=json.dumps(tags) if (tags := check_tags(body.get("tags"))) is not None else None,
            secret=check_secret(body.get("secret")),
            created_at=now(),
        )
        return webhook_dict(hook)

    def listing(self, limit: int, cursor: str | None) -> dict[str, Any]:
        page, next_cursor = newest_first(Webhook.select(), Webhook.id, limit, cursor)
        return {"items": [webhook_dict(h) for h in page], "next": next_cursor}

    def get(self, hook_id: int) -> dict[str, Any]:
        return webhook_dict(self._hook_or_404(hook_id))

    def delete(self, hook_id: int) -> None:
        with write_transaction():
            self._hook_or_404(hook_id)
            Delivery.delete().where(Delivery.webhook == hook_id).execute()
            Webhook.delete().where(Webhook.id == hook_id).execute()

    def test(self, hook_id: int) -> dict[str, Any]:
        """A `webhook.test` delivery queued to this webhook through the outbox: the sender's path, not a shortcut."""
        with write_transaction():
            self._hook_or_404(hook_id)
            return delivery_dict(record_test(hook_id))

    def deliveries(self, hook_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        self._hook_or_404(hook_id)
        query = Delivery.select().where(Delivery.webhook == hook_id)
        page, next_cursor = newest_first(query, Delivery.id, limit, cursor)
        return {"items": [delivery_dict(d) for d in page], "next": next_cursor}
