"""The API's resources and stream frames as typed, immutable values, parsed once at the client boundary.

Screens and the command-line client read attributes (`op.progress.tasks_total`) instead of guessing
what a dict holds. Parsing is lenient about *missing* fields (an older server, a field another
branch adds later): each gets the contract's zero or null. It is strict about *types*: a value of
the wrong kind raises `WireError`, which the client reports as an API error instead of letting a
screen fail later on a `None`.

Each value keeps the JSON object it was parsed from in `raw` (not compared, not shown), so
`to_dict()` gives back every field the server sent, also fields this module does not know yet.
Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from backend import terminal_text
from backend.statuses import ACTIVE, TERMINAL, UNIT_IDLE, OperationStatus

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "Delivery",
    "Event",
    "EventsPage",
    "Job",
    "Operation",
    "Playbook",
    "Progress",
    "Schedule",
    "Stats",
    "Unit",
    "Webhook",
    "WireError",
]

Wire = Mapping[str, Any]


class WireError(ValueError):
    """A server answer that does not have the contract's shape."""


# -- field readers: the contract's default for a missing field, WireError for a wrong type ----------


def _obj(value: Any, what: str) -> Wire:
    if not isinstance(value, Mapping):
        raise WireError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _int(d: Wire, key: str, default: int = 0) -> int:
    value = d.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise WireError(f"{key}: expected an integer, got {value!r}")
    return int(value)


def _opt_int(d: Wire, key: str) -> int | None:
    return None if d.get(key) is None else _int(d, key)


