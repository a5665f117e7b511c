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
options:
  url:
    description: Base URL of the RedRunner server. Falls back to E(REDRUNNER_URL).
    type: str
    default: http://127.0.0.1:8787
  token:
    description: Bearer token, when the server requires one. Falls back to E(REDRUNNER_TOKEN).
    type: str
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  request_timeout:
    description: Seconds to wait for one HTTP answer.
    type: float
    default: 30
  tag:
    description: The Job's tag, e.g. C(backup).
    type: str
    required: true
  mode:
    description: What to do; see the description.
    type: str
    choices: [create, latest, reuse]
    default: create
  units:
    description: Unit names to add to the Job (O(mode=create) and O(mode=reuse)); adding is idempotent.
    type: list
    elements: str
    default: []
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
"""

import os  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, env_fallback  # noqa: E402
from ansible.module_utils.redrunner_api import ApiClient, run_module  # noqa: E402


def unit_names(job: dict[str, Any] | None) -> list[str]:
    return [u["name"] for u in (job or {}).get("units") or []]


def run(module: AnsibleModule, client: ApiClient) -> dict[str, Any]:
    params = module.params
    tag, mode, wanted = params["tag"], params["mode"], list(dict.fromkeys(params["units"] or []))

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
        job = client.create_job(tag, wanted)
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


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default=os.environ.get("REDRUNNER_URL") or "http://127.0.0.1:8787"),
            token=dict(type="str", no_log=True, fallback=(env_fallback, ["REDRUNNER_TOKEN"])),
            validate_certs=dict(type="bool", default=True),
            request_timeout=dict(type="float", default=30),
            tag=dict(type="str", required=True),
            mode=dict(type="str", choices=["create", "latest", "reuse"], default="create"),
            units=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    run_module(module, run)


if __name__ == "__main__":
    main()
