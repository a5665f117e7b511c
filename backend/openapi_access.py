"""The OpenAPI part for access and audit (api.md "Access and audit"): /whoami, /audit, and the role each
operation needs, written into every operation from the one table (access.ROUTE_ROLES) by way of the
routes, so the document and the handlers cannot disagree."""

from __future__ import annotations

import re
from typing import Any

from tornado import web

from .access import ROLE_NAMES, required_role
from .names import ACTOR_MAX
from .openapi_parts import COMMON_ERRORS, CURSOR, LIMIT, TS, json_content, page, param, ref

ROLE = {"type": "string", "enum": list(ROLE_NAMES)}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
# Stands for "no token needed" in x-required-role.
OPEN_ROLE = "none"

SCHEMAS: dict[str, Any] = {
    "WhoAmI": {
        "type": "object",
        "required": ["name", "role"],
        "properties": {
            "name": {"type": "string", "description": "the token's name; anonymous on a server without tokens"},
            "role": ROLE,
        },
    },
    "AuditRecord": {
        "type": "object",
        "required": ["id", "at", "actor", "role", "method", "path", "status", "remote", "target"],
        "properties": {
            "id": {"type": "integer"},
            "at": TS,
            "actor": {"type": "string", "description": "the token's name, anonymous, or unknown (no valid token)"},
            "role": {"type": ["string", "null"], "enum": [*ROLE_NAMES, None]},
            "method": {"type": "string"},
            "path": {"type": "string", "description": "without the query string"},
            "status": {"type": "integer", "description": "the answer's HTTP status"},
            "remote": {"type": ["string", "null"], "description": "the client's address"},
            "target": {
                "type": ["string", "null"],
                "description": "job:<id>, operation:<id>, schedule:<name> or webhook:<id>, when there is one",
            },
        },
    },
    "AuditPage": page("AuditRecord"),
}

PATHS: dict[str, Any] = {
    "/api/v1/whoami": {
        "get": {
            "summary": "The caller's token name and role, for clients to offer only what it may do",
            "operationId": "whoami",
            "responses": {"200": json_content(ref("WhoAmI"), "the caller"), **COMMON_ERRORS},
        },
    },
    "/api/v1/audit": {
        "get": {
            "summary": "The audit trail: every request other than GET, HEAD and OPTIONS, newest first",
            "description": "Accepted and refused requests alike (a 401 with actor `unknown`). No token and no "
            "body is ever stored. Records older than --audit-retain-days are pruned.",
            "operationId": "listAudit",
            "parameters": [
                param("actor", "query", {"type": "string", "maxLength": ACTOR_MAX}, "only this actor's records"),
                param(
                    "after",
                    "query",
                    {"type": "string"},
                    "only records after this record id, or after this time (ISO 8601, e.g. 2026-12-07T00:00:00Z)",
                ),
                LIMIT,
                CURSOR,
            ],
            "responses": {"200": json_content(ref("AuditPage"), "a page of records"), **COMMON_ERRORS},
        },
    },
}


def openapi_path(pattern: str) -> str:
    """A route's regex as the document's path: `/api/v1/jobs/(?P<job_id>[^/]+)` -> `/api/v1/jobs/{job_id}`."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)


def annotate_roles(paths: dict[str, Any], routes: list[tuple[str, Any]]) -> list[str]:
    """Write each operation's `x-required-role` from the role table; returns the handler methods the
    document does not describe (tests/unit/test_openapi_roles.py wants none)."""
    missing = []
    for pattern, handler in routes:
        path = openapi_path(pattern)
        described = paths.get(path, {})
        for method in HTTP_METHODS:
            if getattr(handler, method, None) is getattr(web.RequestHandler, method, None):
                continue  # not implemented by this route
            operation = described.get(method)
            if operation is None:
                missing.append(f"{method.upper()} {path}")
                continue
            role = required_role(handler.route_name, method)
            operation["x-required-role"] = str(role) if role is not None else OPEN_ROLE
            if role is None:
                operation["security"] = []
    return missing
