#!/usr/bin/python
from __future__ import annotations

DOCUMENTATION = r"""
---
module: redrunner_job
short_description: Create a RedRunner Job, or find the newest one with a tag
description:
  - Talks to the RedRunner HTTP API (C(/api/v1/jobs)).
  - O(mode=create) always creates a new Job (as C(backup-each.yml) does on every run).
  - O(mode=latest) returns the newest Job with the tag and fails clearly when there is none
    (as C(restore-each.yml) does). It never changes anything.
  - O(mode=reuse) returns the newest Job with the tag, creating it only when none exists.
  - O(mode=restore_source) finds what to restore (as C(restore-each.yml) does), changing nothing -
    the newest Job with the tag in which every Unit of O(units) has a successful backup Operation
    (C(<backup_action>-<unit>.yml), not a dry run), each Unit's newest one there (a later failed
    re-backup in the Job does not count against it; one that published no C(artifacts.redrunner_backup),
    as a plain playbook, counts too); or, with O(job_id), that Job, listing in RV(missing) the Units
    without such a backup.
extends_documentation_fragment: redrunner
options:
  tag:
    description: The Job's tag, e.g. C(backup).
    type: str
    required: true
  mode:
    description: What to do; see the description.
    type: str
    choices: [create, latest, reuse, restore_source]
    default: create
  units:
    description:
      - Unit names to add to the Job (O(mode=create) and O(mode=reuse)); adding is idempotent.
      - With O(mode=restore_source), the Units that need a backup.
    type: list
    elements: str
    default: []
  job_id:
    description: With O(mode=restore_source), take this Job instead of searching (its tag is not checked).
    type: int
  backup_action:
    description: With O(mode=restore_source), the backup action whose Operations count (C(<action>-<unit>.yml)).
    type: str
    default: backup
  source_job:
    description: With O(mode=create), the Job the new one is made from (a restore's or a drill's backup Job).
    type: int
author: RedRunner
"""

EXAMPLES = r"""
- name: Create a backup Job with one Unit per component
  redrunner_job:
    url: http://127.0.0.1:8787
    tag: backup
    units: "{{ groups['components'] }}"
  register: job

- name: Find the newest backup Job
  redrunner_job:
    tag: backup
    mode: latest
  register: job

- name: Find the newest Job with a good backup of every component
  redrunner_job:
    tag: backup
    mode: restore_source
    units: "{{ groups['components'] }}"
  register: source
"""

RETURN = r"""
job:
  description: The Job as the API returns it (null when check mode skipped creating it).
  returned: always
  type: dict
job_id:
  description: The Job's id (null when check mode skipped creating it).
  returned: always
  type: int
created:
  description: Whether a new Job was (or, in check mode, would be) created.
  returned: always
  type: bool
units:
  description: Names of the Job's Units.
  returned: always
  type: list
  elements: str
backups:
  description:
    - With O(mode=restore_source), Unit name to its backup - what the backup Operation published
      (C(path), C(size), C(sha256), C(created_at)), when it did, plus C(operation_id), C(job_id),
      C(finished_at) and C(requested_by).
  returned: when mode is restore_source
  type: dict
missing:
  description: With O(mode=restore_source) and O(job_id), the Units of O(units) without a successful backup there.
  returned: when mode is restore_source
  type: list
  elements: str
summary:
  description:
    - With O(mode=restore_source), lines to show - the Job (id, tag, when it was made, who created it) and each
      Unit's backup (operation id, when it was made, who requested it, its folder).
  returned: when mode is restore_source
  type: list
  elements: str
jobs_examined:
  description: With O(mode=restore_source) and no O(job_id), how many Jobs were looked at, newest first.
  returned: when mode is restore_source
  type: int
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.redrunner_api import (  # noqa: E402
    ApiClient,
    RedRunnerError,
    connection_argument_spec,
    job_backups,
    newest_complete_backup,
    run_module,
)


def unit_names(job: dict[str, Any] | None) -> list[str]:
    return [u["name"] for u in (job or {}).get("units") or []]


def source_summary(job: dict[str, Any], backups: dict[str, dict[str, Any]], units: list[str]) -> list[str]:
    """What a restore (or a drill) takes: the source Job, when it was made and by whom, each Unit's backup."""
    by = f", created by {job['created_by']}" if job.get("created_by") else ""
    lines = [f"Source: RedRunner job {job['id']} (tag {job.get('tag')}), made {job.get('created_at')}{by}"]
    for unit in units:
        b = backups.get(unit)
        if not b:
            lines.append(f"{unit}: no successful backup in job {job['id']}")
            continue
        who = f", requested by {b['requested_by']}" if b.get("requested_by") else ""
        where = f": {b['path']}" if b.get("path") else " (published no backup folder: its restore finds its data)"
        made = b.get("created_at") or b.get("finished_at")
        lines.append(f"{unit}: backup operation {b['operation_id']}, made {made}{who}{where}")
    return lines


