"""Event data kept under its size limit, serialized once: what is stored is what is published."""

from __future__ import annotations

import json
from pathlib import Path

from backend.runner import event_data_json, trim_event_data


def test_small_data_is_kept_as_it_is_and_serialized_once() -> None:
    data = {"host": "localhost", "res": {"msg": "ok", "changed": True}}
    kept, text = event_data_json(data, 10_000)
    assert kept is data
    assert json.loads(text) == data


def test_values_json_lacks_are_published_as_the_text_that_is_stored() -> None:
    data = {"path": Path("/srv/data"), "n": 1}
    kept, text = event_data_json(data, 10_000)
    assert kept == json.loads(text) == {"path": "/srv/data", "n": 1}


def test_bulky_results_lose_their_output_first_and_say_so() -> None:
    data = {
        "host": "db",
        "task": "dump",
        "res": {"msg": "done", "rc": 0, "changed": True, "stdout": "x" * 50_000, "stdout_lines": ["x"] * 5000},
    }
    kept, text = event_data_json(data, 8_000)
    assert len(text) <= 8_000
    assert kept["host"] == "db" and kept["task"] == "dump"
    res = kept["res"]
    assert res["_redrunner_trimmed"] is True
    assert (res["msg"], res["rc"], res["changed"]) == ("done", 0, True)
    assert res["stdout"] == "x" * 1000  # an eighth of the limit
    assert "stdout_lines" not in res


def test_data_still_too_big_keeps_only_where_the_event_happened() -> None:
    data = {"host": "db", "task": "t", "play": "p", "uuid": "u", "huge": "y" * 20_000, "res": "not a dict"}
    trimmed = trim_event_data(data, 1_000)
    assert trimmed == {"host": "db", "task": "t", "play": "p", "uuid": "u", "_redrunner_trimmed": True}


def test_data_under_the_limit_is_not_copied() -> None:
    data = {"host": "db"}
    assert trim_event_data(data, 100) is data
