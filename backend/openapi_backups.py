"""The OpenAPI part for backups (api.md "Backups kept and proven"), merged by openapi.py."""

from __future__ import annotations

from typing import Any

from .openapi_parts import (
    BODY_ERRORS,
    COMMON_ERRORS,
    CURSOR,
    INT_ID,
    LIMIT,
    TAG,
    TS,
    TS_NULL,
    UNIT_NAME,
    error,
    json_content,
    ref,
)

ERRORS = {**COMMON_ERRORS, **BODY_ERRORS}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


SCHEMAS: dict[str, Any] = {
    "Backup": {
        "type": "object",
        "description": "An Operation that ended successful and published artifacts.redrunner_backup",
        "required": [
            "job_id",
            "operation_id",
            "tag",
            "unit",
            "path",
            "size",
            "sha256",
            "created_at",
            "kept",
            "verified_at",
        ],
        "properties": {
            "job_id": {"type": "integer"},
            "operation_id": {"type": "integer"},
            "tag": {"type": "string", "description": "the backup Job's tag"},
            "unit": {"type": "string"},
            "path": {"type": ["string", "null"]},
            "size": {"type": ["integer", "null"]},
            "sha256": {"type": ["string", "null"]},
            "created_at": {**TS, "description": "when the backup Operation ended"},
            "kept": {
                "type": "boolean",
                "description": "retention keeps it whatever its age (--keep-last and the calendar rules)",
            },
            "verified_at": {
                **TS_NULL,
                "description": "when a drill (a Job tagged <tag>-verify publishing redrunner_verify) last verified it",
            },
        },
    },
    "BackupsPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": ref("Backup")}, "next": {"type": ["string", "null"]}},
    },
    "RestoreStarted": {
        "type": "object",
        "required": ["job", "items", "skipped"],
        "properties": {
            "job": ref("Job"),
            "items": {"type": "array", "items": ref("Operation")},
            "skipped": {
                "type": "array",
                "description": "the Units a partial restore left out, their sealed backups failing the check",
                "items": {
                    "type": "object",
                    "required": ["unit", "reason", "message"],
                    "properties": {
                        "unit": UNIT_NAME,
                        "reason": {
                            "type": "string",
                            "enum": [
                                "missing_folder",
                                "missing_manifest",
                                "digest_mismatch",
                                "bad_manifest",
                                "missing_file",
                                "size_mismatch",
                            ],
                        },
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/backups": {
        "get": {
            "summary": "List backups, newest first, with whether retention keeps each and when it was verified",
            "operationId": "listBackups",
            "parameters": [
                _query("tag", TAG, "only backups made in Jobs with this tag"),
                _query("unit", UNIT_NAME, "only backups of this Unit"),
                LIMIT,
                CURSOR,
            ],
            "responses": {"200": json_content(ref("BackupsPage"), "a page of backups"), **ERRORS},
        }
    },
    "/api/v1/jobs/{job_id}/restore": {
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": INT_ID, "description": "the backup Job"}
        ],
        "post": {
            "summary": "Restore a backup Job's backups in a new Job tagged restore (source_job set)",
            "description": "One Unit per listed Unit (default: every Unit with a successful backup in the "
            "Job), each running restore-<unit>.yml with the extravars, redrunner_source_job and, where the "
            "backup published them, backup_path and backup_sha256. A listed Unit without a successful "
            "backup: 409 no_backup, and nothing is started. All or nothing, as restore-each.yml: before "
            "anything is created, each backup that published a path is checked on the server's file system "
            "(the sealed folder, its manifest.json, the manifest's sha256 against the published one, each "
            "listed file's presence and size; the files' digests are left to the restore playbook). One "
            "failing: 409 backup_unusable naming each failing Unit and why, nothing started; with partial: "
            "true the others are restored and the failing ones listed in skipped. A backup that published "
            "no path (a plain playbook) is not checked.",
            "operationId": "restoreJob",
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "units": {"type": ["array", "null"], "items": UNIT_NAME, "maxItems": 1000},
                                "extravars": {"type": ["object", "null"]},
                                "partial": {
                                    "type": ["boolean", "null"],
                                    "description": "restore the Units whose backups pass the check, skip the others",
                                },
                            },
                        }
                    },
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "units": {"type": "string", "description": "JSON list of Unit names"},
                                "extravars": {"type": "string", "description": "JSON object"},
                                "partial": {"type": "string", "enum": ["true", "false"]},
                            },
                        }
                    },
                },
            },
            "responses": {
                "202": json_content(ref("RestoreStarted"), "the restore Job and its Operations"),
                "404": error("job_not_found or playbook_not_found"),
                "409": error(
                    "no_backup (field: the first Unit without one), backup_unusable (field: the first Unit whose "
                    "sealed backup failed the check; the message names each and why) or unit_busy"
                ),
                "503": error("shutting_down"),
                **ERRORS,
            },
        },
    },
}
