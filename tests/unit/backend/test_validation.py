"""Client input checks, in-process: each bad value is an ApiError naming its field, each good one passes through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.errors import ApiError
from backend.validation import (
    check_extravars,
    check_tag,
    check_timeout,
    check_unit_list,
    check_unit_name,
    int_param,
    resolve_action,
    strict_json,
)


def error_of(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize("tag", ["backup", "b", "nightly:2026-11.a_b", "x" * 128])
def test_good_tags_pass_through(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", "a b", "x" * 129, None, 5, "tag/x"])
def test_bad_tags_are_invalid_tag(tag: Any) -> None:
    err = error_of(check_tag, tag)
    assert (err.status, err.error, err.field) == (400, "invalid_tag", "tag")


@pytest.mark.parametrize("name", ["db", "web-1", "a.b_c", "x" * 63])
def test_good_unit_names_pass_through(name: str) -> None:
    assert check_unit_name(name) == name


@pytest.mark.parametrize("name", ["", ".db", "db/x", "x" * 64, "db:1", None])
def test_bad_unit_names_are_invalid_unit_name(name: Any) -> None:
    assert error_of(check_unit_name, name).error == "invalid_unit_name"


def test_unit_lists_come_as_lists_or_json_text_and_lose_duplicates() -> None:
    assert check_unit_list(None) == []
    assert check_unit_list(["db", "web", "db"]) == ["db", "web"]
    assert check_unit_list('["db", "web"]') == ["db", "web"]


@pytest.mark.parametrize("units", ["db", '{"a": 1}', "[1]", ["db", "../x"], ["u"] * 1001, '["a", NaN]'])
def test_bad_unit_lists_name_the_units_field(units: Any) -> None:
    err = error_of(check_unit_list, units)
    assert err.status == 400 and err.field == "units"


def test_strict_json_refuses_nan_and_infinity() -> None:
    assert strict_json('{"a": 1.5}') == {"a": 1.5}
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}'):
        with pytest.raises(ValueError):
            strict_json(text)


def test_extravars_come_as_objects_or_json_text() -> None:
    assert check_extravars(None) == {}
    assert check_extravars({"a": [1, 2]}) == {"a": [1, 2]}
    assert check_extravars('{"files_path": "/srv"}') == {"files_path": "/srv"}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("[1]", "invalid_extravars"),
        ("not json", "invalid_extravars"),
        ({"bad-name": 1}, "invalid_extravars"),
        ({"x": "y" * 300_000}, "invalid_extravars"),
        ({"redrunner_unit": "other"}, "reserved_extravar"),
    ],
)
def test_bad_extravars_are_refused_with_their_reason(value: Any, error: str) -> None:
    err = error_of(check_extravars, value)
    assert (err.error, err.field) == (error, "extravars")


@pytest.mark.parametrize(("value", "seconds"), [(None, None), ("", None), (2, 2.0), ("0.5", 0.5), (604800, 604800.0)])
def test_timeouts_are_positive_seconds(value: Any, seconds: float | None) -> None:
    assert check_timeout(value) == seconds


@pytest.mark.parametrize("value", [0, -1, True, "soon", float("nan"), float("inf"), 604801, [1]])
def test_bad_timeouts_are_invalid_timeout(value: Any) -> None:
    assert error_of(check_timeout, value).error == "invalid_timeout"


def test_int_params_are_bounded_decimal_integers() -> None:
    assert int_param(None, "limit", 100, 1, 1000) == 100
    assert int_param("7", "limit", 100, 1, 1000) == 7
    for raw in ("0", "1001", "-1", "1e3", " 7", "7.0", "9" * 19):
        err = error_of(int_param, raw, "limit", 100, 1, 1000)
        assert (err.error, err.field) == ("invalid_parameter", "limit")


def test_actions_resolve_to_a_playbook_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "backup-db.yml").write_text("- hosts: localhost\n")
    (project / "site.yaml").write_text("- hosts: localhost\n")
    assert resolve_action(project, "backup", "db") == "backup-db.yml"
    assert resolve_action(project, "backup-db.yml", "web") == "backup-db.yml"
    assert resolve_action(project, "site.yaml", "db") == "site.yaml"


def test_actions_outside_the_project_or_missing_are_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "evil.yml").write_text("- hosts: localhost\n")
    (project / "link.yml").symlink_to(tmp_path / "evil.yml")
    (project / "dir.yml").mkdir()
    assert error_of(resolve_action, project, "../evil.yml", "db").error == "invalid_action"
    assert error_of(resolve_action, project, "link.yml", "db").error == "invalid_action"
    assert error_of(resolve_action, project, "", "db").error == "invalid_action"
    assert error_of(resolve_action, project, 5, "db").error == "invalid_action"
    assert error_of(resolve_action, project, "restore", "db").status == 404
    assert error_of(resolve_action, project, "dir.yml", "db").error == "playbook_not_found"
