"""The OpenAPI 3 document of the API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from . import __version__, openapi_backups, openapi_schedules
from .names import EVENT_PAGE_LIMIT_DEFAULT, EVENT_PAGE_LIMIT_MAX
from .openapi_parts import (
    BODY_ERRORS,
    COMMON_ERRORS,
    CURSOR,
    INT_ID,
    JOB_ID,
    JOB_STATUS,
    LIMIT,
    OP_ID,
    OP_STATUS,
    TAG,
    UNIT,
    UNIT_NAME,
    body,
    error,
    json_content,
    json_text,
    param,
    ref,
)
from .openapi_schemas import RUN_FORM, RUN_PROPS, SCHEMAS, TERMINAL_STATUS, UNITS_PROP

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
        **openapi_backups.PATHS,
        "/api/v1/jobs": {
            "get": {
                "summary": "List Jobs, newest first",
                "operationId": "listJobs",
                "parameters": [
                    param("tag", "query", TAG, "only Jobs with this tag"),
                    param("status", "query", {"type": "string", "enum": JOB_STATUS}, "Job status"),
                    LIMIT,
                    CURSOR,
                ],
                "responses": {"200": json_content(ref("JobsPage"), "a page of Jobs"), **COMMON_ERRORS},
            },
            "post": {
                "summary": "Create a Job (or reuse the latest with its tag)",
                "operationId": "createJob",
                "requestBody": body(
                    ["tag"],
                    {
                        "tag": TAG,
                        "units": UNITS_PROP,
                        "reuse": {"enum": ["latest", None]},
                        "source_job": {
                            **INT_ID,
                            "type": ["integer", "null"],
                            "description": "an existing Job this one is made from (a restore's backup Job); "
                            "set on a new Job only, a reused one keeps its own",
                        },
                    },
                    {
                        "units": json_text("JSON list of unit names"),
                        "reuse": {"type": "string", "enum": ["latest"]},
                        "source_job": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
                    },
                ),
                "responses": {
                    "201": json_content(ref("Job"), "created"),
                    "200": json_content(ref("Job"), "the latest Job with the tag (reuse=latest)"),
                    **COMMON_ERRORS,
                    "400": error("bad input; invalid_source_job: source_job is not the id of an existing Job"),
                    **BODY_ERRORS,
                },
            },
        },
        "/api/v1/jobs/latest": {
            "get": {
                "summary": "The newest Job with a tag",
                "operationId": "latestJob",
                "parameters": [param("tag", "query", TAG, "the tag", required=True)],
                "responses": {
                    "200": json_content(ref("Job"), "the Job"),
                    "404": error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "One Job with its Units",
                "operationId": "getJob",
                "responses": {
                    "200": json_content(ref("Job"), "the Job"),
                    "404": error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete a Job with its operations and events",
                "operationId": "deleteJob",
                "responses": {
                    "204": {"description": "deleted"},
                    "404": error("job_not_found"),
                    "409": error("job_busy"),
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
                    "200": json_content(ref("UnitsPage"), "the Units"),
                    "404": error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Add a Unit (idempotent)",
                "operationId": "addUnit",
                "requestBody": body(["name"], {"name": UNIT_NAME}),
                "responses": {
                    "201": json_content(ref("Unit"), "created"),
                    "200": json_content(ref("Unit"), "existed"),
                    "404": error("job_not_found"),
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
                    "200": json_content(ref("Unit"), "the Unit"),
                    "404": error("job_not_found or unit_not_found"),
                    **COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Start an Operation: run a playbook in the Unit",
                "operationId": "startOperation",
                "requestBody": body(["action"], RUN_PROPS, RUN_FORM),
                "responses": {
                    "202": {
                        **json_content(ref("Operation"), "accepted"),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "404": error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": error("unit_busy"),
                    "503": error("shutting_down"),
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
                "requestBody": body(
                    ["action"],
                    {**RUN_PROPS, "units": {**UNITS_PROP, "description": "default: every Unit of the Job"}},
                    {**RUN_FORM, "units": json_text("JSON list of Unit names")},
                ),
                "responses": {
                    "202": json_content(ref("OperationList"), "accepted: the new Operations in the Job's Unit order"),
                    "404": error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": error("unit_busy"),
                    "503": error("shutting_down"),
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
                    **body(
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
                            "statuses": json_text("JSON list of status words"),
                            "units": json_text("JSON list of Unit names"),
                        },
                    ),
                    "required": False,
                },
                "responses": {
                    "202": json_content(ref("OperationList"), "started: the new Operations in the Job's Unit order"),
                    "200": json_content(ref("OperationList"), "nothing matched: no Operation started"),
                    "404": error("job_not_found, unit_not_found or playbook_not_found"),
                    "409": error("unit_busy"),
                    "503": error("shutting_down"),
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
                    param("job_id", "query", INT_ID, "only this Job's"),
                    param("unit", "query", UNIT_NAME, "only this Unit's"),
                    param("status", "query", {"type": "string", "enum": OP_STATUS}, "status"),
                    param("action", "query", {"type": "string"}, "playbook file name"),
                    LIMIT,
                    CURSOR,
                ],
                "responses": {"200": json_content(ref("OperationsPage"), "a page"), **COMMON_ERRORS},
            },
        },
        "/api/v1/operations/{op_id}": {
            "parameters": [OP_ID],
            "get": {
                "summary": "One Operation; ?wait=S long-polls until it is terminal",
                "operationId": "getOperation",
                "parameters": [
                    param(
                        "wait",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": 60},
                        "seconds to wait for a terminal status",
                    )
                ],
                "responses": {
                    "200": json_content(ref("Operation"), "the Operation"),
                    "404": error("operation_not_found"),
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
                    param(
                        "after",
                        "query",
                        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                        "only events with seq above this",
                    ),
                    param(
                        "limit",
                        "query",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": EVENT_PAGE_LIMIT_MAX,
                            "default": EVENT_PAGE_LIMIT_DEFAULT,
                        },
                        "page size",
                    ),
                ],
                "responses": {
                    "200": json_content(ref("EventPage"), "events"),
                    "404": error("operation_not_found"),
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
                    param(
                        "ansi",
                        "query",
                        {"type": "boolean", "default": False},
                        "true: keep ansible's colours (SGR) and no other escape sequence; false (default): plain "
                        "text with no escape sequence at all, for scripts and grep",
                    )
                ],
                "responses": {
                    "200": {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "400": error("invalid_parameter"),
                    "404": error("operation_not_found"),
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
                    "202": json_content(ref("Operation"), "canceling or canceled"),
                    "404": error("operation_not_found"),
                    "409": error("not_running"),
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
                    param("after", "query", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "resume after seq")
                ],
                "responses": {
                    "101": {"description": "switching to WebSocket"},
                    "404": error("operation_not_found"),
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
                    "404": error("job_not_found"),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/stream": {
            "get": {
                "summary": "Follow Jobs (optionally of one tag): job frames",
                "description": WS,
                "operationId": "streamJobs",
                "parameters": [param("tag", "query", TAG, "only Jobs with this tag")],
                "responses": {"101": {"description": "switching to WebSocket"}, **COMMON_ERRORS},
            },
        },
        "/api/v1/playbooks": {
            "get": {
                "summary": "Playbooks in the data dir's project/",
                "operationId": "listPlaybooks",
                "parameters": [param("unit", "query", UNIT_NAME, "only <action>-<unit>.yml")],
                "responses": {"200": json_content(ref("PlaybooksPage"), "playbooks"), **COMMON_ERRORS},
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenAPI",
                "responses": {"200": json_content({"type": "object"}, "the OpenAPI document"), **COMMON_ERRORS},
            },
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "security": [],
                "responses": {"200": json_content({"type": "object"}, "serving")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the database answers",
                "operationId": "readyz",
                "security": [],
                "responses": {"200": json_content({"type": "object"}, "ready"), "503": error("not ready")},
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
