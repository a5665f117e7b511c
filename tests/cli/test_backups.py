"""`redrunner backups`, `redrunner restore` and a restore's rerun, against a real server with stand-in
backup and restore playbooks (tests/support/backup_project.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import TOKEN, Cli
from tests.support.backup_project import backup_data_dir, seal_backup
from tests.support.server import start_server


@pytest.fixture(scope="module")
def backup_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    tmp = tmp_path_factory.mktemp("cli-backups")
    srv = start_server(tmp, data_dir=backup_data_dir(tmp), token=TOKEN, name="cli-backups")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    try:
        yield Cli(srv, token_file)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def night(backup_cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A backup Job whose db backup succeeded (a real sealed folder) and whose web backup failed."""
    srv = backup_cli.server
    job = srv.post("jobs", {"tag": "cli-backup", "units": ["db", "web"]}).json()
    sealed = seal_backup(tmp_path_factory.mktemp("cli-sealed") / "db")
    for unit, fail in (("db", False), ("web", True)):
        extravars = {"fail": fail, **(sealed if unit == "db" else {})}
        op = srv.post(f"jobs/{job['id']}/units/{unit}", {"action": "backup", "extravars": extravars}).json()
        srv.wait_terminal(op["id"])
    return dict(srv.get(f"jobs/{job['id']}").json())


def test_backups_lists_kept_and_verified(backup_cli: Cli, night: dict[str, Any]) -> None:
    table = backup_cli("backups", "--tag", "cli-backup")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:8] == ["JOB", "OPERATION", "TAG", "UNIT", "CREATED", "SIZE", "KEPT", "VERIFIED"]
    assert len(rows) == 1 and rows[0].split()[0] == str(night["id"])
    assert " yes " in rows[0] and " never " in rows[0]
    as_json = backup_cli("backups", "--tag", "cli-backup", "--unit", "db", "-o", "json")
    [backup] = as_json.json()
    assert (backup["job_id"], backup["unit"], backup["kept"], backup["verified_at"]) == (night["id"], "db", True, None)
    assert backup_cli("backups", "--unit", "web", "-o", "json").json() == []
    bad = backup_cli("backups", "--tag", "not a tag")
    assert bad.returncode == 2 and "invalid_tag" in bad.stderr


def test_restore_needs_yes_and_runs_in_its_own_job(backup_cli: Cli, night: dict[str, Any]) -> None:
    srv = backup_cli.server
    refused = backup_cli("restore", str(night["id"]))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert srv.get("jobs?tag=restore").json()["items"] == []

    missing = backup_cli("restore", str(night["id"]), "--units", "db,web", "--yes")
    assert missing.returncode == 2 and "no_backup" in missing.stderr and "web" in missing.stderr
    assert srv.get("jobs?tag=restore").json()["items"] == []

    done = backup_cli("restore", str(night["id"]), "--yes", "--follow", "-e", '{"note": "cli"}')
    assert done.returncode == 0, done.stderr
    [restore_job] = srv.get("jobs?tag=restore").json()["items"]
    assert restore_job["source_job"] == night["id"] and [u["name"] for u in restore_job["units"]] == ["db"]
    assert f"restore Job {restore_job['id']} from backup Job {night['id']}" in done.stdout
    op = restore_job["units"][0]["latest_operation"]
    assert op["status"] == "successful" and op["artifacts"]["restored"]["note"] == "cli"
    assert srv.get(f"jobs/{night['id']}").json()["status"] == night["status"]

    # A restore Job is rerun only with --yes: it would write the backup over what was written since.
    again = backup_cli("rerun", str(restore_job["id"]), "--status", "successful")
    assert again.returncode == 2 and "--yes" in again.stderr and f"Job {restore_job['id']} is a restore" in again.stderr
    assert len(srv.get(f"jobs/{restore_job['id']}").json()["units"][0]["operations"]) == 1
    confirmed = backup_cli("rerun", str(restore_job["id"]), "--status", "successful", "--yes", "-o", "json")
    assert confirmed.returncode == 0, confirmed.stderr
    [rerun] = confirmed.json()
    assert rerun["rerun_of"] == op["id"]
    srv.wait_terminal(rerun["id"])


def test_restore_json_output(backup_cli: Cli, night: dict[str, Any], tmp_path: Path) -> None:
    result = backup_cli("restore", str(night["id"]), "--units", "db", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    body = result.json()
    assert body["job"]["source_job"] == night["id"] and [o["unit"] for o in body["items"]] == ["db"]
    backup_cli.server.wait_terminal(body["items"][0]["id"])


def test_restore_of_an_unusable_backup_needs_partial(backup_cli: Cli, tmp_path: Path) -> None:
    srv = backup_cli.server
    job = srv.post("jobs", {"tag": "cli-unusable", "units": ["db", "web"]}).json()
    for unit in ("db", "web"):
        sealed = seal_backup(tmp_path / unit, component=unit)
        op = srv.post(f"jobs/{job['id']}/units/{unit}", {"action": "backup", "extravars": sealed}).json()
        srv.wait_terminal(op["id"])
    (tmp_path / "web" / "manifest.json").write_text("{}\n")  # tampered: its digest no longer matches
    before = {j["id"] for j in srv.get("jobs?tag=restore&limit=500").json()["items"]}

    refused = backup_cli("restore", str(job["id"]), "--yes")
    assert refused.returncode == 2 and "backup_unusable" in refused.stderr, refused.stderr
    assert "web: " in refused.stderr and "digest_mismatch" in refused.stderr and "pass --partial" in refused.stderr
    assert {j["id"] for j in srv.get("jobs?tag=restore&limit=500").json()["items"]} == before

    partial = backup_cli("restore", str(job["id"]), "--yes", "--partial", "--follow")
    assert partial.returncode == 0, partial.stderr
    assert "skipped web: " in partial.stderr and "(digest_mismatch)" in partial.stderr
    [restore_job] = [j for j in srv.get("jobs?tag=restore&limit=500").json()["items"] if j["id"] not in before]
    assert [u["name"] for u in restore_job["units"]] == ["db"]
