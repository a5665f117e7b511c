"""WebSocket frames as typed values: one class per frame kind, parsed at the client boundary.

The wire has `{"type": "event"|"status"|"snapshot"|"end"|"error"|"job"|"job_deleted", ...}`; a
`status` frame carries an Operation or a Unit, told apart by its `kind` (`operation`/`unit`) when
the server sends one, else by the Operation's `action` field (servers before `kind`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.models import Event, Job, Operation, Unit, WireError


@dataclass(frozen=True)
class EventFrame:
    operation_id: int
    seq: int
    event: Event


@dataclass(frozen=True)
class OperationFrame:
    """An Operation's new state (`status` frames, and the first frame of an Operation stream)."""

    operation: Operation


@dataclass(frozen=True)
class UnitFrame:
    unit: Unit


@dataclass(frozen=True)
class SnapshotFrame:
    """The whole Job, first on `/jobs/{id}/stream` and after each reconnect."""

    job: Job


@dataclass(frozen=True)
class JobsSnapshotFrame:
    """The Job list, read by the client after each (re)connect of `/stream`."""

    jobs: list[Job]


@dataclass(frozen=True)
class JobFrame:
    """A Job created or changed status (`/stream`, and Job changes on `/jobs/{id}/stream`)."""

    job: Job


@dataclass(frozen=True)
class JobDeletedFrame:
    job_id: int
    tag: str | None


@dataclass(frozen=True)
class EndFrame:
    """The stream is over: the Operation ended (its final state), or the Job was deleted."""

    operation: Operation | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorFrame:
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OtherFrame:
    """A frame type this console does not know (a newer server): kept, never fatal."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


Frame = (
    EventFrame
    | OperationFrame
    | UnitFrame
    | SnapshotFrame
    | JobsSnapshotFrame
    | JobFrame
    | JobDeletedFrame
    | EndFrame
    | ErrorFrame
    | OtherFrame
)


def _is_operation(data: Mapping[str, Any], kind: Any) -> bool:
    if kind in ("operation", "unit"):
        return bool(kind == "operation")
    return "action" in data


def parse_frame(raw: Any) -> Frame:
    """One decoded JSON frame as its typed value; WireError when it lacks the contract's shape."""
    if not isinstance(raw, Mapping):
        raise WireError("frame: expected an object")
    kind = raw.get("type")
    data = raw.get("data")
    data = data if isinstance(data, Mapping) else {}
    if kind == "event":
        event = Event.from_wire(raw.get("data"))
        return EventFrame(int(raw.get("operation_id") or event.operation_id), int(raw.get("seq") or event.seq), event)
    if kind == "status":
        if _is_operation(data, raw.get("kind")):
            return OperationFrame(Operation.from_wire(data))
        return UnitFrame(Unit.from_wire(data))
    if kind == "snapshot":
        return SnapshotFrame(Job.from_wire(data))
    if kind == "job":
        return JobFrame(Job.from_wire(data))
    if kind == "job_deleted":
        return JobDeletedFrame(int(data.get("id") or 0), data.get("tag"))
    if kind == "end":
        return EndFrame(Operation.from_wire(data) if "action" in data else None, dict(data))
    if kind == "error":
        return ErrorFrame(str(data.get("message") or raw.get("message") or ""), dict(data))
    return OtherFrame(str(kind), dict(data))
