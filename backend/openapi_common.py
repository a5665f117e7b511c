"""The building blocks every part of the OpenAPI document uses (openapi.py, openapi_schedules.py,
openapi_access.py): one definition of a reference, a JSON response, an error, a request body, a
parameter and the errors every protected operation can answer, so the parts cannot drift apart."""

from __future__ import annotations

from typing import Any

TS = {"type": "string", "format": "date-time", "example": "2026-11-25T12:00:00.123456Z"}
TS_NULL = {"type": ["string", "null"], "format": "date-time"}
# The server takes ids of at most 18 digits.
INT_ID = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
# Who made or asked for something: a token's name, `anonymous`, or `schedule:<name>`.
ACTOR = {
    "type": ["string", "null"],
    "description": "a token's name, anonymous, or schedule:<name>; null when made before this was recorded",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return json_response(ref("Error"), description)


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


def json_text(description: str) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "description": description}


def body(required: list[str], props: dict[str, Any], form: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same fields as JSON or as a form, where every value is text and lists and objects are JSON text
    (`form` gives the form's schema of such fields). A JSON null stands for a field not given."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "required": required, "properties": props}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "required": required, "properties": {**props, **(form or {})}}
            },
        },
    }


LIMIT = param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")
CURSOR = param("cursor", "query", {"type": "string", "minLength": 1}, "the `next` of the previous page")
COMMON_ERRORS = {
    "400": error("bad input"),
    "401": error("unauthorized: missing or unknown bearer token"),
    "403": error(
        "forbidden_role (the token's role is below this operation's x-required-role; the message names the "
        "role needed), forbidden_origin (a foreign Origin) or forbidden_host (a foreign Host on a loopback listen)"
    ),
}
BODY_ERRORS = {"413": error("payload_too_large"), "415": error("unsupported_media_type")}
