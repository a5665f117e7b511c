"""What the console asks before a restore, and what it calls to run one.

A restore picked on a Job's screen restores that Job's backups: the server creates a Job of its own,
tagged `restore` with `source_job` naming the open Job, and starts `restore-<unit>.yml` in each
(`POST /jobs/{id}/restore`, api.md "Backups kept and proven"). So the question names the Job that is
open, and a failed restore never marks the backup Job failed. Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from console.backups import RestoreStarted, source_job
from console.models import Job


class RestoreSource(Protocol):
    """What a restore needs besides the Source protocol (RedRunnerClient has it)."""

    async def restore(
        self,
        job_id: int,
        units: list[str] | None = None,
        extravars: Mapping[str, Any] | None = None,
        partial: bool = False,
    ) -> RestoreStarted: ...


def is_restore(action: str) -> bool:
    return action.startswith("restore")


def restore_question(job_id: int, tag: str, units: list[str]) -> str:
    names = ", ".join(units)
    return (
        f"Restore {names} from the backups of Job {job_id} ({tag}), the Job open here? A new Job tagged "
        "restore runs restore-<unit>.yml for each; this overwrites live data."
    )


def restore_refusal(job_id: int, error: str, message: str) -> str:
    """The server's refusal of a restore as the console shows it. A backup that fails the server's check
    (`409 backup_unusable`, each Unit named with why) stops the whole restore: the console restores all or
    nothing, so the way to restore the others anyway is the CLI's --partial."""
    if error == "backup_unusable":
        return message.replace('give "partial": true', f"run `redrunner restore {job_id} --yes --partial`")
    return message


def rerun_restore_question(job: Job) -> str:
    """What a rerun question starts with in a restore Job (console/rerun.py says the rest)."""
    source = f"Job {source_job(job)}" if source_job(job) is not None else "its backup"
    return (
        f"Job {job.id} is a restore from {source}: rerunning it restores that backup again, "
        "overwriting whatever was written since."
    )
