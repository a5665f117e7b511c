"""Cursor pagination, newest first: the `next` cursor every list of the API hands out."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .errors import invalid_parameter
from .sql import records

MAX_ID = 2**63 - 1  # the largest id both databases can compare


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid_parameter("cursor", "cursor is not one this server handed out") from exc
    if not text.startswith("id:") or not text[3:].isdigit() or len(text) > 24 or int(text[3:]) > MAX_ID:
        raise invalid_parameter("cursor", "cursor is not one this server handed out")
    return int(text[3:])


def newest_first(
    query: Any, id_field: Any, limit: int, cursor: str | None, plain: bool = False
) -> tuple[list[Any], str | None]:
    """One page of `query`, newest first, and the cursor of the next page (None on the last). With
    `plain`, the rows come as records (sql.records), not models: for the hot lists."""
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(id_field < before)
    query = query.order_by(id_field.desc()).limit(limit + 1)
    found = records(query) if plain else list(query)
    page = found[:limit]
    return page, encode_cursor(page[-1].id) if len(found) > limit else None
