"""Jobs and Units over the real HTTP API (the application in the test process)."""

from __future__ import annotations

from tests.support.inprocess import InProcessServer

from .helpers import make_job


def test_create_job_with_units(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db", "web"])
    assert job["tag"] == "backup" and job["status"] == "new"
    assert job["created_at"].endswith("Z")
    assert [u["name"] for u in job["units"]] == ["db", "web"]
    assert all(u["status"] == "idle" and u["latest_operation"] is None and u["operations"] == [] for u in job["units"])
    assert app_server.get(f"jobs/{job['id']}").json() == job


def test_form_encoded_body_works_like_json(app_server: InProcessServer) -> None:
    resp = app_server.post("jobs", form={"tag": "nightly", "units": '["a", "b"]'})
    assert resp.status == 201, resp.body
    assert [u["name"] for u in resp.json()["units"]] == ["a", "b"]


def test_reuse_latest_returns_newest_or_creates(app_server: InProcessServer) -> None:
    first = app_server.post("jobs", {"tag": "restore", "reuse": "latest"})
    assert first.status == 201
    again = app_server.post("jobs", {"tag": "restore", "reuse": "latest", "units": ["db"]})
    assert again.status == 200
    assert again.json()["id"] == first.json()["id"]
    assert [u["name"] for u in again.json()["units"]] == ["db"]
    newer = app_server.post("jobs", {"tag": "restore"})
    assert newer.status == 201
    assert app_server.post("jobs", {"tag": "restore", "reuse": "latest"}).json()["id"] == newer.json()["id"]


def test_latest_by_tag_and_404(app_server: InProcessServer) -> None:
    make_job(app_server, "backup")
    newest = make_job(app_server, "backup")
    make_job(app_server, "other")
    assert app_server.get("jobs/latest?tag=backup").json()["id"] == newest["id"]
    missing = app_server.get("jobs/latest?tag=nothing-here")
    assert missing.status == 404
    assert missing.json() == {"status": 404, "error": "job_not_found", "message": missing.json()["message"]}


def test_units_are_idempotent_and_never_implicit(app_server: InProcessServer) -> None:
    job = make_job(app_server, "backup", ["db"])
    added = app_server.post(f"jobs/{job['id']}/units", {"name": "web"})
    assert added.status == 201 and added.json()["name"] == "web"
    again = app_server.post(f"jobs/{job['id']}/units", {"name": "web"})
    assert again.status == 200 and again.json()["created_at"] == added.json()["created_at"]
    listing = app_server.get(f"jobs/{job['id']}/units").json()
    assert [u["name"] for u in listing["items"]] == ["db", "web"] and listing["next"] is None
    assert app_server.get(f"jobs/{job['id']}/units/web").json()["name"] == "web"
    missing = app_server.post(f"jobs/{job['id']}/units/ghost", {"action": "hello"})
    assert missing.status == 404 and missing.json()["error"] == "unit_not_found"
    assert app_server.get(f"jobs/{job['id']}/units/ghost").json()["error"] == "unit_not_found"
    assert len(app_server.get(f"jobs/{job['id']}/units").json()["items"]) == 2


def test_list_jobs_newest_first_with_cursor_and_filters(app_server: InProcessServer) -> None:
    ids = [make_job(app_server, "page" if i % 2 == 0 else "other", ["db"])["id"] for i in range(7)]
    page_ids = [i for n, i in enumerate(ids) if n % 2 == 0]
    seen: list[int] = []
    cursor = None
    while True:
        url = "jobs?tag=page&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = app_server.get(url).json()
        seen.extend(j["id"] for j in body["items"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(page_ids, reverse=True)
    assert {j["status"] for j in app_server.get("jobs?status=new").json()["items"]} == {"new"}
    assert app_server.get("jobs?status=successful").json()["items"] == []


def test_delete_job(app_server: InProcessServer) -> None:
    job = make_job(app_server)
    resp = app_server.delete(f"jobs/{job['id']}")
    assert resp.status == 204 and resp.body == b""
    assert app_server.get(f"jobs/{job['id']}").status == 404
    assert app_server.delete(f"jobs/{job['id']}").json()["error"] == "job_not_found"


def test_source_job_names_an_existing_job(app_server: InProcessServer) -> None:
    backup = make_job(app_server, "backup", ["db"])
    assert backup["source_job"] is None
    restore = app_server.post("jobs", {"tag": "restore", "units": ["db"], "source_job": backup["id"]})
    assert restore.status == 201, restore.body
    assert restore.json()["source_job"] == backup["id"]
    assert app_server.get(f"jobs/{restore.json()['id']}").json()["source_job"] == backup["id"]
    form = app_server.post("jobs", form={"tag": "restore", "source_job": str(backup["id"])})
    assert form.status == 201 and form.json()["source_job"] == backup["id"]
    listed = app_server.get("jobs?tag=restore").json()["items"]
    assert {j["source_job"] for j in listed} == {backup["id"]}
    before = len(app_server.get("jobs?limit=500").json()["items"])
    for bad in (10**12, 0, -1, "7x", True, 1.5, [1]):
        resp = app_server.post("jobs", {"tag": "restore", "source_job": bad})
        assert resp.status == 400, (bad, resp.body)
        assert resp.json()["error"] == "invalid_source_job" and resp.json()["field"] == "source_job"
    assert len(app_server.get("jobs?limit=500").json()["items"]) == before
