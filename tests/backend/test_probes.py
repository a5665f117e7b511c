"""Probes, metrics and logs."""

from __future__ import annotations

import json

import pytest

from tests.support.server import Response, RunningServer, wait_until

from .helpers import make_job, start

pytestmark = pytest.mark.slow


def test_health_ready_and_metrics(server: RunningServer) -> None:
    assert server.request("GET", "/healthz").json() == {"status": "ok"}
    ready = server.request("GET", "/readyz")
    assert ready.status == 200 and ready.json()["status"] == "ok"
    job = make_job(server, "backup", ["db"])
    server.wait_terminal(start(server, job["id"], "db", "hello")["id"])
    expected = (
        'redrunner_operations_finished_total{status="successful"} 1.0',
        'redrunner_operations_by_status{status="successful"} 1.0',
        "redrunner_operations_running 0.0",
        "redrunner_events_stored_total",
        "redrunner_event_write_latency_seconds_bucket",
        "redrunner_http_request_duration_seconds_bucket",
        "redrunner_websocket_clients",
    )
    missing = list(expected)
    scrapes: list[Response] = []

    def complete() -> bool:
        scrapes.append(server.request("GET", "/metrics"))
        missing[:] = [name for name in expected if name not in scrapes[-1].body.decode()]
        return not missing

    # The threads that end a run bump its counters a moment after its status commits (a scraper sees
    # them the same way): wait for them with a deadline, and name what never came.
    try:
        wait_until(complete, timeout=10)
    except AssertionError:
        last = scrapes[-1] if scrapes else None
        raise AssertionError(f"never in /metrics: {missing} (last scrape: {last and last.status})") from None
    assert all(m.status == 200 and m.headers["Content-Type"].startswith("text/plain") for m in scrapes)


def test_logs_are_json_lines_with_ids(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db"])
    op = server.wait_terminal(start(server, job["id"], "db", "hello")["id"])
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    started = [line for line in lines if line.get("operation_id") == op["id"]]
    assert started and all(line["job_id"] == job["id"] for line in started)
    access = [line for line in lines if line["logger"] == "redrunner.access"]
    assert any(line["path"] == "/api/v1/jobs" and line["status"] == 201 for line in access)
