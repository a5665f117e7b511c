"""A minimal keep-alive HTTP client: one connection per thread, so timings are the server's, not TCP set-up."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from backend.statuses import TERMINAL

from .results import check


class Api:
    def __init__(self, api_url: str, timeout: float = 120.0) -> None:
        parts = urlsplit(api_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, f"{self.prefix}/{path}", body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body}")
        return body

    def timed_get(self, path: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        status, _ = self.request("GET", path)
        return time.perf_counter() - t0, status

    def post(self, path: str, body: Any, expect: int) -> Any:
        status, out = self.request("POST", path, body)
        if status != expect:
            raise AssertionError(f"POST {path}: {status} {out}")
        return out

    def job(self, tag: str, units: list[str]) -> dict[str, Any]:
        return dict(self.post("jobs", {"tag": tag, "units": units}, 201))

    def start(self, job_id: int, unit: str, action: str, **extra: Any) -> dict[str, Any]:
        return dict(self.post(f"jobs/{job_id}/units/{unit}", {"action": action, **extra}, 202))

    def wait_terminal(self, op_id: int, timeout: float = 600.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"operation {op_id} not terminal after {timeout:g} s")
            op = self.get(f"operations/{op_id}?wait={max(1, min(60, int(left)))}")
            if op["status"] in TERMINAL:
                return dict(op)

    def run_actions(self, job_id: int, action: str, tasks: int) -> float:
        """Start `action` on every Unit of the Job with one POST /actions; seconds until the last is terminal.
        Every Operation must succeed with at least the 3 events per task a `debug` playbook makes."""
        t0 = time.perf_counter()
        started = self.post(f"jobs/{job_id}/actions", {"action": action}, 202)["items"]
        ops = [self.wait_terminal(op["id"]) for op in started]
        took = time.perf_counter() - t0
        check(all(op["status"] == "successful" for op in ops), f"ended {[o['status'] for o in ops]}")
        check(all(op["event_count"] >= 3 * tasks for op in ops), "an Operation stored too few events")
        return took

    def all_events(self, op_id: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.get(f"operations/{op_id}/events?after={after}&limit=5000")
            events.extend(page["items"])
            after = page["next_after"]
            if not page["items"]:
                return events
