"""Building blocks of the OpenAPI document: value schemas, parameters, bodies and responses, shared by
openapi.py, openapi_schemas.py and openapi_schedules.py. Patterns and limits come from names.py."""

from __future__ import annotations

from typing import Any

from .names import (
    MAX_ID,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    SCHEDULE_NAME_PATTERN,
    TAG_PATTERN,
    UNIT_NAME_PATTERN,
)
from .statuses import JobStatus, OperationStatus

TS = {"type": "string", "format": "date-time", "example": "2026-11-25T12:00:00.123456Z"}
TS_NULL = {"type": ["string", "null"], "format": "date-time"}
# The server takes ids of at most ID_DIGITS digits.
INT_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TAG = {"type": "string", "pattern": TAG_PATTERN}
UNIT_NAME = {"type": "string", "pattern": UNIT_NAME_PATTERN}
SCHEDULE_NAME = {"type": "string", "pattern": SCHEDULE_NAME_PATTERN}
OP_STATUS = [str(s) for s in OperationStatus]
JOB_STATUS = [str(s) for s in JobStatus]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return json_content(ref("Error"), description)


def page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": ref(item)}, "next": {"type": ["string", "null"]}},
    }


def param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


JOB_ID = param("job_id", "path", INT_ID, "Job id")
OP_ID = param("op_id", "path", INT_ID, "Operation id")
UNIT = param("name", "path", UNIT_NAME, "Unit name")
LIMIT = param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX, "default": PAGE_LIMIT_DEFAULT},
    "page size",
)
CURSOR = param("cursor", "query", {"type": "string", "minLength": 1}, "the `next` of the previous page")
COMMON_ERRORS = {
    "400": error("bad input"),
    "401": error("missing or wrong bearer token"),
    "403": error("forbidden_origin (a foreign Origin) or forbidden_host (a foreign Host on a loopback listen)"),
}


BODY_ERRORS = {"413": error("payload_too_large"), "415": error("unsupported_media_type")}


def json_text(description: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "description": description}


def body(required: list[str], props: dict[str, Any], form: dict[str, Any] | None = None) -> dict[str, Any]:
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