def _opt_float(d: Wire, key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _str(d: Wire, key: str, default: str = "") -> str:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise WireError(f"{key}: expected a string, got {value!r}")
    return value


def _opt_str(d: Wire, key: str) -> str | None:
    return None if d.get(key) is None else _str(d, key)


def _opt_text(d: Wire, key: str) -> str | None:
    """An optional string shown as it is on a terminal: escape sequences and control characters removed."""
    value = _opt_str(d, key)
    return None if value is None else terminal_text.plain(value)


def _bool(d: Wire, key: str) -> bool:
    value = d.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WireError(f"{key}: expected true or false, got {value!r}")
    return value


def _dict(d: Wire, key: str) -> dict[str, Any]:
    value = d.get(key)
    return {} if value is None else dict(_obj(value, key))


def _opt_dict(d: Wire, key: str) -> dict[str, Any] | None:
    value = d.get(key)
    return None if value is None else dict(_obj(value, key))


def _plain(value: Any) -> Any:
    """A value as JSON-ready data (nested models through their own `to_dict`)."""
    if isinstance(value, WireModel):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


class WireModel:
    """What every resource shares: `to_dict()` for JSON output (the server's fields over ours)."""

    raw: Wire

    def to_dict(self) -> dict[str, Any]:
        assert is_dataclass(self)
        out: dict[str, Any] = dict(self.raw)
        for f in fields(self):
            if f.name != "raw":
                out[f.name] = _plain(getattr(self, f.name))
        return out


# -- resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress(WireModel):
    """Tasks done out of the play's total; `estimated` when the total is the previous run's count."""

    tasks_done: int = 0
    tasks_total: int | None = None
    estimated: bool = False
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Progress:
        d = _obj(data or {}, "progress")
        return cls(_int(d, "tasks_done"), _opt_int(d, "tasks_total"), _bool(d, "estimated"), raw=d)


@dataclass(frozen=True)
class Stats(WireModel):
    """Task results summed over hosts, as in the play recap."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    ignored: int = 0
    rescued: int = 0
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Stats:
        d = _obj(data or {}, "stats")
        return cls(
            ok=_int(d, "ok"),
            changed=_int(d, "changed"),
            failed=_int(d, "failed"),
            skipped=_int(d, "skipped"),
            unreachable=_int(d, "unreachable"),
            ignored=_int(d, "ignored"),
            rescued=_int(d, "rescued"),
            raw=d,
        )


@dataclass(frozen=True)
class Operation(WireModel):
    """One run of one playbook on one Unit."""

    id: int
    job_id: int
    unit: str
    action: str
    status: str
    rc: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    extravars: dict[str, Any] = field(default_factory=dict)
    event_count: int = 0
    progress: Progress = field(default_factory=Progress)
    stats: Stats = field(default_factory=Stats)
    error: str | None = None
    duration: float | None = None
    truncated: bool = False
    timeout: float | None = None
    check: bool = False
    diff: bool = False
    attempt: int = 1
    retries: int = 0
    retry_of: int | None = None
    rerun_of: int | None = None
    artifacts: dict[str, Any] | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Operation:
        d = _obj(data, "operation")
        if "id" not in d:
            raise WireError("operation: no id")
        return cls(
            id=_int(d, "id"),
            job_id=_int(d, "job_id"),
            unit=_str(d, "unit"),
            action=_str(d, "action"),
            status=_str(d, "status", OperationStatus.PENDING),
            rc=_opt_int(d, "rc"),
            created_at=_opt_str(d, "created_at"),
            started_at=_opt_str(d, "started_at"),
            finished_at=_opt_str(d, "finished_at"),
            extravars=_dict(d, "extravars"),
            event_count=_int(d, "event_count"),
            progress=Progress.from_wire(d.get("progress")),
            stats=Stats.from_wire(d.get("stats")),
            error=_opt_text(d, "error"),
            duration=_opt_float(d, "duration"),
            truncated=_bool(d, "truncated"),
            timeout=_opt_float(d, "timeout"),
            check=_bool(d, "check"),
            diff=_bool(d, "diff"),
            attempt=_int(d, "attempt", 1),
            retries=_int(d, "retries"),
            retry_of=_opt_int(d, "retry_of"),
            rerun_of=_opt_int(d, "rerun_of"),
            artifacts=_opt_dict(d, "artifacts"),
            raw=d,
        )

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Unit(WireModel):
    """A named component of a Job; its status is its latest Operation's, or `idle`."""

    job_id: int
    name: str
    created_at: str | None = None
    status: str = UNIT_IDLE
    latest_operation: Operation | None = None
    operations: list[int] = field(default_factory=list)
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Unit:
        d = _obj(data, "unit")
        latest = d.get("latest_operation")
        ops = d.get("operations") or []
        if not isinstance(ops, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ops):
            raise WireError("operations: expected a list of ids")
        return cls(
            job_id=_int(d, "job_id"),
            name=_str(d, "name"),
            created_at=_opt_str(d, "created_at"),
            status=_str(d, "status", UNIT_IDLE),
            latest_operation=Operation.from_wire(latest) if latest is not None else None,
            operations=list(ops),
            raw=d,
        )


@dataclass(frozen=True)
class Job(WireModel):
    """A tag and its Units."""

    id: int
    tag: str
    created_at: str | None = None
    status: str = "new"
    units: list[Unit] = field(default_factory=list)
    schedule: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Job:
        d = _obj(data, "job")
        if "id" not in d:
            raise WireError("job: no id")
        units = d.get("units") or []
        if not isinstance(units, list):
            raise WireError("units: expected a list")
        return cls(
            id=_int(d, "id"),
            tag=_str(d, "tag"),
            created_at=_opt_str(d, "created_at"),
            status=_str(d, "status", "new"),
            units=[Unit.from_wire(u) for u in units],
            schedule=_opt_str(d, "schedule"),
            raw=d,
        )


@dataclass(frozen=True)
class Event(WireModel):
    """One ansible-runner event of an Operation; `seq` runs 1..N with no gaps."""

    seq: int
    operation_id: int
    event: str = ""
    created: str | None = None
    host: str | None = None
    task: str | None = None
    play: str | None = None
    stdout: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Event:
        d = _obj(data, "event")
        return cls(
            seq=_int(d, "seq"),
            operation_id=_int(d, "operation_id"),
            event=_str(d, "event"),
            created=_opt_str(d, "created"),
            # Shown on a terminal as they are: a task name built from extravars may hold escapes.
            host=_opt_text(d, "host"),
            task=_opt_text(d, "task"),
            play=_opt_text(d, "play"),
            stdout=_str(d, "stdout"),
            data=_dict(d, "data"),
            raw=d,
        )


@dataclass(frozen=True)
class EventsPage(WireModel):
    items: list[Event]
    next_after: int
    complete: bool
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> EventsPage:
        d = _obj(data, "events page")
        return cls(
            items=[Event.from_wire(e) for e in d.get("items") or []],
            next_after=_int(d, "next_after"),
            complete=_bool(d, "complete"),
            raw=d,
        )


@dataclass(frozen=True)
class Playbook(WireModel):
    """A playbook of the data dir: `backup-db.yml` is action `backup` for component `db`."""

    name: str
    action: str = ""
    component: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Playbook:
        d = _obj(data, "playbook")
        return cls(name=_str(d, "name"), action=_str(d, "action"), component=_opt_str(d, "component"), raw=d)


@dataclass(frozen=True)
class Schedule(WireModel):
    """A cron rule that creates a Job with its Units and starts `action` on each."""

    name: str
    cron: str = ""
    description: str = ""
    timezone: str = "UTC"
    tag: str = ""
    units: list[str] = field(default_factory=list)
    action: str = ""
    enabled: bool = True
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_job_id: int | None = None
    last_job_status: str | None = None
    last_error: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Schedule:
        d = _obj(data, "schedule")
        units = d.get("units") or []
        if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
            raise WireError("units: expected a list of names")
        return cls(
            name=_str(d, "name"),
            cron=_str(d, "cron"),
            description=_str(d, "description"),
            timezone=_str(d, "timezone", "UTC"),
            tag=_str(d, "tag"),
            units=list(units),
            action=_str(d, "action"),
            enabled=_bool(d, "enabled") if d.get("enabled") is not None else True,
            next_run_at=_opt_str(d, "next_run_at"),
            last_run_at=_opt_str(d, "last_run_at"),
            last_job_id=_opt_int(d, "last_job_id"),
            last_job_status=_opt_str(d, "last_job_status"),
            last_error=_opt_text(d, "last_error"),
            raw=d,
        )


@dataclass(frozen=True)
class Webhook(WireModel):
    """Where notifications go; the secret never comes back, only whether there is one."""

    id: int
    url: str = ""
    events: list[str] = field(default_factory=list)
    tags: list[str] | None = None
    has_secret: bool = False
    created_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Webhook:
        d = _obj(data, "webhook")
        if "id" not in d:
            raise WireError("webhook: no id")
        events, tags = d.get("events") or [], d.get("tags")
        if not isinstance(events, list) or not (tags is None or isinstance(tags, list)):
            raise WireError("events and tags: expected lists")
        return cls(
            id=_int(d, "id"),
            url=_str(d, "url"),
            events=[str(e) for e in events],
            tags=None if tags is None else [str(t) for t in tags],
            has_secret=_bool(d, "has_secret"),
            created_at=_opt_str(d, "created_at"),
            raw=d,
        )


@dataclass(frozen=True)
class Delivery(WireModel):
    """One event to one webhook, with its count of attempts."""

    id: int
    webhook_id: int = 0
    event: str = ""
    status: str = "pending"
    attempts: int = 0
    response_status: int | None = None
    last_error: str | None = None
    created_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Delivery:
        d = _obj(data, "delivery")
        if "id" not in d:
            raise WireError("delivery: no id")
        return cls(
            id=_int(d, "id"),
            webhook_id=_int(d, "webhook_id"),
            event=_str(d, "event"),
            status=_str(d, "status", "pending"),
            attempts=_int(d, "attempts"),
            response_status=_opt_int(d, "response_status"),
            last_error=_opt_text(d, "last_error"),
            created_at=_opt_str(d, "created_at"),
            next_attempt_at=_opt_str(d, "next_attempt_at"),
            delivered_at=_opt_str(d, "delivered_at"),
            raw=d,
        )


def items_of(body: Any) -> list[Any]:
    """The `items` of a list answer."""
    items = _obj(body, "list").get("items")
    if not isinstance(items, list):
        raise WireError("items: expected a list")
    return items
