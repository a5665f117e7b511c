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

from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from types import UnionType
from typing import Any, ClassVar, Self, get_args, get_origin, get_type_hints

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


# Field metadata: the wire must carry the field (else WireError); a string shown on a terminal as it is
# (escape sequences and control characters removed: a task name built from extravars may hold some); or
# a missing field reads as `default`.
REQUIRED: Mapping[str, Any] = {"required": True}
TEXT: Mapping[str, Any] = {"text": True}


def wire_default(value: Any) -> Mapping[str, Any]:
    return {"default": value}


def _default(f: Field[Any]) -> Any:
    if "default" in f.metadata:
        return f.metadata["default"]
    return None if f.default is MISSING else f.default


def _list(d: Wire, key: str, item: Any) -> list[Any]:
    value = d.get(key) or []
    if isinstance(item, type) and issubclass(item, WireModel):
        if not isinstance(value, list):
            raise WireError(f"{key}: expected a list")
        return [item.from_wire(v) for v in value]
    if item is int and not (
        isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise WireError(f"{key}: expected a list of ids")
    if item is str and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise WireError(f"{key}: expected a list of names")
    return list(value)


Reader = Callable[[Wire], Any]


def _reader(key: str, kind: Any, default: Any, text: bool = False) -> Reader:
    """How to read field `key` of annotation `kind` from a wire object: the contract's zero or null when
    missing. Chosen once per field; decoding a frame then only calls it."""
    if get_origin(kind) is UnionType and type(None) in get_args(kind):
        (inner,) = [a for a in get_args(kind) if a is not type(None)]
        if inner is int:
            return lambda d: _opt_int(d, key)
        if inner is float:
            return lambda d: _opt_float(d, key)
        if inner is str:
            return (lambda d: _opt_text(d, key)) if text else (lambda d: _opt_str(d, key))
        if get_origin(inner) is list:
            item = get_args(inner)[0]
            return lambda d: None if d.get(key) is None else _list(d, key, item)
        if get_origin(inner) is dict:
            return lambda d: _opt_dict(d, key)
        if isinstance(inner, type) and issubclass(inner, WireModel):
            return lambda d: None if d.get(key) is None else inner.from_wire(d[key])
    elif kind is bool:
        return lambda d: default is True if d.get(key) is None else _bool(d, key)
    elif kind is int:
        start = default if isinstance(default, int) else 0
        return lambda d: _int(d, key, start)
    elif kind is str:
        empty = default if isinstance(default, str) else ""
        return lambda d: _str(d, key, empty)
    elif get_origin(kind) is dict:
        return lambda d: _dict(d, key)
    elif get_origin(kind) is list:
        item = get_args(kind)[0]
        return lambda d: _list(d, key, item)
    elif isinstance(kind, type) and issubclass(kind, WireModel):
        return lambda d: kind.from_wire(d.get(key) or {})
    raise TypeError(f"no wire reader for {key}: {kind!r}")


_READERS: dict[type, list[tuple[str, bool, Reader]]] = {}


def _readers(cls: type) -> list[tuple[str, bool, Reader]]:
    """(field, required, reader) for each field of the dataclass `cls` but `raw`, made at first use."""
    if cls not in _READERS:
        assert is_dataclass(cls)
        hints = get_type_hints(cls)
        _READERS[cls] = [
            (
                f.name,
                bool(f.metadata.get("required")),
                _reader(f.name, hints[f.name], _default(f), bool(f.metadata.get("text"))),
            )
            for f in fields(cls)
            if f.name != "raw"
        ]
    return _READERS[cls]


class WireModel:
    """What every resource shares: `from_wire` made from the dataclass's fields and their types, and
    `to_dict()` for JSON output (the server's fields over ours)."""

    raw: Wire
    # What a wrong value is called in a WireError; the class name in lower case when empty.
    WIRE_NAME: ClassVar[str] = ""

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        what = cls.WIRE_NAME or cls.__name__.lower()
        d = _obj(data, what)
        assert is_dataclass(cls)
        values: dict[str, Any] = {}
        for name, required, read in _readers(cls):
            if required and name not in d:
                raise WireError(f"{what}: no {name}")
            values[name] = read(d)
        return cls(**values, raw=d)

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


@dataclass(frozen=True)
class Operation(WireModel):
    """One run of one playbook on one Unit."""

    id: int = field(metadata=REQUIRED)
    job_id: int
    unit: str
    action: str
    status: str = field(metadata=wire_default(OperationStatus.PENDING))
    rc: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    extravars: dict[str, Any] = field(default_factory=dict)
    event_count: int = 0
    progress: Progress = field(default_factory=Progress)
    stats: Stats = field(default_factory=Stats)
    error: str | None = field(default=None, metadata=TEXT)
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


@dataclass(frozen=True)
class Job(WireModel):
    """A tag and its Units."""

    id: int = field(metadata=REQUIRED)
    tag: str
    created_at: str | None = None
    status: str = "new"
    units: list[Unit] = field(default_factory=list)
    schedule: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Event(WireModel):
    """One ansible-runner event of an Operation; `seq` runs 1..N with no gaps."""

    seq: int
    operation_id: int
    event: str = ""
    created: str | None = None
    host: str | None = field(default=None, metadata=TEXT)
    task: str | None = field(default=None, metadata=TEXT)
    play: str | None = field(default=None, metadata=TEXT)
    stdout: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EventsPage(WireModel):
    WIRE_NAME = "events page"

    items: list[Event]
    next_after: int
    complete: bool
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Playbook(WireModel):
    """A playbook of the data dir: `backup-db.yml` is action `backup` for component `db`."""

    name: str
    action: str = ""
    component: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


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
    last_error: str | None = field(default=None, metadata=TEXT)
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Webhook(WireModel):
    """Where notifications go; the secret never comes back, only whether there is one."""

    id: int = field(metadata=REQUIRED)
    url: str = ""
    events: list[str] = field(default_factory=list)
    tags: list[str] | None = None
    has_secret: bool = False
    created_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Delivery(WireModel):
    """One event to one webhook, with its count of attempts."""

    id: int = field(metadata=REQUIRED)
    webhook_id: int = 0
    event: str = ""
    status: str = "pending"
    attempts: int = 0
    response_status: int | None = None
    last_error: str | None = field(default=None, metadata=TEXT)
    created_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)


def items_of(body: Any) -> list[Any]:
    """The `items` of a list answer."""
    items = _obj(body, "list").get("items")
    if not isinstance(items, list):
        raise WireError("items: expected a list")
    return items
