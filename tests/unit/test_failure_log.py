"""The retry loops' logging: one traceback per distinct cause, a reminder a minute, the recovery."""

from __future__ import annotations

import logging

import pytest

from backend.failure_log import RepeatedFailure


def fail(failures: RepeatedFailure, message: str) -> None:
    try:
        raise OSError(message)
    except OSError as exc:
        failures.failed(exc)


def test_a_repeating_failure_logs_its_traceback_once_then_reminders_then_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = RepeatedFailure(logging.getLogger("rr.test"), "claiming deliveries", repeat_every=3600.0)
    with caplog.at_level(logging.WARNING, "rr.test"):
        for _ in range(50):
            fail(failures, "disk I/O error")
        assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None
        # Another cause is news: its traceback is logged too.
        fail(failures, "no such table: delivery")
        assert len(caplog.records) == 2 and caplog.records[1].exc_info is not None
        failures.repeat_every = 0.0
        fail(failures, "no such table: delivery")
        assert "still failing" in caplog.records[2].getMessage() and "(52 tries)" in caplog.records[2].getMessage()
        assert caplog.records[2].exc_info is None
        failures.succeeded()
        assert "works again" in caplog.records[3].getMessage()
        failures.succeeded()
        assert len(caplog.records) == 4
        fail(failures, "disk I/O error")
        assert caplog.records[4].exc_info is not None