def restore_source(module: AnsibleModule, client: ApiClient, tag: str, units: list[str]) -> dict[str, Any]:
    """The Job to restore from and each Unit's backup in it; never changes anything."""
    action, job_id = module.params["backup_action"], module.params["job_id"]
    if not units:
        module.fail_json(msg="mode=restore_source needs units: the components to restore")
    if job_id is not None:
        try:
            job = client.get_job(job_id)
        except RedRunnerError as err:
            if err.error == "job_not_found":
                module.fail_json(msg=f"no RedRunner Job {job_id} to restore from: {err.message}")
            raise
        backups = job_backups(client, job_id, units, action)
        missing = [u for u in units if u not in backups]
        return dict(
            changed=False,
            job=job,
            job_id=job_id,
            units=unit_names(job),
            backups=backups,
            missing=missing,
            summary=source_summary(job, backups, units),
        )
    job, backups, examined = newest_complete_backup(client, tag, units, action)
    if job is None:
        if examined == 0:
            module.fail_json(msg=f"no RedRunner Job is tagged {tag}: run the matching backup first")
        module.fail_json(
            msg=f"none of the {examined} Jobs tagged {tag} has a successful {action} of every component "
            f"({', '.join(units)}); choose a Job with -e redrunner_source_job=ID",
            jobs_examined=examined,
        )
    assert job is not None
    return dict(
        changed=False,
        job=job,
        job_id=job["id"],
        units=unit_names(job),
        backups=backups,
        missing=[],
        jobs_examined=examined,
        summary=source_summary(job, backups, units),
    )


def run(module: AnsibleModule, client: ApiClient) -> dict[str, Any]:
    params = module.params
    tag, mode, wanted = params["tag"], params["mode"], list(dict.fromkeys(params["units"] or []))
    if mode == "restore_source":
        return restore_source(module, client, tag, wanted)

    if mode == "create":
        if module.check_mode:
            return dict(
                changed=True,
                created=True,
                job=None,
                job_id=None,
                units=wanted,
                msg=f"check mode: would create a Job tagged {tag}",
            )
        job = client.create_job(tag, wanted, source_job=params["source_job"])
        return dict(changed=True, created=True, job=job, job_id=job["id"], units=unit_names(job))

    existing = client.latest_job(tag)
    if mode == "latest":
        if existing is None:
            module.fail_json(
                msg=f"no RedRunner Job is tagged {tag}: run the matching backup first",
                job=None,
                job_id=None,
                created=False,
                units=[],
            )
        return dict(changed=False, created=False, job=existing, job_id=existing["id"], units=unit_names(existing))

    # reuse: report a change only when a Job or a Unit is really added
    missing = [u for u in wanted if u not in unit_names(existing)]
    if existing is not None and not missing:
        return dict(changed=False, created=False, job=existing, job_id=existing["id"], units=unit_names(existing))
    if module.check_mode:
        job_id = existing["id"] if existing else None
        return dict(
            changed=True,
            created=existing is None,
            job=existing,
            job_id=job_id,
            units=unit_names(existing) + missing,
            msg=f"check mode: would add {missing or 'a Job'}",
        )
    job = client.create_job(tag, wanted, reuse=True)
    return dict(changed=True, created=existing is None, job=job, job_id=job["id"], units=unit_names(job))


# The module's options; its action plugin checks a task's arguments against the same spec.
ARGUMENT_SPEC = connection_argument_spec(
    tag=dict(type="str", required=True),
    mode=dict(type="str", choices=["create", "latest", "reuse", "restore_source"], default="create"),
    units=dict(type="list", elements="str", default=[]),
    job_id=dict(type="int"),
    backup_action=dict(type="str", default="backup"),
    source_job=dict(type="int"),
)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, run)


if __name__ == "__main__":
    main()
