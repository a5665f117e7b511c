"""Messages that workers post to screens; workers never touch widgets themselves."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from console.client import ConnectionState, Job, JobFrame, Operation, SnapshotFrame, UnitFrame
from console.failure import Failure


@dataclass
class ConnectionChanged(Message):
    """A stream's connection state changed (the latest state supersedes any queued one)."""

    state: ConnectionState

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ConnectionChanged)


@dataclass
class JobsSnapshot(Message):
    """The full Job list (after each (re)connect of the home stream)."""

    jobs: list[Job]


@dataclass
class JobUpdated(Message):
    job: Job


@dataclass
class JobStreamChange(Message):
    """A `snapshot`, `job` or Unit `status` frame of `/jobs/{id}/stream`."""

    frame: SnapshotFrame | UnitFrame | JobFrame


@dataclass
class LogAppended(Message):
    """New lines are in the LogStore; repeats merge since the widget reads the store's length."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogAppended)


@dataclass
class OperationChanged(Message):
    operation: Operation


@dataclass
class PreviousDuration(Message):
    """How long the previous successful run of an action took, for ETAs."""

    action: str
    seconds: float | None


@dataclass
class TasksFound(Message):
    """The task each Operation was at, read from its stored events (not only live ones); for a run that
    ended badly, the task that failed and why (`failures`)."""

    tasks: dict[int, str]
    failures: dict[int, Failure] = field(default_factory=dict)
