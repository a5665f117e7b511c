"""The server's settings come from one table (backend/config.py FLAGS): each Settings field has a flag
with its REDRUNNER_* variable, or is named internal."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import pytest

from backend.config import FLAGS, INTERNAL, Settings, add_serve_arguments, settings_from_args

FIELDS = {f.name for f in dataclasses.fields(Settings)}
# Made by settings_from_args from more than their flag (a fallback, a file, a derived path).
DERIVED = {"data_dir", "state_dir", "database", "token", "replica_id"}


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser()
    add_serve_arguments(made)
    return made


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("REDRUNNER_")]:
        monkeypatch.delenv(name)


def test_every_setting_has_a_flag_or_is_internal() -> None:
    flagged = {f.setting for f in FLAGS}
    assert flagged <= FIELDS, flagged - FIELDS
    assert INTERNAL <= FIELDS, INTERNAL - FIELDS
    assert not flagged & INTERNAL
    assert FIELDS - flagged - INTERNAL == set()


def test_flags_and_variables_are_unique_and_in_the_help() -> None:
    assert len({f.flag for f in FLAGS}) == len(FLAGS)
    assert len({f.env for f in FLAGS}) == len(FLAGS)
    text = parser().format_help()
    for f in FLAGS:
        assert f.flag in text and f"REDRUNNER_{f.env}" in text, f.flag


def test_defaults_agree_with_the_settings_dataclass(clean_env: None) -> None:
    """With no flag and no variable, every setting is the Settings default (the two are written apart)."""
    made = settings_from_args(parser().parse_args([]))
    plain = Settings()
    for f in FLAGS:
        if f.setting not in DERIVED:
            assert getattr(made, f.setting) == getattr(plain, f.setting), f.flag


def test_a_variable_is_the_default_and_a_flag_wins(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDRUNNER_MAX_EVENTS", "7")
    monkeypatch.setenv("REDRUNNER_NO_AUTH", "on")
    monkeypatch.setenv("REDRUNNER_BACKUP_ROOT", "/srv/backups")
    made = settings_from_args(parser().parse_args(["--workers", "3"]))
    assert (made.max_events_per_operation, made.no_auth, made.workers) == (7, True, 3)
    assert made.backup_root == Path("/srv/backups")
    assert settings_from_args(parser().parse_args(["--max-events", "9"])).max_events_per_operation == 9
