"""Which backup a restore will take, so the console can name it before the operator says yes.

The rule is the contract's (`restore-each.yml`): `redrunner_source_job` when given, else the newest
Job tagged `redrunner_source_tag` (default `backup`) where every Unit to restore has a successful
backup Operation. Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.names import PAGE_LIMIT_MAX
from console.models import Job
from console.source import Source

# Jobs looked at when searching for the newest complete backup: enough for weeks of nightly runs.
SEARCH_JOBS = 30


@dataclass(frozen=True)
class RestoreSource:
    job: Job | None
    chosen: bool  # named by `redrunner_source_job` rather than found
    tag: str


def is_restore(action: str) -> bool:
    return action.startswith("restore")


async def restore_source(source: Source, units: list[str], extravars: Mapping[str, Any]) -> RestoreSource:
    tag = str(extravars.get("redrunner_source_tag") or "backup")
    named = extravars.get("redrunner_source_job")
    if named is not None:
        try:
            return RestoreSource(await source.get_job(int(named)), True, tag)
        except (TypeError, ValueError):
            return RestoreSource(None, True, tag)
    for job in await source.list_jobs(tag=tag, limit=SEARCH_JOBS):
        backed_up = {
            op.unit
            for op in await source.list_operations(job_id=job.id, status="successful", limit=PAGE_LIMIT_MAX)
            if op.action.startswith("backup")
        }
        if set(units) <= backed_up:
            return RestoreSource(job, False, tag)
    return RestoreSource(None, False, tag)


def restore_question(units: list[str], action: str, found: RestoreSource) -> str:
    names = ", ".join(units)
    if found.job is None:
        where = "the Job named by redrunner_source_job" if found.chosen else f"any Job tagged {found.tag}"
        return (
            f"Run {action} on {names}? No successful backup of {names} was found in {where}: "
            "the restore will most likely fail."
        )
    how = "named by redrunner_source_job" if found.chosen else "the newest with a successful backup of each"
    return (
        f"Run {action} on {names}, restoring from Job {found.job.id} ({found.job.tag}, {how})? "
        "This overwrites live data."
    )
