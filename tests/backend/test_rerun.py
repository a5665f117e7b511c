"""POST /jobs/{id}/rerun: start again what ended badly, with the same stored request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import RunningServer

from .helpers import make_job, start


@pytest.mark.slow
def test_rerun_starts_only_the_failed_units_with_the_same_request(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "backup", ["db", "web", "cache"])
    marker = tmp_path / "marker"
    extravars = {"flaky_marker": str(marker), "flaky_secret": "real-value-1"}
    ok = start(server, job["id"], "db", "hello")
    flaky = start(server, job["id"], "web", "flaky.yml", extravars=extravars, timeout=120, check=False)
    assert server.wait_terminal(ok["id"])["status"] == "successful"
    assert server.wait_terminal(flaky["id"])["status"] == "failed"

    resp = server.post(f"jobs/{job['id']}/rerun")
    assert resp.status == 202, resp.body
    [again] = resp.json()["items"]
    assert (again["unit"], again["action"], again["rerun_of"]) == ("web", "flaky.yml", flaky["id"])
    assert (again["timeout"], again["check"], again["attempt"], again["retry_of"]) == (120.0, False, 1, None)
    assert server.wait_terminal(again["id"])["status"] == "successful"
    # The playbook got the stored (real) value of the secret-looking extravar, not a redacted one.
    assert (tmp_path / "marker.ok").read_text() == "real-value-1"
    assert server.get(f"jobs/{job['id']}").json()["status"] == "successful"

    # Nothing left to rerun: 200 and no Operation.
    nothing = server.post(f"jobs/{job['id']}/rerun")
    assert (nothing.status, nothing.json()) == (200, {"items": []})


@pytest.mark.slow
def test_rerun_filters_by_status_and_unit(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web", "cache"])
    ops = [start(server, job["id"], u, "hello") for u in ("db", "cache")]
    failed = start(server, job["id"], "web", "fail")
    for op in [*ops, failed]:
        server.wait_terminal(op["id"])

    assert server.post(f"jobs/{job['id']}/rerun", {"statuses": ["timeout"]}).status == 200
    resp = server.post(f"jobs/{job['id']}/rerun", form={"statuses": '["successful"]', "units": '["cache"]'})
    assert resp.status == 202, resp.body
    [again] = resp.json()["items"]
    assert (again["unit"], again["rerun_of"]) == ("cache", ops[1]["id"])
    server.wait_terminal(again["id"])

    both = server.post(f"jobs/{job['id']}/rerun", {"statuses": ["failed", "successful"]}).json()["items"]
    assert [o["unit"] for o in both] == ["db", "web", "cache"]


@pytest.mark.slow
def test_rerun_is_all_or_nothing_and_checks_its_input(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web"])
    failed = start(server, job["id"], "web", "fail")
    server.wait_terminal(failed["id"])
    busy = start(server, job["id"], "db", "sleep.yml", extravars={"sleep_seconds": 300})
    # db is busy but its latest Operation does not match: only web is rerun.
    resp = server.post(f"jobs/{job['id']}/rerun", {"statuses": ["failed", "canceled"]})
    assert resp.status == 202 and [o["unit"] for o in resp.json()["items"]] == ["web"]
    server.post(f"operations/{busy['id']}/cancel")
    server.wait_terminal(busy["id"])
    server.wait_terminal(resp.json()["items"][0]["id"])

    for body, error in [
        ({"statuses": ["running"]}, "invalid_parameter"),
        ({"statuses": []}, "invalid_parameter"),
        ({"statuses": "failed"}, "invalid_parameter"),
        ({"units": ["nope"]}, "unit_not_found"),
        ({"units": "x"}, "invalid_units"),
    ]:
        bad = server.post(f"jobs/{job['id']}/rerun", body)
        assert bad.json()["error"] == error, body
    assert server.post("jobs/999999/rerun").status == 404
