"""The OpenAPI part for schedules and webhooks (api.md "Schedules" and "Notifications"), merged by openapi.py."""

from __future__ import annotations

from typing import Any

from .names import MAX_RETRIES
from .openapi_parts import CURSOR, INT_ID, LIMIT, SCHEDULE_NAME, TAG, TS_NULL, UNIT_NAME, error, json_content, ref


def _body(required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    """JSON, or a form whose list and object values are JSON text."""
    form = {k: {"type": "string"} for k in props}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "required": required, "properties": props}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "required": required, "properties": form}
            },
        },
    }


ERRORS = {
    "400": error("bad input"),
    "401": error("missing or wrong bearer token"),
    "413": error("payload_too_large"),
    "415": error("unsupported_media_type"),
}
LIST_PARAMS = [LIMIT, CURSOR]
NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": SCHEDULE_NAME, "description": "schedule"}
HOOK_PARAM = {"name": "webhook_id", "in": "path", "required": True, "schema": INT_ID, "description": "Webhook id"}

SCHEDULE_FIELDS: dict[str, Any] = {
    "cron": {"type": "string", "description": "five fields: minute hour day-of-month month day-of-week"},
    "timezone": {"type": "string", "description": "IANA name, default UTC"},
    "tag": TAG,
    "units": {"type": "array", "items": UNIT_NAME, "minItems": 1},
    "action": {"type": "string", "description": "as for POST /jobs/{id}/actions"},
    "extravars": {"type": ["object", "null"]},
    "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0},
    "check": {"type": "boolean"},
    "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
    "enabled": {"type": "boolean"},
}

