"""Pure checks of run requests and the retry rule, in process."""

from __future__ import annotations

import pytest

from backend.errors import ApiError
from backend.retries import SHUTDOWN_ERROR, wants_retry
from backend.run_request import check_retries, check_retry_delay, check_statuses, parse_run_request
from backend.runner import mode_args


@pytest.mark.parametrize(
    ("status", "attempt", "retries", "cancel", "error", "expected"),
    [
        ("failed", 1, 1, False, None, True),
        ("timeout", 2, 3, False, None, True),
        ("lost", 1, 1, False, "its server stopped", True),
        ("failed", 2, 1, False, None, False),  # retries used up
        ("failed", 1, 0, False, None, False),  # none asked for
        ("error", 1, 3, False, "runner error", False),  # could not start: the same again would fail
        ("successful", 1, 3, False, None, False),
        ("canceled", 1, 3, True, "canceled on request", False),
        ("failed", 1, 3, True, None, False),  # a cancel request that raced with the failure ends the chain
        ("lost", 1, 3, True, None, False),
        ("canceled", 1, 3, False, SHUTDOWN_ERROR, True),  # stopped by a shutdown: goes on after the restart
    ],
)
def test_which_endings_get_another_attempt(
    status: str, attempt: int, retries: int, cancel: bool, error: str | None, expected: bool
) -> None:
    assert wants_retry(status, attempt, retries, cancel, error) is expected


def test_retries_and_delay_are_checked_not_clamped() -> None:
    assert check_retries(None) == 0 and check_retries("3") == 3 and check_retries(10) == 10 and check_retries(2.0) == 2
    for bad in (11, -1, 1.5, True, "x", "1e1", [1]):
        with pytest.raises(ApiError) as err:
            check_retries(bad)
        assert err.value.field == "retries"
    assert check_retry_delay(None) == 10.0 and check_retry_delay("0") == 0.0 and check_retry_delay(2.5) == 2.5
    for bad in (-0.1, float("nan"), float("inf"), "soon", False, 86401):
        with pytest.raises(ApiError):
            check_retry_delay(bad)


def test_rerun_statuses() -> None:
    assert check_statuses(None) == {"failed", "timeout", "lost", "error", "canceled"}
    assert check_statuses('["timeout"]') == {"timeout"}
    for bad in ([], ["pending"], "failed", '["nope"]', [1], "[", {"a": 1}):
        with pytest.raises(ApiError):
            check_statuses(bad)


def test_a_run_request_from_a_form() -> None:
    req = parse_run_request({"action": "x", "check": "true", "diff": "false", "retries": "2", "retry_delay": "0.5"})
    assert (req.check, req.diff, req.retries, req.retry_delay, req.queue) == (True, False, 2, 0.5, False)
    with pytest.raises(ApiError):
        parse_run_request({"check": True})


def test_modes_become_ansible_playbook_flags() -> None:
    assert mode_args(False, False) is None
    assert mode_args(True, False) == "--check"
    assert mode_args(True, True) == "--check --diff"
    assert mode_args(False, True) == "--diff"
