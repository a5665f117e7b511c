"""GET /backups, the backup series of /metrics and POST /jobs/{id}/restore over the real API, with
stand-in backup, restore and verify playbooks (one server for the module; each test its own tags)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.backup_project import backup_data_dir, seal_backup
from tests.support.server import RunningServer, start_server

from .helpers import make_job, start


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("backups-api")
    SEALED["root"] = tmp / "sealed"
    server = start_server(tmp, data_dir=backup_data_dir(tmp), name="backups-api")
    try:
        yield server
    finally:
        server.stop()


def run(srv: RunningServer, job_id: int, unit: str, action: str, **extravars: Any) -> dict[str, Any]:
    return srv.wait_terminal(start(srv, job_id, unit, action, extravars=extravars)["id"])


# Where `night(sealed=True)` writes its sealed backups (set by the module's server fixture).
SEALED: dict[str, Path] = {}


def night(
    srv: RunningServer, tag: str, failing: tuple[str, ...] = (), sealed: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A backup Job of db and web; the units in `failing` fail. With `sealed`, each publishes a real sealed
    folder (a restore checks it), else a made-up path. Returns the Job and its Operations by unit."""
    job = make_job(srv, tag, ["db", "web"])
    ops = {
        u: run(
            srv,
            job["id"],
            u,
            "backup",
            fail=u in failing,
            **(seal_backup(SEALED["root"] / f"job{job['id']}-{u}", component=u) if sealed else {}),
        )
        for u in ("db", "web")
    }
    return srv.get(f"jobs/{job['id']}").json(), ops


def test_backups_newest_first_with_kept_verified_and_metrics(srv: RunningServer) -> None:
    first, first_ops = night(srv, "lst")
    second, second_ops = night(srv, "lst", failing=("web",))
    listed = srv.get("backups?tag=lst").json()
    assert listed["next"] is None
    assert [(b["job_id"], b["unit"], b["kept"]) for b in listed["items"]] == [
        (second["id"], "db", True),
        (first["id"], "web", True),  # web's last good backup, two nights old: kept
        (first["id"], "db", False),
    ]
    newest = listed["items"][0]
    assert newest == {
        "job_id": second["id"],
        "operation_id": second_ops["db"]["id"],
        "tag": "lst",
        "unit": "db",
        "path": f"/backups/db/op{second_ops['db']['id']}",
        "size": 10,
        "sha256": f"sha-{second_ops['db']['id']}",
        "created_at": second_ops["db"]["finished_at"],
        "kept": True,
        "verified_at": None,
    }
    assert [b["operation_id"] for b in srv.get("backups?tag=lst&unit=db").json()["items"]] == [
        second_ops["db"]["id"],
        first_ops["db"]["id"],
    ]
    pages, cursor = [], ""
    while True:
        page = srv.get(f"backups?tag=lst&limit=1{cursor}").json()
        pages += page["items"]
        if page["next"] is None:
            break
        cursor = f"&cursor={page['next']}"
    assert pages == listed["items"]

    # A drill in a Job tagged lst-verify verifies the backup at the path it names, and only that one.
    drill = make_job(srv, "lst-verify", ["db"])
    verified = "2026-12-01T03:00:00Z"
    assert (
        run(
            srv,
            drill["id"],
            "db",
            "verify.yml",
            backup_path=first_ops["db"]["artifacts"]["redrunner_backup"]["path"],
            verified_at=verified,
        )["status"]
        == "successful"
    )
    by_op = {b["operation_id"]: b for b in srv.get("backups?tag=lst").json()["items"]}
    assert by_op[first_ops["db"]["id"]]["verified_at"] == "2026-12-01T03:00:00.000000Z"
    assert by_op[second_ops["db"]["id"]]["verified_at"] is None
    # A drill in a Job of another tag verifies nothing of lst.
    other = make_job(srv, "elsewhere", ["db"])
    run(srv, other["id"], "db", "verify.yml", backup_path=newest["path"], verified_at=verified)
    assert srv.get("backups?tag=lst&unit=db").json()["items"][0]["verified_at"] is None

    metrics = srv.request("GET", "/metrics").body.decode()
    success = [line for line in metrics.splitlines() if line.startswith("redrunner_backup_last_success")]
    assert any('tag="lst",unit="db"' in line for line in success), success
    assert any('tag="lst",unit="web"' in line for line in success), success
    verified_lines = [line for line in metrics.splitlines() if line.startswith("redrunner_backup_last_verified")]
    at = datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp()
    assert [float(line.split()[-1]) for line in verified_lines if 'tag="lst",unit="db"' in line] == [at]
    assert not any('tag="lst",unit="web"' in line for line in verified_lines)


