"""POST /jobs/{id}/restore checks every published sealed backup before it creates anything (api.md "Backups
kept and proven": all or nothing, as restore-each.yml), and `"partial": true` restores the ones that pass.
The in-process server with the stand-in playbooks; the backups are real sealed folders in tmp."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.backup_project import backup_data_dir, seal_backup
from tests.support.inprocess import InProcessServer

from .helpers import make_job, start


@pytest.mark.slow
def test_an_unusable_backup_starts_nothing_unless_partial(
    app_server_factory: Callable[..., InProcessServer], tmp_path: Path
) -> None:
    srv = app_server_factory(data_dir=backup_data_dir(tmp_path, units=("db", "web")))
    job = make_job(srv, "nightly", ["db", "web", "plain"])
    published: dict[str, dict[str, Any]] = {
        "db": seal_backup(tmp_path / "backups" / "db", component="db"),
        "web": seal_backup(tmp_path / "backups" / "web", {"site.tar": b"x" * 50}, component="web"),
        "plain": {},  # publishes nothing: not checked, its playbook finds its data
    }
    for unit, extravars in published.items():
        op = start(srv, job["id"], unit, "backup", extravars=extravars)
        assert srv.wait_terminal(op["id"])["status"] == "successful"
    (tmp_path / "backups" / "web" / "site.tar").unlink()
    jobs_before = srv.get("jobs?limit=500").json()["items"]

    refused = srv.post(f"jobs/{job['id']}/restore")
    assert refused.status == 409, refused.body
    error = refused.json()
    assert (error["error"], error["field"]) == ("backup_unusable", "web")
    assert "web: " in error["message"] and "site.tar" in error["message"] and "(missing_file)" in error["message"]
    assert '"partial": true' in error["message"]
    assert srv.post(f"jobs/{job['id']}/restore", {"units": ["web"], "partial": True}).status == 409  # none would pass
    assert srv.post(f"jobs/{job['id']}/restore", {"partial": "yes"}).json()["field"] == "partial"
    assert srv.get("jobs?limit=500").json()["items"] == jobs_before  # no Job, no Operation

    started = srv.post(f"jobs/{job['id']}/restore", {"partial": True})
    assert started.status == 202, started.body
    body = started.json()
    assert [o["unit"] for o in body["items"]] == ["db", "plain"]
    assert [(s["unit"], s["reason"]) for s in body["skipped"]] == [("web", "missing_file")]
    assert [u["name"] for u in body["job"]["units"]] == ["db", "plain"]
    for op in body["items"]:
        assert srv.wait_terminal(op["id"])["status"] == "successful"
    db_op = srv.get(f"operations/{body['items'][0]['id']}").json()
    assert db_op["artifacts"]["restored"]["backup_path"] == published["db"]["sealed_path"]
