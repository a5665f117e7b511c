"""Page cursors: opaque to clients, and only the ones this server hands out are accepted."""

from __future__ import annotations

import base64

import pytest

from backend.errors import ApiError
from backend.paging import decode_cursor, encode_cursor


@pytest.mark.parametrize("last_id", [1, 42, 2**40])
def test_a_cursor_round_trips_its_id(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert "=" not in cursor
    assert decode_cursor(cursor) == last_id


def test_no_cursor_means_the_first_page() -> None:
    assert decode_cursor(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "Zm9v",  # "foo"
        base64.urlsafe_b64encode(b"id:-1").decode(),
        base64.urlsafe_b64encode(b"id:1x").decode(),
        base64.urlsafe_b64encode(b"id:" + b"9" * 30).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_foreign_cursors_are_an_invalid_parameter(cursor: str) -> None:
    with pytest.raises(ApiError) as info:
        decode_cursor(cursor)
    assert (info.value.status, info.value.error, info.value.field) == (400, "invalid_parameter", "cursor")
