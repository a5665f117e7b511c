"""Retention keeps what a restore needs: a week of failing nights never costs the last good backup.

The example components (components/project) back up a files tree and a SQLite database on a real
server with --backup-root; from night 2 on, the files backup fails (a typo in its path). Once every
night is older than --retain-days, retention prunes what no group keeps and leaves the newest good
backup of each component, which then restores through POST /jobs/{id}/restore."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS
from tests.support.server import RunningServer, wait_until

from .test_retention import age, db_path

NIGHTS = 3


def backup_night(srv: RunningServer, extravars: dict[str, Any]) -> dict[str, Any]:
    job = srv.post("jobs", {"tag": "backup", "units": ["files", "sqlite"]}).json()
    started = srv.post(f"jobs/{job['id']}/actions", {"action": "backup", "extravars": extravars})
    assert started.status == 202, started.body
    for op in started.json()["items"]:
        srv.wait_terminal(op["id"], timeout=120)
    return dict(srv.get(f"jobs/{job['id']}").json())


def sealed_folders(root: Path, component: str) -> list[str]:
    folder = root / component
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


@pytest.mark.slow
def test_failing_nights_never_cost_the_last_good_backup(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    root = tmp_path / "backups"
    root.mkdir()
    uploads = tmp_path / "uploads"
    uploads.mkdir(mode=0o750)
    appdata.make_files(uploads)
    database = tmp_path / "app.sqlite3"
    appdata.make_sqlite(database)
    good = {"backup_root": str(root), "files_path": str(uploads), "sqlite_database": str(database)}
    typo = {**good, "files_path": str(tmp_path / "uplaods")}

    first = server_factory(data_dir=COMPONENTS, args=["--backup-root", str(root)])
    nights = [backup_night(first, good if n == 0 else typo) for n in range(NIGHTS)]
    statuses = [{u["name"]: u["status"] for u in night["units"]} for night in nights]
    assert statuses == [{"files": "successful", "sqlite": "successful"}] + [
        {"files": "failed", "sqlite": "successful"}
    ] * (NIGHTS - 1)
    assert len(sealed_folders(root, "files")) == 1 and len(sealed_folders(root, "sqlite")) == NIGHTS
    assert first.stop() == 0
    # Night n is 8 - n days old (a week of failing nights): every one of them older than --retain-days 1.
    for n, night in enumerate(nights):
        age(first, [night["id"]], 8 - n)
    with sqlite3.connect(db_path(first)) as conn:
        (jobs_before,) = conn.execute("SELECT COUNT(*) FROM job").fetchone()
    conn.close()

    srv = server_factory(
        data_dir=COMPONENTS,
        state_dir=first.state_dir,
        database=first.database,
        name="retain",
        args=["--retain-days", "1", "--backup-root", str(root)],
    )
    middle = [night["id"] for night in nights[1:-1]]
    wait_until(
        lambda: all(srv.get(f"jobs/{job_id}").status == 404 for job_id in middle), 90, 0.2, what="retention to prune"
    )
    remaining = [j["id"] for j in srv.get("jobs?tag=backup&limit=500").json()["items"]]
    # Kept: night 1 (the only good files backup, 8 days old) and the last night (the newest sqlite backup).
    assert remaining == [nights[-1]["id"], nights[0]["id"]], (remaining, jobs_before)
    assert len(sealed_folders(root, "files")) == 1
    assert len(sealed_folders(root, "sqlite")) == 2  # the first and last nights: the first Job stays for its files
    listed = srv.get("backups?tag=backup").json()["items"]
    assert [(b["job_id"], b["unit"], b["kept"]) for b in listed] == [
        (nights[-1]["id"], "sqlite", True),
        (nights[0]["id"], "sqlite", False),
        (nights[0]["id"], "files", True),
    ]
    # A kept backup is never pruned by a later pass either.
    assert srv.get(f"jobs/{nights[0]['id']}").status == 200

    # And it restores: the files as they were on night 1, in a restore Job of its own.
    before = appdata.files_snapshot(uploads)
    appdata.change_files(uploads)
    resp = srv.post(f"jobs/{nights[0]['id']}/restore", {"units": ["files"], "extravars": good})
    assert resp.status == 202, resp.body
    [op] = resp.json()["items"]
    assert resp.json()["job"]["source_job"] == nights[0]["id"]
    assert srv.wait_terminal(op["id"], timeout=120)["status"] == "successful"
    assert appdata.files_snapshot(uploads) == before
    assert srv.get(f"jobs/{nights[0]['id']}").json()["status"] == "successful"  # as its backups left it
