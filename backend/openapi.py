"""The OpenAPI 3 document of the API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import __version__, openapi_schedules
from .statuses import JobStatus, OperationStatus
from .validation import RESERVED_VARS

TS = {"type": "string", "format": "date-time", "example": "2026-11-25T12:00:00.123456Z"}
TS_NULL = {"type": ["string", "null"], "format": "date-time"}
# The server takes ids of at most 18 digits.
INT_ID = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
TAG = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"}
UNIT_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"}
OP_STATUS = [str(s) for s in OperationStatus]
JOB_STATUS = [str(s) for s in JobStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref(item)}, "next": {"type": ["string", "null"]}},
    }


def _param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


JOB_ID = _param("job_id", "path", INT_ID, "Job id")
OP_ID = _param("op_id", "path", INT_ID, "Operation id")
UNIT = _param("name", "path", UNIT_NAME, "Unit name")
LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")
CURSOR = _param("cursor", "query", {"type": "string", "minLength": 1}, "the `next` of the previous page")
COMMON_ERRORS = {
    "400": _error("bad input"),
    "401": _error("missing or wrong bearer token"),
    "403": _error("forbidden_origin (a foreign Origin) or forbidden_host (a foreign Host on a loopback listen)"),
}


BODY_ERRORS = {"413": _error("payload_too_large"), "415": _error("unsupported_media_type")}


def _json_text(description: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "description": description}


def _body(required: list[str], props: dict[str, Any], form: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same fields as JSON or as a form, where every value is text and lists and objects are JSON text.
    A JSON null stands for a field not given."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "required": required, "properties": props}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "required": required, "properties": {**props, **(form or {})}}
            },
        },
    }


# The fields of a run request, shared by one Unit's POST and /actions.
RUN_PROPS: dict[str, Any] = {
    "action": {
        "type": "string",
        "maxLength": 255,
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
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
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
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
        "maximum": 7 * 86400,
        "description": "seconds",
    },
    "queue": {"type": "boolean"},
    "check": {"type": "boolean", "description": "run ansible-playbook --check (a dry run)"},
    "diff": {"type": "boolean", "description": "run ansible-playbook --diff"},
    "retries": {
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": 10,
        "description": "start again, up to this many times, when it ends failed, timeout or lost",
    },
    "retry_delay": {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 86400,
        "description": "seconds between an attempt's end and the next one's start (default 10)",
    },
}
BOOL_TEXT = {"type": "string", "enum": ["true", "false"]}
RUN_FORM: dict[str, Any] = {
    "extravars": _json_text("JSON object of extra vars"),
    "timeout": {"type": "string", "description": "seconds > 0, fractions allowed"},
    "queue": BOOL_TEXT,
    "check": BOOL_TEXT,
    "diff": BOOL_TEXT,
    "retries": {"type": "string", "pattern": "^[0-9]{1,2}$", "description": "0 to 10"},
    "retry_delay": {"type": "string", "description": "seconds >= 0"},
}
UNITS_PROP = {"type": ["array", "null"], "items": UNIT_NAME, "maxItems": 1000}
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
            "stats": _ref("Stats"),
            "error": {"type": ["string", "null"]},
            "truncated": {"type": "boolean", "description": "events or stdout beyond the server's caps were dropped"},
            "timeout": {"type": ["number", "null"]},
            "duration": {"type": ["number", "null"]},
            "cancel_requested": {"type": "boolean"},
            "check": {"type": "boolean", "description": "run with ansible-playbook --check"},
            "diff": {"type": "boolean", "description": "run with ansible-playbook --diff"},
            "attempt": {"type": "integer", "minimum": 1, "description": "1-based attempt in its retry chain"},
            "retries": {"type": "integer", "minimum": 0, "maximum": 10},
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
        "properties": {"items": {"type": "array", "items": _ref("Operation")}},
    },
    "Unit": {
        "type": "object",
        "required": ["job_id", "name", "created_at", "status", "latest_operation", "operations"],
        "properties": {
            "job_id": {"type": "integer"},
            "name": {"type": "string"},
            "created_at": TS,
            "status": {"type": "string", "enum": ["idle", *OP_STATUS]},
            "latest_operation": {"oneOf": [_ref("Operation"), {"type": "null"}]},
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
            "units": {"type": "array", "items": _ref("Unit")},
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
            "items": {"type": "array", "items": _ref("Event")},
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
    "JobsPage": _page("Job"),
    "UnitsPage": _page("Unit"),
    "OperationsPage": _page("Operation"),
    "PlaybooksPage": _page("Playbook"),
    **openapi_schedules.SCHEMAS,
}

WS = (
    "WebSocket stream (GET with Upgrade). Frames are JSON text: "
    '{"type": "event"|"status"|"snapshot"|"end"|"error"|"job", ...}. '
    'A status frame also has "kind": "operation" (data is an Operation) or "unit" (data is a Unit); '
    "the type stays status for clients that predate kind. "
    "A client that falls behind is closed with 1013 and resumes with after=."
)


def _paths() -> dict[str, Any]:
    return {
        **openapi_schedules.PATHS,
        "/api/v1/jobs": {
            "get": {
                "summary": "List Jobs, newest first",
                "operationId": "listJobs",
                "parameters": [
                    _param("tag", "query", TAG, "only Jobs with this tag"),
                    _param("status", "query", {"type": "string", "enum": JOB_STATUS}, "Job status"),
                    LIMIT,
                    CURSOR,
                ],
                "responses": {"200": _json(_ref("JobsPage"), "a page of Jobs"), **COMMON_ERRORS},
            },
            "post": {
                "summary": "Create a Job (or reuse the latest with its tag)",
                "operationId": "createJob",
                "requestBody": _body(
                    ["tag"],
                    {
                        "tag": TAG,
                        "units": {"type": ["array", "null"], "items": UNIT_NAME, "maxItems": 1000},
                        "reuse": {"enum": ["latest", None]},
                        "source_job": {
                            **INT_ID,
                            "type": ["integer", "null"],
                            "description": "an existing Job this one is made from (a restore's backup Job); "
                            "set on a new Job only, a reused one keeps its own",
                        },
                    },
                    {
                        "units": _json_text("JSON list of unit names"),
                        "reuse": {"type": "string", "enum": ["latest"]},
                        "source_job": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
                    },
                ),
                "responses": {
                    "201": _json(_ref("Job"), "created"),
                    "200": _json(_ref("Job"), "the latest Job with the tag (reuse=latest)"),
                    **COMMON_ERRORS,
                    "400": _error("bad input; invalid_source_job: source_job is not the id of an existing Job"),
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/jobs/latest": {
            "get": {
                "summary": "The newest Job with a tag",
                "operationId": "latestJob",
                "parameters": [_param("tag", "query", TAG, "the tag", required=True)],
                "responses": {"200": _json(_ref("Job"), "the Job"), "404": _error("job_not_found"), **COMMON_ERRORS},
            },
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "One Job with its Units",
                "operationId": "getJob",
                "responses": {"200": _json(_ref("Job"), "the Job"), "404": _error("job_not_found"), **COMMON_ERRORS},
            },
            "delete": {
                "summary": "Delete a Job with its operations and events",
                "operationId": "deleteJob",
                "responses": {
                    "204": {"description": "deleted"},
                    "404": _error("job_not_found"),
                    "409": _error("job_busy"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}/units": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "Units of a Job",
                "operationId": "listUnits",
                "responses": {
                    "200": _json(_ref("UnitsPage"), "the Units"),
                    "404": _error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Add a Unit (idempotent)",
                "operationId": "addUnit",
                "requestBody": _body(["name"], {"name": UNIT_NAME}),
                "responses": {
                    "201": _json(_ref("Unit"), "created"),
                    "200": _json(_ref("Unit"), "existed"),
                    "404": _error("job_not_found"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}/units/{name}": {
            "parameters": [JOB_ID, UNIT],
            "get": {
                "summary": "One Unit",
                "operationId": "getUnit",
                "responses": {
                    "200": _json(_ref("Unit"), "the Unit"),
                    "404": _error("job_not_found or unit_not_found"),
                    **COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Start an Operation: run a playbook in the Unit",
                "operationId": "startOperation",
                "requestBody": _body(["action"], RUN_PROPS, RUN_FORM),
                "responses": {
                    "202": {
                        **_json(_ref("Operation"), "accepted"),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "404": _error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": _error("unit_busy"),
                    "503": _error("shutting_down"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}/actions": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Start one action on many Units of the Job, all or nothing",
                "description": "A shorthand action resolves per Unit. A busy Unit (without queue), a missing Unit "
                "or a missing playbook for any Unit fails the whole request, with `field` naming the Unit, and "
                "nothing is created.",
                "operationId": "startActions",
                "requestBody": _body(
                    ["action"],
                    {**RUN_PROPS, "units": {**UNITS_PROP, "description": "default: every Unit of the Job"}},
                    {**RUN_FORM, "units": _json_text("JSON list of Unit names")},
                ),
                "responses": {
                    "202": _json(_ref("OperationList"), "accepted: the new Operations in the Job's Unit order"),
                    "404": _error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": _error("unit_busy"),
                    "503": _error("shutting_down"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}/rerun": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Start again the Units whose latest Operation ended in one of `statuses`",
                "description": "Each new Operation repeats its predecessor's request (extravars with their real "
                "values, timeout, check, diff, retries) and has `rerun_of` set. All or nothing.",
                "operationId": "rerunJob",
                "requestBody": {
                    **_body(
                        [],
                        {
                            "statuses": {
                                "type": ["array", "null"],
                                "items": {"type": "string", "enum": TERMINAL_STATUS},
                                "minItems": 1,
                                "maxItems": 20,
                                "description": "default failed, timeout, lost, error, canceled",
                            },
                            "units": {**UNITS_PROP, "description": "default: every Unit of the Job"},
                        },
                        {
                            "statuses": _json_text("JSON list of status words"),
                            "units": _json_text("JSON list of Unit names"),
                        },
                    ),
                    "required": False,
                },
                "responses": {
                    "202": _json(_ref("OperationList"), "started: the new Operations in the Job's Unit order"),
                    "200": _json(_ref("OperationList"), "nothing matched: no Operation started"),
                    "404": _error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": _error("unit_busy"),
                    "503": _error("shutting_down"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/operations": {
            "get": {
                "summary": "List Operations, newest first",
                "operationId": "listOperations",
                "parameters": [
                    _param("job_id", "query", INT_ID, "only this Job's"),
                    _param("unit", "query", UNIT_NAME, "only this Unit's"),
                    _param("status", "query", {"type": "string", "enum": OP_STATUS}, "status"),
                    _param("action", "query", {"type": "string"}, "playbook file name"),
                    LIMIT,
                    CURSOR,
                ],
                "responses": {"200": _json(_ref("OperationsPage"), "a page"), **COMMON_ERRORS},
            },
        },
        "/api/v1/operations/{op_id}": {
            "parameters": [OP_ID],
            "get": {
                "summary": "One Operation; ?wait=S long-polls until it is terminal",
                "operationId": "getOperation",
                "parameters": [
                    _param(
                        "wait",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": 60},
                        "seconds to wait for a terminal status",
                    )
                ],
                "responses": {
                    "200": _json(_ref("Operation"), "the Operation"),
                    "404": _error("operation_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/operations/{op_id}/events": {
            "parameters": [OP_ID],
            "get": {
                "summary": "Events after a seq, oldest first",
                "operationId": "listEvents",
                "parameters": [
                    _param(
                        "after",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                        "only events with seq above this",
                    ),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
                        "page size",
                    ),
                ],
                "responses": {
                    "200": _json(_ref("EventPage"), "events"),
                    "404": _error("operation_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/operations/{op_id}/stdout": {
            "parameters": [OP_ID],
            "get": {
                "summary": "The playbook's whole output so far: plain text, or with its ANSI colours on request",
                "operationId": "getStdout",
                "parameters": [
                    _param(
                        "ansi",
                        "query",
                        {"type": "boolean", "default": False},
                        "true: keep ansible's ANSI colour codes; false (default): plain text for scripts and grep",
                    )
                ],
                "responses": {
                    "200": {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "400": _error("invalid_parameter"),
                    "404": _error("operation_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/operations/{op_id}/cancel": {
            "parameters": [OP_ID],
            "post": {
                "summary": "Cancel: stop the playbook's process tree",
                "operationId": "cancelOperation",
                "responses": {
                    "202": _json(_ref("Operation"), "canceling or canceled"),
                    "404": _error("operation_not_found"),
                    "409": _error("not_running"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/operations/{op_id}/stream": {
            "parameters": [OP_ID],
            "get": {
                "summary": "Follow an Operation: status, replayed and live events, end",
                "description": WS,
                "operationId": "streamOperation",
                "parameters": [
                    _param(
                        "after", "query", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "resume after seq"
                    )
                ],
                "responses": {
                    "101": {"description": "switching to WebSocket"},
                    "404": _error("operation_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}/stream": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "Follow a Job: snapshot, then status and event frames",
                "description": WS,
                "operationId": "streamJob",
                "responses": {
                    "101": {"description": "switching to WebSocket"},
                    "404": _error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/stream": {
            "get": {
                "summary": "Follow Jobs (optionally of one tag): job frames",
                "description": WS,
                "operationId": "streamJobs",
                "parameters": [_param("tag", "query", TAG, "only Jobs with this tag")],
                "responses": {"101": {"description": "switching to WebSocket"}, **COMMON_ERRORS},
            },
        },
        "/api/v1/playbooks": {
            "get": {
                "summary": "Playbooks in the data dir's project/",
                "operationId": "listPlaybooks",
                "parameters": [_param("unit", "query", UNIT_NAME, "only <action>-<unit>.yml")],
                "responses": {"200": _json(_ref("PlaybooksPage"), "playbooks"), **COMMON_ERRORS},
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenAPI",
                "responses": {"200": _json({"type": "object"}, "the OpenAPI document"), **COMMON_ERRORS},
            },
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "serving")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the database answers",
                "operationId": "readyz",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "ready"), "503": _error("not ready")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "RedRunner",
            "version": __version__,
            "description": "Run Ansible playbooks as Operations in the Units of tagged Jobs.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": _paths(),
    }
