"""The status vocabulary of the API, defined once: every module, the console and the tests import it.

`StrEnum` members compare equal to their wire strings, so rows read from the database and JSON from
clients need no conversion before a comparison.
"""

from __future__ import annotations

from enum import StrEnum


class OperationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    LOST = "lost"
    ERROR = "error"


class JobStatus(StrEnum):
    NEW = "new"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"


#: A Unit reports its latest Operation's status, or this one when it has none.
UNIT_IDLE = "idle"

#: Operations that hold their Unit: at most one running per Unit, and a pending one waits its turn.
ACTIVE: frozenset[OperationStatus] = frozenset({OperationStatus.PENDING, OperationStatus.RUNNING})
#: Statuses that never change again.
TERMINAL: frozenset[OperationStatus] = frozenset(set(OperationStatus) - ACTIVE)
