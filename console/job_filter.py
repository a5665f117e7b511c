"""What the Jobs filter matches: part of a tag, of a Unit's name or of the schedule's name, or a status.

A status word (or the start of one, 3 letters or more: `fail`, `runn`) also finds Jobs by status:
the Job statuses (`new`, `running`, `successful`, `failed`) the Job's own, the other Operation
statuses (`pending`, `canceled`, `timeout`, `lost`, `error`) and `idle` a Unit's. So `failed` finds
failed Jobs, and `timeout` the Jobs with a Unit whose latest run timed out. Case does not matter.
"""

from __future__ import annotations

from backend.statuses import UNIT_IDLE, JobStatus, OperationStatus
from console.models import Job

JOB_WORDS = tuple(str(s) for s in JobStatus)
UNIT_WORDS = (*(str(s) for s in OperationStatus if str(s) not in JOB_WORDS), UNIT_IDLE)
STATUS_PREFIX = 3


def status_words(needle: str) -> tuple[set[str], set[str]]:
    """(Job statuses, Unit statuses) that `needle` names, by the whole word or its start."""
    if len(needle) < STATUS_PREFIX:
        return set(), set()
    return {w for w in JOB_WORDS if w.startswith(needle)}, {w for w in UNIT_WORDS if w.startswith(needle)}


def job_matches(job: Job, text: str) -> bool:
    needle = text.strip().casefold()
    if not needle:
        return True
    names = [job.tag, job.schedule or "", *(u.name for u in job.units)]
    if any(needle in name.casefold() for name in names):
        return True
    job_words, unit_words = status_words(needle)
    return job.status in job_words or any(u.status in unit_words for u in job.units)
