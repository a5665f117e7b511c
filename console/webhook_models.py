"""The wire models of webhooks and their deliveries (api.md "Notifications"), beside console/models.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.models import Wire, WireError, WireModel, _bool, _int, _obj, _opt_int, _opt_str, _opt_text, _str


@dataclass(frozen=True)
class Webhook(WireModel):
    """Where notifications go; the secret never comes back, only whether there is one."""

    id: int
    url: str = ""
    events: list[str] = field(default_factory=list)
    tags: list[str] | None = None
    has_secret: bool = False
    created_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Webhook:
        d = _obj(data, "webhook")
        if "id" not in d:
            raise WireError("webhook: no id")
        events, tags = d.get("events") or [], d.get("tags")
        if not isinstance(events, list) or not (tags is None or isinstance(tags, list)):
            raise WireError("events and tags: expected lists")
        return cls(
            id=_int(d, "id"),
            url=_str(d, "url"),
            events=[str(e) for e in events],
            tags=None if tags is None else [str(t) for t in tags],
            has_secret=_bool(d, "has_secret"),
            created_at=_opt_str(d, "created_at"),
            raw=d,
        )


@dataclass(frozen=True)
class Delivery(WireModel):
    """One event to one webhook, with its count of attempts."""

    id: int
    webhook_id: int = 0
    event: str = ""
    status: str = "pending"
    attempts: int = 0
    response_status: int | None = None
    last_error: str | None = None
    created_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Delivery:
        d = _obj(data, "delivery")
        if "id" not in d:
            raise WireError("delivery: no id")
        return cls(
            id=_int(d, "id"),
            webhook_id=_int(d, "webhook_id"),
            event=_str(d, "event"),
            status=_str(d, "status", "pending"),
            attempts=_int(d, "attempts"),
            response_status=_opt_int(d, "response_status"),
            last_error=_opt_text(d, "last_error"),
            created_at=_opt_str(d, "created_at"),
            next_attempt_at=_opt_str(d, "next_attempt_at"),
            delivered_at=_opt_str(d, "delivered_at"),
            raw=d,
        )