SCHEMAS: dict[str, Any] = {
    "Schedule": {
        "type": "object",
        "required": ["name", "cron", "timezone", "tag", "units", "action", "enabled", "next_run_at"],
        "properties": {
            "name": SCHEDULE_NAME,
            **SCHEDULE_FIELDS,
            "description": {"type": "string", "description": "the cron in words"},
            "next_run_at": TS_NULL,
            "last_run_at": TS_NULL,
            "last_job_id": {"type": ["integer", "null"]},
            "last_job_status": {"type": ["string", "null"], "description": "null until it ran, or once deleted"},
            "last_error": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Webhook": {
        "type": "object",
        "required": ["id", "url", "events", "tags", "has_secret"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"enum": ["job.finished", "operation.finished"]}},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            "has_secret": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Delivery": {
        "type": "object",
        "required": ["id", "event", "status", "attempts", "response_status", "last_error", "next_attempt_at"],
        "properties": {
            "id": {"type": "integer", "description": "also the webhook-id header of every attempt"},
            "webhook_id": {"type": "integer"},
            "event": {"type": "string"},
            "status": {"enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "response_status": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "next_attempt_at": TS_NULL,
            "delivered_at": TS_NULL,
        },
    },
    "SchedulesPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": ref("Schedule")}, "next": {"type": ["string", "null"]}},
    },
    "WebhooksPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": ref("Webhook")}, "next": {"type": ["string", "null"]}},
    },
    "DeliveriesPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": ref("Delivery")}, "next": {"type": ["string", "null"]}},
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/schedules": {
        "get": {
            "summary": "List schedules, newest first",
            "operationId": "listSchedules",
            "parameters": LIST_PARAMS,
            "responses": {"200": json_content(ref("SchedulesPage"), "a page"), **ERRORS},
        },
        "post": {
            "summary": "Create a schedule",
            "operationId": "createSchedule",
            "requestBody": _body(
                ["name", "cron", "tag", "units", "action"], {"name": SCHEDULE_NAME, **SCHEDULE_FIELDS}
            ),
            "responses": {
                "201": json_content(ref("Schedule"), "created"),
                "404": error("playbook_not_found"),
                "409": error("schedule_exists"),
                **ERRORS,
            },
        },
    },
    "/api/v1/schedules/{name}": {
        "parameters": [NAME_PARAM],
        "get": {
            "summary": "One schedule",
            "operationId": "getSchedule",
            "responses": {
                "200": json_content(ref("Schedule"), "the schedule"),
                "404": error("schedule_not_found"),
                **ERRORS,
            },
        },
        "patch": {
            "summary": "Change a schedule (any field but name)",
            "operationId": "updateSchedule",
            "requestBody": _body([], SCHEDULE_FIELDS),
            "responses": {
                "200": json_content(ref("Schedule"), "changed"),
                "404": error("schedule_not_found"),
                **ERRORS,
            },
        },
        "delete": {
            "summary": "Delete a schedule (its Jobs stay)",
            "operationId": "deleteSchedule",
            "responses": {"204": {"description": "deleted"}, "404": error("schedule_not_found"), **ERRORS},
        },
    },
    "/api/v1/schedules/{name}/run": {
        "parameters": [NAME_PARAM],
        "post": {
            "summary": "Fire the schedule now: a new Job with the action started on every Unit",
            "operationId": "runSchedule",
            "responses": {
                "201": json_content(ref("Job"), "the new Job"),
                "404": error("schedule_not_found or playbook_not_found"),
                "503": error("shutting_down"),
                **ERRORS,
            },
        },
    },
    "/api/v1/webhooks": {
        "get": {
            "summary": "List webhooks, newest first",
            "operationId": "listWebhooks",
            "parameters": LIST_PARAMS,
            "responses": {"200": json_content(ref("WebhooksPage"), "a page"), **ERRORS},
        },
        "post": {
            "summary": "Register a webhook (the secret is never returned)",
            "operationId": "createWebhook",
            "requestBody": _body(
                ["url"],
                {
                    "url": {
                        "type": "string",
                        "format": "uri",
                        "description": "http or https, no credentials; not this server's own address and port, "
                        "nor a link-local or unspecified address unless --webhook-allowed-networks allows it "
                        "(invalid_url)",
                    },
                    "events": {"type": "array", "items": {"enum": ["job.finished", "operation.finished"]}},
                    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                    "secret": {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]+$"},
                },
            ),
            "responses": {"201": json_content(ref("Webhook"), "created"), **ERRORS},
        },
    },
    "/api/v1/webhooks/{webhook_id}": {
        "parameters": [HOOK_PARAM],
        "get": {
            "summary": "One webhook",
            "operationId": "getWebhook",
            "responses": {
                "200": json_content(ref("Webhook"), "the webhook"),
                "404": error("webhook_not_found"),
                **ERRORS,
            },
        },
        "delete": {
            "summary": "Delete a webhook and its deliveries",
            "operationId": "deleteWebhook",
            "responses": {"204": {"description": "deleted"}, "404": error("webhook_not_found"), **ERRORS},
        },
    },
    "/api/v1/webhooks/{webhook_id}/deliveries": {
        "parameters": [HOOK_PARAM],
        "get": {
            "summary": "The webhook's deliveries, newest first, each with its count of attempts",
            "operationId": "listDeliveries",
            "parameters": LIST_PARAMS,
            "responses": {
                "200": json_content(ref("DeliveriesPage"), "a page"),
                "404": error("webhook_not_found"),
                **ERRORS,
            },
        },
    },
    "/api/v1/webhooks/{webhook_id}/test": {
        "parameters": [HOOK_PARAM],
        "post": {
            "summary": "Queue a test delivery to this webhook",
            "description": (
                'A `webhook.test` delivery (`{"type": "webhook.test", "timestamp", "data": {"webhook_id"}}`), '
                "whatever events the webhook subscribes to: sent, signed and retried through the outbox like any "
                "other, and listed in its deliveries."
            ),
            "operationId": "testWebhook",
            "responses": {
                "202": json_content(ref("Delivery"), "the queued delivery"),
                "404": error("webhook_not_found"),
                **ERRORS,
            },
        },
    },
}
