"""Bad input of every kind gets a JSON 4xx in the error envelope, creates nothing, and harms nothing.

One server, the application in the test process, serves the whole matrix (starting one per case would
cost more than the cases); each case checks the server's Jobs, Units and Operations before and after, and
that /healthz still answers. TLS is a `redrunner serve` process: it is set up by serve() alone.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import FIXTURE_DATA, REPO, ServerClient, free_port, wait_until

ENVELOPE_KEYS = {"status", "error", "message", "field"}
RESERVED = ("redrunner_job_id", "redrunner_job_tag", "redrunner_unit", "redrunner_operation_id", "redrunner_action")
FORM = "application/x-www-form-urlencoded"


@dataclass
class Ctx:
    """What the cases refer to: a Job with Unit `db` and a finished Operation on it."""

    srv: InProcessServer
    job: int
    op: int


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    srv = start_inprocess(tmp_path_factory.mktemp("bad-input"), name="bad-input")
    try:
        job = srv.post("jobs", {"tag": "bad-input", "units": ["db"]}).json()
        op = srv.post(f"jobs/{job['id']}/units/db", {"action": "hello"}).json()
        assert srv.wait_terminal(op["id"])["status"] == "successful"
        yield Ctx(srv, job["id"], op["id"])
    finally:
        srv.stop()


def world(srv: ServerClient) -> dict[str, Any]:
    """Everything a bad request could have created: Jobs with their Units, and Operations."""
    jobs = srv.get("jobs?limit=500").json()["items"]
    ops = srv.get("operations?limit=500").json()["items"]
    return {
        "jobs": {j["id"]: sorted(u["name"] for u in j["units"]) for j in jobs},
        "operations": sorted(o["id"] for o in ops),
    }


def check_envelope(status: int, headers: dict[str, str], body: bytes, error: str, field: str | None) -> None:
    assert 400 <= status < 500, (status, body)
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert ctype.startswith("application/json"), (ctype, body)
    env = json.loads(body)
    assert set(env) <= ENVELOPE_KEYS and {"status", "error", "message"} <= set(env), env
    assert env["status"] == status, env
    assert re.fullmatch(r"[a-z0-9_]+", env["error"]), env
    assert env["error"] == error, env
    assert isinstance(env["message"], str) and env["message"], env
    if field is not None:
        assert env.get("field") == field, env
    assert "Traceback" not in env["message"]


@dataclass
class Bad:
    id: str
    method: str
    path: str  # relative to /api/v1 unless it starts with '/'; {job} and {op} are filled in
    status: int
    error: str
    field: str | None = None
    json: Any = None
    raw: bytes | None = None
    ctype: str | None = None
    headers: dict[str, str] | None = None


def action(id: str, value: Any, status: int = 400, error: str = "invalid_action", **extra: Any) -> Bad:
    return Bad(id, "POST", "jobs/{job}/units/db", status, error, "action", json={"action": value, **extra})


def op_field(id: str, name: str, value: Any, error: str, status: int = 400) -> Bad:
    return Bad(id, "POST", "jobs/{job}/units/db", status, error, name, json={"action": "hello", name: value})


def form(id: str, path: str, body: bytes, error: str, field: str | None = None, status: int = 400) -> Bad:
    return Bad(id, "POST", path, status, error, field, raw=body, ctype=FORM)


CASES: list[Bad] = [
    # -- bodies that are not a JSON object ------------------------------------------------------------
    Bad("json-malformed", "POST", "jobs", 400, "invalid_json", raw=b'{"tag": ', ctype="application/json"),
    Bad("json-trailing-garbage", "POST", "jobs", 400, "invalid_json", raw=b'{"tag": "a"} x', ctype="application/json"),
    Bad("json-not-utf8", "POST", "jobs", 400, "invalid_json", raw=b'{"tag": "\xff\xfe"}', ctype="application/json"),
    Bad(
        "json-latin1-declared",
        "POST",
        "jobs",
        400,
        "invalid_json",
        raw='{"tag": "bäck"}'.encode("latin-1"),
        ctype="application/json; charset=latin-1",
    ),
    Bad("json-array", "POST", "jobs", 400, "invalid_json", raw=b'["backup"]', ctype="application/json"),
    Bad("json-string", "POST", "jobs", 400, "invalid_json", raw=b'"backup"', ctype="application/json"),
    Bad("json-null", "POST", "jobs", 400, "invalid_json", raw=b"null", ctype="application/json"),
    Bad("json-number", "POST", "jobs/{job}/units/db", 400, "invalid_json", raw=b"42", ctype="application/json"),
    Bad(
        "json-nan",
        "POST",
        "jobs/{job}/units/db",
        400,
        "invalid_json",
        raw=b'{"action": "hello", "timeout": NaN}',
        ctype="application/json",
    ),
    Bad(
        "json-infinity-in-extravars",
        "POST",
        "jobs/{job}/units/db",
        400,
        "invalid_json",
        raw=b'{"action": "hello", "extravars": {"x": -Infinity}}',
        ctype="application/json",
    ),
    form("form-not-utf8", "jobs", b"tag=\xff", "invalid_form"),
    form("form-percent-not-utf8", "jobs", b"tag=%ff%fe", "invalid_form"),
    form("form-no-equals", "jobs", b"tag", "invalid_form"),
    form("form-nul", "jobs", b"tag=a%00b", "invalid_form"),
    Bad("content-type-text", "POST", "jobs", 415, "unsupported_media_type", raw=b"tag=a", ctype="text/plain"),
    Bad(
        "content-type-xml", "POST", "jobs", 415, "unsupported_media_type", raw=b"<tag>a</tag>", ctype="application/xml"
    ),
    Bad(
        "content-type-multipart",
        "POST",
        "jobs",
        415,
        "unsupported_media_type",
        raw=b"--x\r\n\r\n--x--",
        ctype="multipart/form-data; boundary=x",
    ),
    Bad(
        "body-too-large",
        "POST",
        "jobs",
        413,
        "payload_too_large",
        raw=b'{"tag": "' + b"a" * (1024 * 1024 + 16) + b'"}',
        ctype="application/json",
    ),
    # -- POST /jobs: tag, units, reuse ------------------------------------------------------------------
    Bad("tag-missing", "POST", "jobs", 400, "invalid_tag", "tag", json={"units": ["db"]}),
    Bad("tag-null", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": None}),
    Bad("tag-number", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": 5}),
    Bad("tag-bool", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": True}),
    Bad("tag-list", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": ["backup"]}),
    Bad("tag-object", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": {"a": 1}}),
    Bad("tag-empty", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": ""}),
    Bad("tag-too-long", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "a" * 129}),
    Bad("tag-leading-dash", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "-backup"}),
    Bad("tag-space", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "back up"}),
    Bad("tag-unicode", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "bäckup"}),
    Bad("tag-newline", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "backup\n"}),
    Bad("tag-slash", "POST", "jobs", 400, "invalid_tag", "tag", json={"tag": "a/b"}),
    form("tag-form-traversal", "jobs", b"tag=%2E%2E%2Fetc", "invalid_tag", "tag"),
    Bad("units-string", "POST", "jobs", 400, "invalid_units", "units", json={"tag": "t", "units": "db"}),
    Bad("units-object", "POST", "jobs", 400, "invalid_units", "units", json={"tag": "t", "units": {"db": 1}}),
    Bad("units-number", "POST", "jobs", 400, "invalid_units", "units", json={"tag": "t", "units": 3}),
    Bad("units-item-number", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": [5]}),
    Bad("units-item-null", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": [None]}),
    Bad("units-item-dash", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": ["-db"]}),
    Bad(
        "units-item-too-long", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": ["a" * 64]}
    ),
    Bad("units-item-space", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": ["d b"]}),
    Bad("units-item-unicode", "POST", "jobs", 400, "invalid_unit_name", "units", json={"tag": "t", "units": ["dé"]}),
    Bad(
        "units-one-bad-of-many",
        "POST",
        "jobs",
        400,
        "invalid_unit_name",
        "units",
        json={"tag": "t", "units": ["db", "web", "../x"]},
    ),
    Bad(
        "units-too-many",
        "POST",
        "jobs",
        400,
        "invalid_units",
        "units",
        json={"tag": "t", "units": [f"u{i}" for i in range(1001)]},
    ),
    form("units-form-not-json", "jobs", b"tag=t&units=db,web", "invalid_units", "units"),
    Bad("reuse-bool", "POST", "jobs", 400, "invalid_parameter", "reuse", json={"tag": "t", "reuse": True}),
    Bad("reuse-other", "POST", "jobs", 400, "invalid_parameter", "reuse", json={"tag": "t", "reuse": "newest"}),
    # -- POST /jobs/{id}/units: name ------------------------------------------------------------------------
    Bad("name-missing", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={}),
    Bad("name-number", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": 5}),
    Bad("name-list", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": ["db"]}),
    Bad("name-too-long", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": "a" * 64}),
    Bad("name-leading-dash", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": "-db"}),
    Bad("name-traversal", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": "../db"}),
    Bad("name-unicode", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": "ünit"}),
    Bad("name-colon", "POST", "jobs/{job}/units", 400, "invalid_unit_name", "name", json={"name": "a:b"}),
    Bad("name-job-missing", "POST", "jobs/999999/units", 404, "job_not_found", json={"name": "db"}),
    # -- POST /jobs/{id}/units/{name}: action in every bad form -------------------------------------------
    Bad("action-missing", "POST", "jobs/{job}/units/db", 400, "invalid_action", "action", json={}),
    action("action-null", None),
    action("action-number", 5),
    action("action-bool", True),
    action("action-list", ["hello-db.yml"]),
    action("action-object", {"file": "hello-db.yml"}),
    action("action-empty", ""),
    action("action-traversal", "../x.yml"),
    action("action-traversal-deep", "../../../../etc/passwd.yml"),
    action("action-traversal-dots-in-name", "x..yml"),
    action("action-subdir", "project/hello-db.yml"),
    action("action-absolute", "/etc/passwd.yml"),
    action("action-absolute-in-project", str(FIXTURE_DATA / "project" / "hello-db.yml")),
    action("action-home", "~/x.yml"),
    action("action-backslash", "..\\x.yml"),
    action("action-symlink-out", "escape.yml"),
    action("action-nul", "hello-db.yml\x00"),
    action("action-nul-middle", "hello\x00-db.yml"),
    action("action-leading-dash", "-hello-db.yml"),
    action("action-option", "--help"),
    action("action-leading-dot", ".hidden.yml"),
    action("action-space", "hello-db.yml "),
    action("action-newline", "hello-db.yml\n"),
    action("action-unicode", "héllo-db.yml"),
    action("action-too-long", "a" * 300 + ".yml"),
    action("action-url-encoded-json", "..%2Fhello-db.yml"),
    action("action-not-found", "nope.yml", 404, "playbook_not_found"),
    action("action-short-not-found", "nope", 404, "playbook_not_found"),
    form("action-form-url-encoded", "jobs/{job}/units/db", b"action=..%2Fhello-db.yml", "invalid_action", "action"),
    form(
        "action-form-double-encoded", "jobs/{job}/units/db", b"action=..%252Fhello-db.yml", "invalid_action", "action"
    ),
    form("action-form-absolute", "jobs/{job}/units/db", b"action=%2Fetc%2Fpasswd.yml", "invalid_action", "action"),
    form("action-form-nul", "jobs/{job}/units/db", b"action=hello-db.yml%00", "invalid_form", "action"),
    form("action-form-symlink-out", "jobs/{job}/units/db", b"action=escape.yml", "invalid_action", "action"),
    Bad("action-unit-missing", "POST", "jobs/{job}/units/nosuch", 404, "unit_not_found", json={"action": "hello"}),
    Bad("action-unit-bad-name", "POST", "jobs/{job}/units/-db", 400, "invalid_unit_name", json={"action": "hello"}),
    Bad("action-job-missing", "POST", "jobs/999999/units/db", 404, "job_not_found", json={"action": "hello"}),
    # -- extravars, timeout, queue ----------------------------------------------------------------------------
    *[op_field(f"extravars-reserved-{name}", "extravars", {name: "x"}, "reserved_extravar") for name in RESERVED],
    op_field("extravars-reserved-among-others", "extravars", {"a": 1, "redrunner_unit": "web"}, "reserved_extravar"),
    op_field("extravars-list", "extravars", [1, 2], "invalid_extravars"),
    op_field("extravars-string", "extravars", "a=1", "invalid_extravars"),
    op_field("extravars-number", "extravars", 7, "invalid_extravars"),
    op_field("extravars-bad-name", "extravars", {"bad-name": 1}, "invalid_extravars"),
    op_field("extravars-empty-name", "extravars", {"": 1}, "invalid_extravars"),
    op_field("extravars-too-big", "extravars", {"blob": "x" * (300 * 1024)}, "invalid_extravars"),
    form(
        "extravars-form-not-json",
        "jobs/{job}/units/db",
        b"action=hello&extravars=a%3D1",
        "invalid_extravars",
        "extravars",
    ),
    form(
        "extravars-form-reserved",
        "jobs/{job}/units/db",
        b"action=hello&extravars=%7B%22redrunner_job_id%22%3A1%7D",
        "reserved_extravar",
        "extravars",
    ),
    form(
        "extravars-form-nan",
        "jobs/{job}/units/db",
        b"action=hello&extravars=%7B%22x%22%3A+NaN%7D",
        "invalid_extravars",
        "extravars",
    ),
    op_field("timeout-string", "timeout", "abc", "invalid_timeout"),
    op_field("timeout-zero", "timeout", 0, "invalid_timeout"),
    op_field("timeout-negative", "timeout", -1, "invalid_timeout"),
    op_field("timeout-bool", "timeout", True, "invalid_timeout"),
    op_field("timeout-list", "timeout", [5], "invalid_timeout"),
    op_field("timeout-infinite", "timeout", "inf", "invalid_timeout"),
    op_field("timeout-too-long", "timeout", 1e12, "invalid_timeout"),
    form("timeout-form-nan", "jobs/{job}/units/db", b"action=hello&timeout=nan", "invalid_timeout", "timeout"),
    op_field("queue-string", "queue", "yes", "invalid_parameter"),
    op_field("queue-number", "queue", 1, "invalid_parameter"),
    op_field("queue-list", "queue", [True], "invalid_parameter"),
    form("queue-form-capital", "jobs/{job}/units/db", b"action=hello&queue=True", "invalid_parameter", "queue"),
    # -- routes and methods -----------------------------------------------------------------------------------
    Bad("route-unknown-root", "GET", "/nope", 404, "not_found"),
    Bad("route-unknown-api", "GET", "nope", 404, "not_found"),
    Bad("route-api-root", "GET", "/api/v1/", 404, "not_found"),
    Bad("route-other-version", "GET", "/api/v2/jobs", 404, "not_found"),
    Bad("route-trailing-slash", "GET", "jobs/", 404, "not_found"),
    Bad("route-post-unknown", "POST", "nope", 404, "not_found", json={}),
    Bad("method-put-jobs", "PUT", "jobs", 405, "method_not_allowed", json={"tag": "t"}),
    Bad("method-delete-jobs", "DELETE", "jobs", 405, "method_not_allowed"),
    Bad("method-patch-job", "PATCH", "jobs/{job}", 405, "method_not_allowed", json={}),
    Bad("method-post-operation", "POST", "operations/{op}", 405, "method_not_allowed", json={}),
    Bad("method-get-cancel", "GET", "operations/{op}/cancel", 405, "method_not_allowed"),
    Bad("method-delete-healthz", "DELETE", "/healthz", 405, "method_not_allowed"),
    Bad("method-options", "OPTIONS", "jobs", 405, "method_not_allowed"),
    Bad("cancel-finished", "POST", "operations/{op}/cancel", 409, "not_running", json={}),
    # -- path ids ---------------------------------------------------------------------------------------------
    Bad("job-id-word", "GET", "jobs/abc", 400, "invalid_parameter", "job_id"),
    Bad("job-id-zero", "GET", "jobs/0", 400, "invalid_parameter", "job_id"),
    Bad("job-id-negative", "GET", "jobs/-1", 400, "invalid_parameter", "job_id"),
    Bad("job-id-float", "GET", "jobs/1.5", 400, "invalid_parameter", "job_id"),
    Bad("job-id-huge", "GET", "jobs/99999999999999999999999", 400, "invalid_parameter", "job_id"),
    Bad("job-id-missing", "GET", "jobs/999999", 404, "job_not_found"),
    Bad("job-delete-missing", "DELETE", "jobs/999999", 404, "job_not_found"),
    Bad("op-id-word", "GET", "operations/abc", 400, "invalid_parameter", "operation_id"),
    Bad("op-id-exponent", "GET", "operations/1e3", 400, "invalid_parameter", "operation_id"),
    Bad("op-id-missing", "GET", "operations/999999", 404, "operation_not_found"),
    Bad("op-events-missing", "GET", "operations/999999/events", 404, "operation_not_found"),
    Bad("op-stdout-missing", "GET", "operations/999999/stdout", 404, "operation_not_found"),
    Bad("op-cancel-missing", "POST", "operations/999999/cancel", 404, "operation_not_found", json={}),
    Bad("unit-bad-name", "GET", "jobs/{job}/units/bad%20name", 400, "invalid_unit_name"),
    Bad("unit-missing", "GET", "jobs/{job}/units/nosuch", 404, "unit_not_found"),
    # -- query parameters ---------------------------------------------------------------------------------------
    Bad("limit-zero", "GET", "jobs?limit=0", 400, "invalid_parameter", "limit"),
    Bad("limit-over", "GET", "jobs?limit=501", 400, "invalid_parameter", "limit"),
    Bad("limit-word", "GET", "jobs?limit=abc", 400, "invalid_parameter", "limit"),
    Bad("limit-negative", "GET", "operations?limit=-5", 400, "invalid_parameter", "limit"),
    Bad("limit-fraction", "GET", "operations?limit=1.5", 400, "invalid_parameter", "limit"),
    Bad("limit-empty", "GET", "operations?limit=", 400, "invalid_parameter", "limit"),
    Bad("cursor-garbage", "GET", "jobs?cursor=garbage", 400, "invalid_parameter", "cursor"),
    Bad("cursor-not-utf8", "GET", "operations?cursor=%ff", 400, "invalid_parameter", "cursor"),
    Bad("cursor-forged", "GET", "jobs?cursor=aWQ6LTE", 400, "invalid_parameter", "cursor"),
    # "id:" and 21 nines: an id beyond 64 bits, which the database cannot compare.
    Bad(
        "cursor-beyond-64-bits",
        "GET",
        "operations?cursor=aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
        400,
        "invalid_parameter",
        "cursor",
    ),
    Bad(
        "cursor-beyond-64-bits-jobs",
        "GET",
        "jobs?cursor=aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
        400,
        "invalid_parameter",
        "cursor",
    ),
    Bad(
        "json-nested-deeply",
        "POST",
        "jobs",
        400,
        "invalid_json",
        raw=b"[" * 200_000 + b"]" * 200_000,
        ctype="application/json",
    ),
    Bad(
        "json-nested-deeply-object",
        "POST",
        "jobs",
        400,
        "invalid_json",
        raw=b'{"tag": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        ctype="application/json",
    ),
    form(
        "extravars-nested-deeply-form",
        "jobs/{job}/units/db",
        b"action=hello&extravars=" + b"%5B" * 100_000 + b"%5D" * 100_000,
        "invalid_extravars",
        "extravars",
    ),
    Bad("status-jobs-bogus", "GET", "jobs?status=bogus", 400, "invalid_parameter", "status"),
    Bad("status-ops-bogus", "GET", "operations?status=bogus", 400, "invalid_parameter", "status"),
    Bad("tag-query-bad", "GET", "jobs?tag=-x", 400, "invalid_tag", "tag"),
    Bad("tag-query-nul", "GET", "jobs?tag=a%00", 400, "invalid_parameter", "tag"),
    Bad("latest-no-tag", "GET", "jobs/latest", 400, "invalid_tag", "tag"),
    Bad("latest-bad-tag", "GET", "jobs/latest?tag=%20", 400, "invalid_tag", "tag"),
    Bad("ops-job-id-word", "GET", "operations?job_id=abc", 400, "invalid_parameter", "job_id"),
    Bad("ops-unit-bad", "GET", "operations?unit=-x", 400, "invalid_unit_name", "unit"),
    Bad("playbooks-unit-bad", "GET", "playbooks?unit=a/b", 400, "invalid_unit_name", "unit"),
    Bad("after-negative", "GET", "operations/{op}/events?after=-1", 400, "invalid_parameter", "after"),
    Bad("after-word", "GET", "operations/{op}/events?after=abc", 400, "invalid_parameter", "after"),
    Bad("after-huge", "GET", "operations/{op}/events?after=99999999999", 400, "invalid_parameter", "after"),
    Bad("events-limit-over", "GET", "operations/{op}/events?limit=5001", 400, "invalid_parameter", "limit"),
    Bad("events-limit-zero", "GET", "operations/{op}/events?limit=0", 400, "invalid_parameter", "limit"),
    Bad("wait-over", "GET", "operations/{op}?wait=61", 400, "invalid_parameter", "wait"),
    Bad("wait-negative", "GET", "operations/{op}?wait=-1", 400, "invalid_parameter", "wait"),
    Bad("wait-fraction", "GET", "operations/{op}?wait=0.5", 400, "invalid_parameter", "wait"),
    # -- the safety rules (api.md "Safety rules on every request") ------------------------------------------------
    op_field("extravars-ansible-key", "extravars", {"ansible_connection": "local"}, "reserved_extravar"),
    op_field("extravars-ansible-key-upper", "extravars", {"ANSIBLE_BECOME": True}, "reserved_extravar"),
    op_field("extravars-jinja-value", "extravars", {"x": "{{ lookup('pipe', 'id') }}"}, "unsafe_extravars"),
    op_field("extravars-jinja-statement", "extravars", {"x": ["{% if 1 %}a{% endif %}"]}, "unsafe_extravars"),
    op_field("extravars-jinja-comment", "extravars", {"x": {"y": "{# c #}"}}, "unsafe_extravars"),
    op_field("extravars-jinja-nested-key", "extravars", {"x": {"{{ k }}": 1}}, "unsafe_extravars"),
    op_field("extravars-lone-surrogate", "extravars", {"x": "\ud800"}, "invalid_extravars"),
    Bad(
        "extravars-huge-exponent",
        "POST",
        "jobs/{job}/units/db",
        400,
        "invalid_extravars",
        "extravars",
        raw=b'{"action": "hello", "extravars": {"x": 1e999}}',
        ctype="application/json",
    ),
    form(
        "form-extravars-jinja",
        "jobs/{job}/units/db",
        b"action=hello&extravars=%7B%22x%22%3A%22%7B%7B1%7D%7D%22%7D",
        "unsafe_extravars",
        "extravars",
    ),
    Bad("origin-foreign-get", "GET", "jobs", 403, "forbidden_origin", headers={"Origin": "http://evil.example"}),
    Bad("origin-null", "GET", "jobs", 403, "forbidden_origin", headers={"Origin": "null"}),
    Bad(
        "origin-foreign-form-post",
        "POST",
        "jobs",
        403,
        "forbidden_origin",
        raw=b"tag=csrf",
        ctype=FORM,
        headers={"Origin": "https://evil.example"},
    ),
    Bad("host-foreign", "GET", "jobs", 403, "forbidden_host", headers={"Host": "evil.example:8787"}),
    Bad(
        "host-foreign-post", "POST", "jobs", 403, "forbidden_host", json={"tag": "x"}, headers={"Host": "evil.example"}
    ),
    # -- a stream route without the WebSocket upgrade ------------------------------------------------------------
    Bad("stream-plain-http", "GET", "operations/{op}/stream", 400, "websocket_required"),
]


def test_matrix_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request(ctx: Ctx, case: Bad) -> None:
    srv = ctx.srv
    before = world(srv)
    path = case.path.replace("{job}", str(ctx.job)).replace("{op}", str(ctx.op))
    headers: dict[str, str] = dict(case.headers or {})
    if case.ctype:
        headers["Content-Type"] = case.ctype
    raw = case.raw
    if case.json is not None:
        raw = json.dumps(case.json).encode()
        headers.setdefault("Content-Type", "application/json")
    resp = srv.request(case.method, path, raw=raw, headers=headers)
    check_envelope(resp.status, resp.headers, resp.body, case.error, case.field)
    if resp.status == 405:
        allowed = {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
        assert allowed and case.method not in allowed, resp.headers
    assert world(srv) == before
    assert srv.get("/healthz").status == 200


WS_CASES = [
    ("ws-op-id-word", "operations/abc/stream", 400, "invalid_parameter"),
    ("ws-op-id-zero", "operations/0/stream", 400, "invalid_parameter"),
    ("ws-op-missing", "operations/999999/stream", 404, "operation_not_found"),
    ("ws-after-negative", "operations/{op}/stream?after=-1", 400, "invalid_parameter"),
    ("ws-after-word", "operations/{op}/stream?after=abc", 400, "invalid_parameter"),
    ("ws-after-fraction", "operations/{op}/stream?after=1.5", 400, "invalid_parameter"),
    ("ws-after-huge", "operations/{op}/stream?after=99999999999", 400, "invalid_parameter"),
    ("ws-after-empty", "operations/{op}/stream?after=", 400, "invalid_parameter"),
    ("ws-job-id-word", "jobs/abc/stream", 400, "invalid_parameter"),
    ("ws-job-missing", "jobs/999999/stream", 404, "job_not_found"),
    ("ws-tag-bad", "stream?tag=-x", 400, "invalid_tag"),
    ("ws-tag-unicode", "stream?tag=%C3%A9", 400, "invalid_tag"),
    ("ws-unknown-path", "nope/stream", 404, "not_found"),
    ("ws-stream-suffix", "operations/{op}/stream/x", 404, "not_found"),
]


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
def test_websocket_foreign_origin(ctx: Ctx, origin: str) -> None:
    before = world(ctx.srv)
    url = f"{ctx.srv.ws_api}/operations/{ctx.op}/stream"
    with pytest.raises(InvalidStatus) as info, connect(url, origin=Origin(origin), open_timeout=10):
        pass
    resp = info.value.response
    check_envelope(resp.status_code, dict(resp.headers.raw_items()), bytes(resp.body or b""), "forbidden_origin", None)
    assert world(ctx.srv) == before


@pytest.mark.parametrize(("path", "status", "error"), [c[1:] for c in WS_CASES], ids=[c[0] for c in WS_CASES])
def test_bad_websocket(ctx: Ctx, path: str, status: int, error: str) -> None:
    srv = ctx.srv
    before = world(srv)
    url = f"{srv.ws_api}/{path.replace('{op}', str(ctx.op))}"
    with pytest.raises(InvalidStatus) as info, connect(url, open_timeout=10):
        pass
    resp = info.value.response
    check_envelope(resp.status_code, dict(resp.headers.raw_items()), bytes(resp.body or b""), error, None)
    assert world(srv) == before
    assert srv.get("/healthz").status == 200


def raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 8 * 1024 * 1024])
def test_large_body_is_answered_not_reset(ctx: Ctx, size: int) -> None:
    """The client sending too much reads a 413 envelope: the connection is not cut under it."""
    before = world(ctx.srv)
    status, headers, body = raw_post(ctx.srv.port, "/api/v1/jobs", b"x" * size, {"Content-Type": "application/json"})
    assert status == 413
    check_envelope(status, headers, body, "payload_too_large", None)
    assert world(ctx.srv) == before


def test_declared_length_over_the_limit_is_answered_before_the_body(ctx: Ctx) -> None:
    """A client that announces a huge body and waits gets an answer instead of a hang or a reset."""
    with socket.create_connection(("127.0.0.1", ctx.srv.port), timeout=15) as sock:
        sock.sendall(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), data[:200]
    assert ctx.srv.get("/healthz").status == 200


# -- TLS ----------------------------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the `cryptography` package (a test dependency of schemathesis)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certfile, keyfile


def test_tls_serves_https(tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "tls.log"
    cmd = [
        sys.executable,
        "-m",
        "backend",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(FIXTURE_DATA),
        "--state-dir",
        str(tmp_path / "state"),
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
    ]
    trusted = ssl.create_default_context(cafile=str(certfile))

    def https(path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=trusted, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is None and https("/healthz")[0] == 200, 30, 0.05, "https /healthz")
        status, job = https("/api/v1/jobs", "POST", {"tag": "tls", "units": ["db"]})
        assert status == 201 and job["tag"] == "tls"
        status, err = https("/api/v1/jobs?limit=0")
        assert status == 400 and err["error"] == "invalid_parameter"
        # Plain HTTP on the TLS port gets no API answer.
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                assert resp.status != 200
                raise ConnectionError(f"plain HTTP answered {resp.status}")
            finally:
                conn.close()
        # A client that does not trust the certificate refuses it.
        with pytest.raises(ssl.SSLCertVerificationError):
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(), timeout=5)
            try:
                conn.request("GET", "/healthz")
            finally:
                conn.close()
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()
    assert "serving on https://" in log.read_text()
