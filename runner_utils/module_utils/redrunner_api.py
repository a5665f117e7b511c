"""A small RedRunner API client for the redrunner_* modules.

Standard library only (urllib), so the modules run under whatever Python the
target host offers, without installing anything there.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from ansible.module_utils.basic import env_fallback

DEFAULT_URL = "http://127.0.0.1:8787"

# The options every RedRunner module takes to reach the server, defined once; documented once in
# doc_fragments/redrunner.py (tests/runner_utils/test_module_docs.py keeps the two in step).
CONNECTION_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "url": {"type": "str", "default": DEFAULT_URL, "fallback": (env_fallback, ["REDRUNNER_URL"])},
    "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["REDRUNNER_TOKEN"])},
    "token_file": {"type": "path", "fallback": (env_fallback, ["REDRUNNER_TOKEN_FILE"])},
    "validate_certs": {"type": "bool", "default": True},
    "request_timeout": {"type": "float", "default": 30},
}


def connection_argument_spec(**own: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A module's argument_spec: the shared connection options plus the module's own."""
    clash = set(own) & set(CONNECTION_ARGUMENT_SPEC)
    if clash:
        raise ValueError(f"options already defined as connection options: {sorted(clash)}")
    return {**copy.deepcopy(CONNECTION_ARGUMENT_SPEC), **own}


# A copy of backend.statuses.TERMINAL: this file runs inside Ansible, where backend is not importable
# (tests/unit/runner_utils/test_statuses.py keeps the two equal).
TERMINAL = frozenset(("successful", "failed", "canceled", "timeout", "lost", "error"))
FAILURE_EVENTS = frozenset(("runner_on_failed", "runner_item_on_failed", "runner_on_unreachable"))
MAX_LONG_POLL = 60  # the API caps ?wait= at 60 seconds
HTTP_SLACK = 15.0  # socket timeout beyond a long-poll, so a slow answer is not cut short
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # playbook output keeps ansible's colours


