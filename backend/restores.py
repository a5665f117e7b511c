"""`POST /jobs/{id}/restore`: restore a backup Job's backups in a Job of their own (api.md "Backups kept
and proven", "One call for clients").

The seed's convention is that a Job's tag names the kind of Operations in it, so a restore never runs in
the backup Job: a failed restore cannot turn a good backup night `failed` nor fire a webhook for it. The
new Job is tagged `restore` with `source_job` naming the backup Job; each of its Units runs
`restore-<unit>.yml` with the caller's extravars, `redrunner_source_job` and, where the backup published
them, `backup_path` and `backup_sha256`. Every check comes before anything is created, that of each
published sealed backup (backup_check.py) included: all or nothing, as restore-each.yml, unless the body
says `"partial": true`, which restores the Units whose backups pass and lists the others in `skipped`.
"""

from __future__ import annotations

from typing import Any

from . import backup_check, backup_records
from .access import actor
from .commands import Commands
from .db import Job, Unit
from .errors import ApiError, shutting_down
from .run_request import RunRequest
from .sql import write_transaction
from .statuses import JobStatus
from .timeutil import now
from .validation import check_bool, check_extravars, check_unit_list, resolve_action

RESTORE_TAG = "restore"
RESTORE_ACTION = "restore"  # restore-<unit>.yml


def restore_extravars(given: dict[str, Any], source_job: int, backup: dict[str, Any]) -> dict[str, Any]:
    """What one restore Operation gets: the caller's extravars, then what names its backup (last: the
    backup to restore is the one the server found, whatever the caller passed)."""
    extravars = {**given, "redrunner_source_job": source_job}
    for key, published in (("backup_path", "path"), ("backup_sha256", "sha256")):
        if backup.get(published):
            extravars[key] = backup[published]
        else:
            extravars.pop(key, None)
    return extravars


def unusable_error(job_id: int, found: list[backup_check.Unusable], others: bool) -> ApiError:
    """409 backup_unusable naming each Unit whose backup failed its check, and why (field: the first);
    `others`: some Units' backups passed, which a partial restore would restore."""
    why = "; ".join(f"{u.unit}: {u.message} ({u.reason})" for u in found)
    hint = ' (give "partial": true to restore the others anyway)' if others else ""
    message = f"job {job_id}'s backups cannot be restored, nothing was started: {why}{hint}"
    return ApiError(409, "backup_unusable", message, found[0].unit)


def start_restore(commands: Commands, job_id: int, body: dict[str, Any], accepting: bool) -> dict[str, Any]:
    """Create the restore Job and start its Operations; returns {"job", "items", "skipped"} (items as
    published; skipped: the Units left out by a partial restore, with why)."""
    source = Job.get_or_none(Job.id == job_id)
    if source is None:
        raise ApiError(404, "job_not_found", f"no job {job_id}")
    listed = check_unit_list(body["units"]) if body.get("units") is not None else None
    given = check_extravars(body.get("extravars"), commands.settings.allow_templated_extravars)
    partial = check_bool(body.get("partial"), "partial")
    backups = backup_records.job_backups(job_id)
    if listed is not None:
        missing = [name for name in listed if name not in backups]
        if missing:
            raise ApiError(
                409,
                "no_backup",
                f"job {job_id} has no successful backup of {', '.join(missing)}: nothing was started",
                missing[0],
            )
        names = listed
    else:
        order = [u.name for u in Unit.select(Unit.name).where(Unit.job == job_id).order_by(Unit.id)]
        names = [name for name in order if name in backups]
        if not names:
            raise ApiError(409, "no_backup", f"job {job_id} has no successful backup of any unit: nothing was started")
    # Blocking file reads: this runs on the db thread pool (RestoreHandler's self.call).
    skipped = backup_check.unusable(backups, names)
    if skipped:
        if not partial or len(skipped) == len(names):
            raise unusable_error(job_id, skipped, others=len(skipped) < len(names))
        names = [name for name in names if name not in {u.unit for u in skipped}]
    planned = []
    for name in names:
        try:
            action = resolve_action(commands.settings.project_dir, f"{RESTORE_ACTION}-{name}.yml", name)
        except ApiError as exc:
            raise exc.about(name) from None
        request = RunRequest(action=action, extravars=restore_extravars(given, job_id, backups[name]), timeout=None)
        planned.append((name, action, request))
    if not accepting:
        raise shutting_down()
    ids: list[int] = []
    with write_transaction():
        job = Job.create(tag=RESTORE_TAG, created_at=now(), status=JobStatus.NEW, source_job=job_id, created_by=actor())
        for name, action, request in planned:
            unit = Unit.create(job=job.id, name=name, created_at=now())
            ids.append(commands.transitions.insert_operation(job.id, unit, action, request))
        commands.transitions.refresh_job_status(job.id)
    created = commands.queries.job(job.id)
    commands.announce.job(created, units=created["units"])
    published = commands.announce.operations(ids)
    return {
        "job": commands.queries.job(job.id),
        "items": [published[i] for i in ids],
        "skipped": [u.as_dict() for u in skipped],
    }
