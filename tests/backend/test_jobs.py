"""Jobs and Units over the real HTTP API."""

from __future__ import annotations

from tests.support.server import RunningServer

from .helpers import make_job


def test_create_job_with_units(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db", "web"])
    assert job["tag"] == "backup" and job["status"] == "new"
    assert job["created_at"].endswith("Z")
    assert [u["name"] for u in job["units"]] == ["db", "web"]
    assert all(u["status"] == "idle" and u["latest_operation"] is None and u["operations"] == [] for u in job["units"])
    assert server.get(f"jobs/{job['id']}").json() == job


def test_form_encoded_body_works_like_json(server: RunningServer) -> None:
    resp = server.post("jobs", form={"tag": "nightly", "units": '["a", "b"]'})
    assert resp.status == 201, resp.body
    assert [u["name"] for u in resp.json()["units"]] == ["a", "b"]


def test_reuse_latest_returns_newest_or_creates(server: RunningServer) -> None:
    first = server.post("jobs", {"tag": "restore", "reuse": "latest"})
    assert first.status == 201
    again = server.post("jobs", {"tag": "restore", "reuse": "latest", "units": ["db"]})
    assert again.status == 200
    assert again.json()["id"] == first.json()["id"]
    assert [u["name"] for u in again.json()["units"]] == ["db"]
    newer = server.post("jobs", {"tag": "restore"})
    assert newer.status == 201
    assert server.post("jobs", {"tag": "restore", "reuse": "latest"}).json()["id"] == newer.json()["id"]


def test_latest_by_tag_and_404(server: RunningServer) -> None:
    make_job(server, "backup")
    newest = make_job(server, "backup")
    make_job(server, "other")
    assert server.get("jobs/latest?tag=backup").json()["id"] == newest["id"]
    missing = server.get("jobs/latest?tag=nothing-here")
    assert missing.status == 404
    assert missing.json() == {"status": 404, "error": "job_not_found", "message": missing.json()["message"]}


def test_units_are_idempotent_and_never_implicit(server: RunningServer) -> None:
    job = make_job(server, "backup", ["db"])
    added = server.post(f"jobs/{job['id']}/units", {"name": "web"})
    assert added.status == 201 and added.json()["name"] == "web"
    again = server.post(f"jobs/{job['id']}/units", {"name": "web"})
    assert again.status == 200 and again.json()["created_at"] == added.json()["created_at"]
    listing = server.get(f"jobs/{job['id']}/units").json()
    assert [u["name"] for u in listing["items"]] == ["db", "web"] and listing["next"] is None
    assert server.get(f"jobs/{job['id']}/units/web").json()["name"] == "web"
    missing = server.post(f"jobs/{job['id']}/units/ghost", {"action": "hello"})
    assert missing.status == 404 and missing.json()["error"] == "unit_not_found"
    assert server.get(f"jobs/{job['id']}/units/ghost").json()["error"] == "unit_not_found"
    assert len(server.get(f"jobs/{job['id']}/units").json()["items"]) == 2


def test_list_jobs_newest_first_with_cursor_and_filters(server: RunningServer) -> None:
    ids = [make_job(server, "page" if i % 2 == 0 else "other", ["db"])["id"] for i in range(7)]
    page_ids = [i for n, i in enumerate(ids) if n % 2 == 0]
    seen: list[int] = []
    cursor = None
    while True:
        url = "jobs?tag=page&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = server.get(url).json()
        seen.extend(j["id"] for j in body["items"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(page_ids, reverse=True)
    assert {j["status"] for j in server.get("jobs?status=new").json()["items"]} == {"new"}
    assert server.get("jobs?status=successful").json()["items"] == []


def test_delete_job(server: RunningServer) -> None:
    job = make_job(server)
    resp = server.delete(f"jobs/{job['id']}")
    assert resp.status == 204 and resp.body == b""
    assert server.get(f"jobs/{job['id']}").status == 404
    assert server.delete(f"jobs/{job['id']}").json()["error"] == "job_not_found"


def test_source_job_names_an_existing_job(server: RunningServer) -> None:
    backup = make_job(server, "backup", ["db"])
    assert backup["source_job"] is None
    restore = server.post("jobs", {"tag": "restore", "units": ["db"], "source_job": backup["id"]})
    assert restore.status == 201, restore.body
    assert restore.json()["source_job"] == backup["id"]
    assert server.get(f"jobs/{restore.json()['id']}").json()["source_job"] == backup["id"]
    form = server.post("jobs", form={"tag": "restore", "source_job": str(backup["id"])})
    assert form.status == 201 and form.json()["source_job"] == backup["id"]
    listed = server.get("jobs?tag=restore").json()["items"]
    assert {j["source_job"] for j in listed} == {backup["id"]}
    before = len(server.get("jobs?limit=500").json()["items"])
    for bad in (10**12, 0, -1, "7x", True, 1.5, [1]):
        resp = server.post("jobs", {"tag": "restore", "source_job": bad})
        assert resp.status == 400, (bad, resp.body)
        assert resp.json()["error"] == "invalid_source_job" and resp.json()["field"] == "source_job"
    assert len(server.get("jobs?limit=500").json()["items"]) == before