class RedRunnerError(Exception):
    """An API answer that is not a success, or a server that cannot be reached."""

    def __init__(self, message: str, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error


class ApiClient:
    """The modules' HTTP client: one request at a time, errors as RedRunnerError (the console has its own)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        request_timeout: float = 30.0,
        validate_certs: bool = True,
    ) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token or None
        self.request_timeout = request_timeout
        self._ssl = None if validate_certs else ssl._create_unverified_context()

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        """Send one request; return the decoded JSON (or text) body, raise RedRunnerError otherwise."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urlopen(req, timeout=timeout or self.request_timeout, context=self._ssl) as resp:
                raw = resp.read()
                ctype = resp.headers.get("Content-Type", "")
        except HTTPError as err:
            raise _api_error(method, path, err) from None
        except (URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise RedRunnerError(f"cannot reach RedRunner at {self.base}: {reason}") from None
        if "json" in ctype:
            return json.loads(raw.decode("utf-8")) if raw else None
        return raw.decode("utf-8", "replace")

    # Jobs
    def create_job(
        self, tag: str, units: list[str], reuse: bool = False, source_job: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"tag": tag, "units": list(units)}
        if reuse:
            body["reuse"] = "latest"
        if source_job is not None:
            body["source_job"] = source_job
        return dict(self.request("POST", "/jobs", body))

    def latest_job(self, tag: str) -> dict[str, Any] | None:
        try:
            return dict(self.request("GET", "/jobs/latest?" + urlencode({"tag": tag})))
        except RedRunnerError as err:
            if err.status == 404 and err.error == "job_not_found":
                return None
            raise

    def list_jobs(self, tag: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        query = {"tag": tag, "limit": limit, **({"cursor": cursor} if cursor else {})}
        return dict(self.request("GET", "/jobs?" + urlencode(query)))

    def list_operations(self, limit: int = 500, cursor: str | None = None, **filters: Any) -> dict[str, Any]:
        """One page of GET /operations (newest first), filtered by job_id, unit, status, action."""
        query = {k: v for k, v in filters.items() if v is not None}
        query.update({"limit": limit, **({"cursor": cursor} if cursor else {})})
        return dict(self.request("GET", "/operations?" + urlencode(query)))

    def get_job(self, job_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/jobs/{job_id}"))

    def get_unit(self, job_id: int, unit: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/jobs/{job_id}/units/{quote(unit, safe='')}"))

    # Operations
    def start_operation(
        self,
        job_id: int,
        unit: str,
        action: str,
        extravars: dict[str, Any] | None = None,
        timeout: float | None = None,
        queue: bool = False,
        check: bool = False,
        diff: bool = False,
        retries: int = 0,
        retry_delay: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action, "extravars": dict(extravars or {})}
        if timeout:
            body["timeout"] = timeout
        if queue:
            body["queue"] = True
        if check:
            body["check"] = True
        if diff:
            body["diff"] = True
        if retries:
            body["retries"] = retries
        if retry_delay is not None:
            body["retry_delay"] = retry_delay
        return dict(self.request("POST", f"/jobs/{job_id}/units/{quote(unit, safe='')}", body))

    def next_attempt(self, op: dict[str, Any]) -> dict[str, Any] | None:
        """The Operation that retries `op` (the server creates it as `op` ends), or None."""
        if op.get("status") == "successful" or int(op.get("attempt") or 1) > int(op.get("retries") or 0):
            return None
        query = urlencode({"job_id": op["job_id"], "unit": op["unit"], "limit": 50})
        for item in self.request("GET", f"/operations?{query}").get("items") or []:
            if item.get("retry_of") == op["id"]:
                return dict(item)
        return None

    def get_operation(self, op_id: int, wait: float | None = None) -> dict[str, Any]:
        if not wait:
            return dict(self.request("GET", f"/operations/{op_id}"))
        secs = max(1, min(MAX_LONG_POLL, int(wait)))
        return dict(self.request("GET", f"/operations/{op_id}?wait={secs}", timeout=secs + HTTP_SLACK))

    def events(self, op_id: int, after: int = 0, limit: int = 500) -> dict[str, Any]:
        query = urlencode({"after": after, "limit": limit})
        return dict(self.request("GET", f"/operations/{op_id}/events?{query}"))

    def stdout(self, op_id: int) -> str:
        return str(self.request("GET", f"/operations/{op_id}/stdout"))


def _api_error(method: str, path: str, err: HTTPError) -> RedRunnerError:
    try:
        body = json.loads(err.read().decode("utf-8"))
        message, code = body.get("message") or str(err), body.get("error")
    except Exception:  # not our JSON envelope: a proxy's page, say
        message, code = str(err), None
    return RedRunnerError(f"{method} {path}: {err.code} {message}", status=err.code, error=code)


def follow(
    client: ApiClient,
    op_id: int,
    wait_timeout: float | None = None,
    long_poll: float = 30,
    on_change: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Long-poll the Operation until it is terminal or `wait_timeout` seconds have passed.

    The server holds each request until the Operation ends (or `long_poll` seconds),
    so following costs one request per `long_poll` seconds, not a tight loop.
    """
    deadline = None if wait_timeout is None else clock() + wait_timeout
    op = client.get_operation(op_id)
    while op["status"] not in TERMINAL:
        left = long_poll if deadline is None else min(long_poll, deadline - clock())
        if left < 1:
            break
        op = client.get_operation(op_id, wait=left)
        if on_change is not None:
            on_change(op)
    return op


def published_backup(op: dict[str, Any]) -> dict[str, Any] | None:
    """What a backup Operation published with set_stats (redrunner_backup), when it names a folder."""
    backup = (op.get("artifacts") or {}).get("redrunner_backup")
    if isinstance(backup, dict) and isinstance(backup.get("path"), str) and backup["path"]:
        return backup
    return None


def job_backups(client: ApiClient, job_id: int, units: list[str], action: str) -> dict[str, dict[str, Any]]:
    """unit -> its newest successful backup in the Job (action <action>-<unit>.yml, not a dry run).

    What the Operation published (redrunner_backup: path, size, sha256, created_at) when it did; a plain
    playbook that publishes nothing still counts (the seed's pattern: its restore finds its data itself).
    Each also gets operation_id, job_id, finished_at and requested_by. A failed re-backup later in the Job
    changes nothing: only successful Operations are read."""
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        page = client.list_operations(job_id=job_id, status="successful", cursor=cursor)
        for op in page.get("items") or []:  # newest first: the first seen per unit is its newest
            unit = op.get("unit")
            if (
                unit in units
                and unit not in found
                and op.get("action") == f"{action}-{unit}.yml"
                and not op.get("check")
            ):
                found[unit] = {
                    **(published_backup(op) or {}),
                    "operation_id": op["id"],
                    "job_id": job_id,
                    "finished_at": op.get("finished_at"),
                    "requested_by": op.get("requested_by"),
                }
        cursor = page.get("next")
        if not cursor or len(found) == len(units):
            return found


def newest_complete_backup(
    client: ApiClient, tag: str, units: list[str], action: str, max_jobs: int = 1000
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], int]:
    """The newest Job tagged `tag` with a successful backup of every unit, its backups, and how many Jobs
    were looked at. One request per Job, newest first; stops at the first complete one."""
    seen = 0
    cursor = None
    while seen < max_jobs:
        page = client.list_jobs(tag, cursor=cursor)
        for job in page.get("items") or []:
            seen += 1
            backups = job_backups(client, job["id"], units, action)
            if len(backups) == len(units):
                return job, backups, seen
        cursor = page.get("next")
        if not cursor:
            break
    return None, {}, seen


def failure_messages(events: list[dict[str, Any]], limit: int = 5) -> list[str]:
    """'task: message' for each failed task the events report, ignored errors left out."""
    found: list[str] = []
    for ev in events:
        if ev.get("event") not in FAILURE_EVENTS:
            continue
        data = ev.get("data") or {}
        res = data.get("res") or {}
        if data.get("ignore_errors") or res.get("_ansible_ignore_errors"):
            continue
        task = ev.get("task") or data.get("task") or "?"
        msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
        if not msg and res.get("results"):
            msg = "; ".join(str(r.get("msg", "")) for r in res["results"] if r.get("failed"))
        found.append(f"{task}: {str(msg).strip() or 'failed'}")
    return found[-limit:]


def collect_failures(client: ApiClient, op_id: int, page: int = 1000) -> list[str]:
    """Read the Operation's events and return the failing tasks' messages."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        chunk = client.events(op_id, after=after, limit=page)
        items = chunk.get("items") or []
        events.extend(e for e in items if e.get("event") in FAILURE_EVENTS)
        if not items or chunk.get("next_after") in (None, after):
            break
        after = int(chunk["next_after"])
        if chunk.get("complete"):
            break
    return failure_messages(events)


def tail(text: str, lines: int) -> list[str]:
    if lines <= 0:
        return []
    return ANSI.sub("", text).rstrip("\n").splitlines()[-lines:]


def progress_line(op: dict[str, Any]) -> str:
    """One human line for an Operation: 'operation 7 backup-db.yml in db: running, 3/9 tasks'."""
    prog = op.get("progress") or {}
    done, total = prog.get("tasks_done"), prog.get("tasks_total")
    tasks = ""
    if done is not None:
        tasks = f", {done}/{'?' if total is None else total} tasks"
    rc = "" if op.get("rc") is None else f", rc={op['rc']}"
    attempt = f", attempt {op.get('attempt') or 1} of {op['retries'] + 1}" if op.get("retries") else ""
    check = " (check mode)" if op.get("check") else ""
    return (
        f"operation {op.get('id')} {op.get('action')} in {op.get('unit')}{check}: "
        f"{op.get('status')}{tasks}{rc}{attempt}"
    )


def failure_summary(op: dict[str, Any], failures: list[str]) -> str:
    """The message a failed host shows: operation id, status and why."""
    why = "; ".join(failures) if failures else (op.get("error") or "no failing task reported")
    where = f"{op.get('action')} in unit {op.get('unit')} of job {op.get('job_id')}"
    attempts = f" on attempt {op.get('attempt')} of {op['retries'] + 1}" if op.get("retries") else ""
    return f"operation {op.get('id')} ({where}) ended {op.get('status')}{attempts} (rc={op.get('rc')}): {why}"


def token_of(params: dict[str, Any]) -> str | None:
    """The token the connection options name: `token` itself, else the first line of `token_file` (the
    file a Kubernetes Secret mounts, as the CLI reads it), so a play never needs `$(cat ...)`."""
    if params.get("token"):
        return str(params["token"])
    path = params.get("token_file")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.readline().strip()
    except OSError as err:
        raise RedRunnerError(f"cannot read the token file {path}: {err.strerror}") from err
    if not token:
        raise RedRunnerError(f"the token file {path} is empty")
    return token


def client_of(params: dict[str, Any]) -> ApiClient:
    """The API client the connection options describe."""
    return ApiClient(params["url"], token_of(params), params["request_timeout"], params["validate_certs"])


def run_module(module: Any, run: Callable[[Any, ApiClient], dict[str, Any]]) -> None:
    """The shared end of every RedRunner module: a client from the connection options, `run`, and
    RedRunner's error envelope turned into the task's failure."""
    try:
        result = run(module, client_of(module.params))
    except RedRunnerError as err:
        module.fail_json(msg=err.message, status=err.status, error=err.error)
    module.exit_json(**result)