def test_backups_bad_input(srv: RunningServer) -> None:
    assert srv.get("backups?tag=no%20spaces").json()["error"] == "invalid_tag"
    assert srv.get("backups?unit=../x").json()["field"] == "unit"
    assert srv.get("backups?cursor=nonsense").json()["field"] == "cursor"
    assert srv.get("backups?limit=0").status == 400
    assert srv.get("backups?tag=never-used").json() == {"items": [], "next": None}


def test_restore_runs_in_a_job_of_its_own(srv: RunningServer) -> None:
    backup, ops = night(srv, "rst", sealed=True)
    resp = srv.post(f"jobs/{backup['id']}/restore", {"extravars": {"note": "drill", "backup_path": "/planted"}})
    assert resp.status == 202, resp.body
    body = resp.json()
    assert body["skipped"] == []  # every sealed backup passed its check
    job = body["job"]
    assert (job["tag"], job["source_job"], [u["name"] for u in job["units"]]) == (
        "restore",
        backup["id"],
        ["db", "web"],
    )
    assert resp.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert [(o["unit"], o["action"], o["job_id"]) for o in body["items"]] == [
        ("db", "restore-db.yml", job["id"]),
        ("web", "restore-web.yml", job["id"]),
    ]
    for op in body["items"]:
        done = srv.wait_terminal(op["id"])
        published = ops[op["unit"]]["artifacts"]["redrunner_backup"]
        assert done["status"] == "successful"
        assert done["artifacts"]["restored"] == {
            "source_job": backup["id"],
            "backup_path": published["path"],  # the server's, not the caller's /planted
            "backup_sha256": published["sha256"],
            "note": "drill",
        }
    assert srv.get(f"jobs/{backup['id']}").json()["status"] == "successful"
    assert srv.get(f"jobs/{job['id']}").json()["status"] == "successful"


def test_restore_refuses_units_without_a_backup_and_starts_nothing(srv: RunningServer) -> None:
    backup, _ = night(srv, "rst-partial", failing=("web",), sealed=True)
    jobs_before = len(srv.get("jobs?tag=restore&limit=500").json()["items"])
    refused = srv.post(f"jobs/{backup['id']}/restore", {"units": ["db", "web"]})
    assert refused.status == 409 and refused.json()["error"] == "no_backup"
    assert refused.json()["field"] == "web" and "web" in refused.json()["message"]
    assert len(srv.get("jobs?tag=restore&limit=500").json()["items"]) == jobs_before
    # Without a list: every Unit with a successful backup.
    started = srv.post(f"jobs/{backup['id']}/restore", form={"units": '["db"]'})
    assert started.status == 202 and [o["unit"] for o in started.json()["items"]] == ["db"]
    default = srv.post(f"jobs/{backup['id']}/restore")
    assert [u["name"] for u in default.json()["job"]["units"]] == ["db"]
    for op in [*started.json()["items"], *default.json()["items"]]:
        srv.wait_terminal(op["id"])
    empty = make_job(srv, "rst-none", ["db"])
    assert srv.post(f"jobs/{empty['id']}/restore").json()["error"] == "no_backup"
    assert srv.post("jobs/999999/restore").json()["error"] == "job_not_found"
    bad = srv.post(f"jobs/{backup['id']}/restore", {"extravars": {"ansible_host": "x"}})
    assert bad.status == 400
    assert len(srv.get("jobs?tag=restore&limit=500").json()["items"]) == jobs_before + 2


def test_restore_of_a_plain_backup_runs_without_a_path(srv: RunningServer) -> None:
    job = make_job(srv, "rst-plain", ["plain"])
    assert run(srv, job["id"], "plain", "backup")["artifacts"] is None
    assert srv.get("backups?tag=rst-plain").json()["items"] == []  # it published nothing to list
    resp = srv.post(f"jobs/{job['id']}/restore")
    assert resp.status == 202, resp.body
    [op] = resp.json()["items"]
    assert "backup_path" not in op["extravars"] and op["extravars"]["redrunner_source_job"] == job["id"]
    done = srv.wait_terminal(op["id"])
    assert done["artifacts"]["restored"]["backup_path"] == "" and done["status"] == "successful"


def test_keep_last_zero_is_refused_at_start(tmp_path: Path) -> None:
    from .test_cli import serve_fails

    line = serve_fails(tmp_path, "--keep-last", "0")
    assert "--keep-last" in line and ">= 1" in line
    assert "--keep-daily" in serve_fails(tmp_path, "--keep-daily", "-1")
