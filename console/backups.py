"""Backups as the console and the CLI see them: the `GET /backups` resource, the answer of
`POST /jobs/{id}/restore`, and which backups deserve attention (api.md "Backups kept and proven").

No Textual here: the CLI imports it too. Functions take `now`, so screens and snapshots stay
deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from console.models import Job, Operation, Wire, WireError, WireModel, _bool, _int, _obj, _opt_int, _opt_str, _str
from console.timefmt import parse_ts

#: A newest good backup older than this stands out, as does one never verified by a drill.
STALE_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Backup(WireModel):
    """An Operation that ended successful and published where its backup is."""

    job_id: int
    operation_id: int
    tag: str
    unit: str
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    created_at: str | None = None
    kept: bool = False
    verified_at: str | None = None
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Backup:
        d = _obj(data, "backup")
        if "operation_id" not in d:
            raise WireError("backup: no operation_id")
        return cls(
            job_id=_int(d, "job_id"),
            operation_id=_int(d, "operation_id"),
            tag=_str(d, "tag"),
            unit=_str(d, "unit"),
            path=_opt_str(d, "path"),
            size=_opt_int(d, "size"),
            sha256=_opt_str(d, "sha256"),
            created_at=_opt_str(d, "created_at"),
            kept=_bool(d, "kept"),
            verified_at=_opt_str(d, "verified_at"),
            raw=d,
        )


@dataclass(frozen=True)
class SkippedBackup:
    """A Unit a partial restore left out: its sealed backup failed the server's check (`reason` a code)."""

    unit: str
    reason: str
    message: str

    @classmethod
    def from_wire(cls, data: Any) -> SkippedBackup:
        d = _obj(data, "skipped")
        return cls(unit=_str(d, "unit"), reason=_str(d, "reason"), message=_str(d, "message"))


@dataclass(frozen=True)
class RestoreStarted(WireModel):
    """The restore Job (tagged restore, `source_job` the backup Job), its Operations and, after a partial
    restore, the Units it skipped."""

    job: Job
    items: list[Operation]
    skipped: list[SkippedBackup] = field(default_factory=list)
    raw: Wire = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> RestoreStarted:
        d = _obj(data, "restore")
        items, skipped = d.get("items"), d.get("skipped") or []  # a server from before the check sends none
        if not isinstance(items, list) or not isinstance(skipped, list):
            raise WireError("items, skipped: expected lists")
        return cls(
            job=Job.from_wire(d.get("job")),
            items=[Operation.from_wire(o) for o in items],
            skipped=[SkippedBackup.from_wire(s) for s in skipped],
            raw=d,
        )


def newest_per_component(backups: list[Backup]) -> list[Backup]:
    """The newest backup of each (tag, unit), from a list newest first; in (tag, unit) order."""
    newest: dict[tuple[str, str], Backup] = {}
    for backup in backups:
        newest.setdefault((backup.tag, backup.unit), backup)
    return [newest[key] for key in sorted(newest)]


def attention(backup: Backup, now: datetime) -> list[str]:
    """Why a component's newest good backup stands out: too old, never verified (empty when fine)."""
    why: list[str] = []
    made = parse_ts(backup.created_at)
    if made is None or now - made > STALE_AFTER:
        why.append("old")
    if parse_ts(backup.verified_at) is None:
        why.append("never verified")
    return why


def source_job(job: Job) -> int | None:
    """The Job a Job was made from (`source_job`, null otherwise), as the server sent it."""
    value = job.raw.get("source_job")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_restore(job: Job) -> bool:
    """A Job that restores live data (tagged restore, or made from a source Job other than by a drill):
    rerunning it writes over whatever was written since, so it is confirmed first."""
    if job.tag == "restore":
        return True
    return source_job(job) is not None and not job.tag.endswith("-verify")
