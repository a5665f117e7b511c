"""A Job's status, derived from its Units' latest Operations (api.md: Job.status)."""

from __future__ import annotations

import pytest

from backend.serialize import derive_job_status
from backend.statuses import JobStatus, OperationStatus


def test_a_job_without_operations_is_new() -> None:
    assert derive_job_status([], any_active=False) == JobStatus.NEW


def test_any_active_operation_makes_the_job_running_whatever_the_others_did() -> None:
    assert derive_job_status(["failed", "successful"], any_active=True) == JobStatus.RUNNING
    assert derive_job_status([], any_active=True) == JobStatus.RUNNING


def test_a_job_whose_latest_operations_all_succeeded_is_successful() -> None:
    assert derive_job_status(["successful", "successful"], any_active=False) == JobStatus.SUCCESSFUL


@pytest.mark.parametrize("other", sorted(set(OperationStatus) - {OperationStatus.SUCCESSFUL}))
def test_one_unit_not_successful_makes_the_job_failed(other: OperationStatus) -> None:
    assert derive_job_status(["successful", str(other)], any_active=False) == JobStatus.FAILED
