"""The OpenAPI document's shapes: the fields of a run request, and the resources (components/schemas)."""

from __future__ import annotations

from typing import Any

from . import openapi_backups, openapi_schedules
from .names import (
    ACTION_MAX,
    ACTION_SHORT_PATTERN,
    EXTRAVAR_NAME_PATTERN,
    MAX_RETRIES,
    MAX_RETRY_DELAY,
    MAX_TIMEOUT,
    MAX_UNITS,
)
from .openapi_parts import JOB_STATUS, OP_STATUS, TS, TS_NULL, UNIT_NAME, json_text, page, ref
from .validation import RESERVED_VARS

# The fields of a run request, shared by one Unit's POST and /actions.
RUN_PROPS: dict[str, Any] = {
    "action": {
        "type": "string",
        "maxLength": ACTION_MAX,
        "pattern": ACTION_SHORT_PATTERN,
        "not": {"pattern": r"\.\."},
        "description": "a playbook file name in project/, or <action> for <action>-<unit>.yml",
    },
    "extravars": {
        "type": ["object", "null"],
        "description": "at most 256 KiB of plain JSON data: no `ansible_*` keys "
        "(reserved_extravar), no `{{`, `{%` or `{#` in any string (unsafe_extravars, unless the "
        "server allows templated extravars; they are never templated), finite numbers and valid "
        'Unicode (invalid_extravars). Secret-looking keys are shown as "$redacted$".',
        "propertyNames": {
            "pattern": EXTRAVAR_NAME_PATTERN,
            "not": {
                "anyOf": [
                    {"enum": list(RESERVED_VARS)},
                    {"pattern": "^[Aa][Nn][Ss][Ii][Bb][Ll][Ee]_"},
                ]
            },
        },
    },
    "timeout": {
        "type": ["number", "null"],
        "exclusiveMinimum": 0,
        "maximum": MAX_TIMEOUT,
        "description": "seconds",
    },
    "queue": {"type": "boolean"},
    "check": {"type": "boolean", "description": "run ansible-playbook --check (a dry run)"},
    "diff": {"type": "boolean", "description": "run ansible-playbook --diff"},
    "retries": {
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": MAX_RETRIES,
        "description": "start again, up to this many times, when it ends failed, timeout or lost",
    },
    "retry_delay": {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": int(MAX_RETRY_DELAY),
        "description": "seconds between an attempt's end and the next one's start (default 10)",
    },
}
BOOL_TEXT = {"type": "string", "enum": ["true", "false"]}
RUN_FORM: dict[str, Any] = {
    "extravars": json_text("JSON object of extra vars"),
    "timeout": {"type": "string", "description": "seconds > 0, fractions allowed"},
    "queue": BOOL_TEXT,
    "check": BOOL_TEXT,
    "diff": BOOL_TEXT,
    "retries": {"type": "string", "pattern": "^[0-9]{1,2}$", "description": f"0 to {MAX_RETRIES}"},
    "retry_delay": {"type": "string", "description": "seconds >= 0"},
}
UNITS_PROP = {"type": ["array", "null"], "items": UNIT_NAME, "maxItems": MAX_UNITS}
TERMINAL_STATUS = [s for s in OP_STATUS if s not in ("pending", "running")]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["status", "error", "message"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string", "pattern": "^[a-z0-9_]+$"},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
    },
    "Stats": {
        "type": "object",
        "required": ["ok", "changed", "failed", "skipped", "unreachable", "ignored", "rescued"],
        "properties": {
            k: {"type": "integer"} for k in ("ok", "changed", "failed", "skipped", "unreachable", "ignored", "rescued")
        },
    },
    "Operation": {
        "type": "object",
        "required": [
            "id",
            "job_id",
            "unit",
            "action",
            "status",
            "rc",
            "created_at",
            "started_at",
            "finished_at",
            "extravars",
            "event_count",
            "progress",
            "stats",
            "error",
            "artifacts",
        ],
        "properties": {
            "id": {"type": "integer"},
            "job_id": {"type": "integer"},
            "unit": {"type": "string"},
            "action": {"type": "string"},
            "status": {"type": "string", "enum": OP_STATUS},
            "rc": {"type": ["integer", "null"]},
            "created_at": TS,
            "started_at": TS_NULL,
            "finished_at": TS_NULL,
            "extravars": {"type": "object"},
            "event_count": {"type": "integer", "minimum": 0},
            "progress": {
                "type": "object",
                "required": ["tasks_done", "tasks_total", "estimated"],
                "properties": {
                    "tasks_done": {"type": "integer"},
                    "tasks_total": {
                        "type": ["integer", "null"],
                        "description": "tasks started out of all; while running, the previous successful run's"
                        " count (estimated: true) or null; once terminal, the tasks that ran",
                    },
                    "estimated": {"type": "boolean", "description": "tasks_total is an estimate, not a count"},
                },
            },
            "stats": ref("Stats"),
            "error": {"type": ["string", "null"]},
            "truncated": {"type": "boolean", "description": "events or stdout beyond the server's caps were dropped"},
            "timeout": {"type": ["number", "null"]},
            "duration": {"type": ["number", "null"]},
            "cancel_requested": {"type": "boolean"},
            "check": {"type": "boolean", "description": "run with ansible-playbook --check"},
            "diff": {"type": "boolean", "description": "run with ansible-playbook --diff"},
            "attempt": {"type": "integer", "minimum": 1, "description": "1-based attempt in its retry chain"},
            "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
            "retry_delay": {"type": "number", "minimum": 0},
            "retry_of": {"type": ["integer", "null"], "description": "the attempt this one retries"},
            "rerun_of": {"type": ["integer", "null"], "description": "the Operation /rerun started again"},
            "start_after": {**TS_NULL, "description": "a pending retry starts no earlier than this"},
            "artifacts": {
                "type": ["object", "null"],
                "description": "what the playbook published with ansible.builtin.set_stats (aggregate: true, "
                "the merged data), or null until the run has ended or when it published nothing. A backup "
                "publishes redrunner_backup: {path, size, sha256, created_at}.",
            },
        },
    },
    "OperationList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Operation")}},
    },
    "Unit": {
        "type": "object",
        "required": ["job_id", "name", "created_at", "status", "latest_operation", "operations"],
        "properties": {
            "job_id": {"type": "integer"},
            "name": {"type": "string"},
            "created_at": TS,
            "status": {"type": "string", "enum": ["idle", *OP_STATUS]},
            "latest_operation": {"oneOf": [ref("Operation"), {"type": "null"}]},
            "operations": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "tag", "created_at", "status", "units"],
        "properties": {
            "id": {"type": "integer"},
            "tag": {"type": "string"},
            "created_at": TS,
            "status": {"type": "string", "enum": JOB_STATUS},
            "schedule": {"type": ["string", "null"], "description": "the schedule that created it"},
            "source_job": {
                "type": ["integer", "null"],
                "description": "the Job this one was made from (a restore's backup Job), else null",
            },
            "units": {"type": "array", "items": ref("Unit")},
        },
    },
    "Event": {
        "type": "object",
        "required": ["seq", "operation_id", "event", "created", "host", "task", "play", "stdout", "data"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "operation_id": {"type": "integer"},
            "event": {"type": "string"},
            "created": TS,
            "host": {"type": ["string", "null"]},
            "task": {"type": ["string", "null"]},
            "play": {"type": ["string", "null"]},
            "stdout": {"type": "string"},
            "data": {"type": "object"},
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["items", "next_after", "complete"],
        "properties": {
            "items": {"type": "array", "items": ref("Event")},
            "next_after": {"type": "integer"},
            "complete": {"type": "boolean"},
        },
    },
    "Playbook": {
        "type": "object",
        "required": ["name", "action", "component"],
        "properties": {
            "name": {"type": "string"},
            "action": {"type": "string"},
            "component": {"type": ["string", "null"]},
        },
    },
    "JobsPage": page("Job"),
    "UnitsPage": page("Unit"),
    "OperationsPage": page("Operation"),
    "PlaybooksPage": page("Playbook"),
    **openapi_schedules.SCHEMAS,
    **openapi_backups.SCHEMAS,
}
