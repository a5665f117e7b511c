"""Retry chains: when an ended Operation gets a next attempt.

The next attempt is inserted in the same transaction that makes its predecessor terminal (the writer's
commit, or marking Operations lost), so no crash can fall between the end and the retry: the chain
survives a restart and a replica's death. It is created `pending` at once, holding its Unit, with a
`not_before` that the dispatchers respect, so the delay needs no timer that a restart would lose.
"""

from __future__ import annotations

from .statuses import OperationStatus

#: The endings that get another attempt while retries are left. `error` (could not start) is not
#: retried: the same request would fail the same way.
RETRYABLE = frozenset({OperationStatus.FAILED, OperationStatus.TIMEOUT, OperationStatus.LOST})
#: The error a shutdown gives the runs it stops (Executor.cancel_all): not a cancel request, so the chain
#: goes on after the restart (or on another replica).
SHUTDOWN_ERROR = "server shutdown"


def wants_retry(status: str, attempt: int, retries: int, cancel_requested: bool, error: str | None) -> bool:
    """Whether an Operation that just ended so is followed by attempt + 1.

    A cancel request ends the chain whatever the run's ending (a cancel may race with a failure)."""
    if cancel_requested or attempt > retries:
        return False
    if status in RETRYABLE:
        return True
    return status == OperationStatus.CANCELED and error == SHUTDOWN_ERROR
