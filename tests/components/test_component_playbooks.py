"""The example components' playbooks, run directly with ansible-playbook as RedRunner would run them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS, Run, ansible_playbook

pytestmark = pytest.mark.slow

PROJECT = COMPONENTS / "project"
INVENTORY = COMPONENTS / "inventory"


def run(action: str, component: str, tmp_path: Path, job_id: int = 7, **extravars: Any) -> Run:
    """Run <action>-<component>.yml with the variables the server passes every Operation."""
    redrunner = {
        "redrunner_job_id": job_id,
        "redrunner_job_tag": "backup",
        "redrunner_unit": component,
        "redrunner_operation_id": 40 + job_id,
        "redrunner_action": f"{action}-{component}.yml",
        "backup_root": str(tmp_path / "backups"),
    }
    return ansible_playbook(
        PROJECT / f"{action}-{component}.yml", "-i", str(INVENTORY), cwd=tmp_path, extravars={**redrunner, **extravars}
    )


def manifest(tmp_path: Path, component: str, job_id: int = 7) -> dict[str, Any]:
    folder = tmp_path / "backups" / f"backup-{job_id}" / component
    data = json.loads((folder / "manifest.json").read_text())
    for entry in data["files"]:  # the manifest tells the truth about every file
        blob = (folder / entry["name"]).read_bytes()
        assert entry["size"] == len(blob)
        assert entry["sha256"] == hashlib.sha256(blob).hexdigest()
    return dict(data)


def test_files_backup_and_restore_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "uploads"
    src.mkdir(mode=0o750)
    appdata.make_files(src)
    before = appdata.files_snapshot(src)

    backup = run("backup", "files", tmp_path, files_path=str(src))
    assert backup.rc == 0, backup.explain()
    info = manifest(tmp_path, "files")
    assert info["component"] == "files" and info["job_id"] == 7 and info["job_tag"] == "backup"
    assert [f["name"] for f in info["files"]] == ["files.tar.gz"]

    appdata.change_files(src)
    assert appdata.files_snapshot(src) != before
    restore = run("restore", "files", tmp_path, files_path=str(src))
    assert restore.rc == 0, restore.explain()
    assert appdata.files_snapshot(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "uploads"], "staging dirs left behind"


def test_files_restore_verifies_sha256_before_writing(tmp_path: Path) -> None:
    src = tmp_path / "uploads"
    src.mkdir()
    appdata.make_files(src)
    assert run("backup", "files", tmp_path, files_path=str(src)).rc == 0
    archive = tmp_path / "backups" / "backup-7" / "files" / "files.tar.gz"
    blob = bytearray(archive.read_bytes())
    blob[-100] ^= 0xFF  # same size, different content: only the checksum can tell
    archive.write_bytes(bytes(blob))
    appdata.change_files(src)
    changed = appdata.files_snapshot(src)

    restore = run("restore", "files", tmp_path, files_path=str(src))
    assert restore.rc == 2, restore.explain()
    assert "does not match the manifest" in restore.stdout
    assert appdata.files_snapshot(src) == changed, "a corrupt backup must not touch the data"


def test_restore_refuses_a_backup_made_for_another_component(tmp_path: Path) -> None:
    src = tmp_path / "uploads"
    src.mkdir()
    appdata.make_files(src)
    db = tmp_path / "sessions.sqlite3"
    appdata.make_sqlite(db)
    before = appdata.sqlite_snapshot(db)
    assert run("backup", "files", tmp_path, files_path=str(src)).rc == 0

    wrong = run(
        "restore",
        "sqlite",
        tmp_path,
        sqlite_database=str(db),
        backup_dir=str(tmp_path / "backups" / "backup-7" / "files"),
    )
    assert wrong.rc == 2, wrong.explain()
    assert "was made for component 'files', not 'sqlite'" in wrong.stdout
    assert appdata.sqlite_snapshot(db) == before


def test_restore_without_a_finished_backup_fails_clearly(tmp_path: Path) -> None:
    missing = run("restore", "files", tmp_path, job_id=99, files_path=str(tmp_path / "nothing"))
    assert missing.rc == 2
    assert "no finished backup of component files" in missing.stdout


def test_backup_of_a_missing_source_fails_without_a_manifest(tmp_path: Path) -> None:
    failed = run("backup", "files", tmp_path, files_path=str(tmp_path / "not-there"))
    assert failed.rc == 2
    assert "is not a directory: nothing to back up" in failed.stdout
    assert not (tmp_path / "backups" / "backup-7" / "files" / "manifest.json").exists()


def test_sqlite_backup_and_restore(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    appdata.make_sqlite(db)
    before = appdata.sqlite_snapshot(db)
    assert run("backup", "sqlite", tmp_path, sqlite_database=str(db)).rc == 0
    info = manifest(tmp_path, "sqlite")
    assert info["details"]["database"] == str(db)

    appdata.change_sqlite(db)
    assert appdata.sqlite_snapshot(db) != before
    restore = run("restore", "sqlite", tmp_path, sqlite_database=str(db))
    assert restore.rc == 0, restore.explain()
    assert appdata.sqlite_snapshot(db) == before


def test_sqlite_backup_never_creates_a_missing_database(tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.sqlite3"
    failed = run("backup", "sqlite", tmp_path, sqlite_database=str(ghost))
    assert failed.rc == 2, failed.explain()
    assert not ghost.exists()


@pytest.mark.postgres
def test_postgres_backup_and_restore(tmp_path: Path) -> None:
    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        before = appdata.postgres_snapshot(name)
        backup = run("backup", "postgres", tmp_path, postgres_database=name)
        assert backup.rc == 0, backup.explain()
        info = manifest(tmp_path, "postgres")
        assert info["details"]["database"] == name and info["files"][0]["name"] == f"{name}.dump"

        appdata.change_postgres(name)
        assert appdata.postgres_snapshot(name) != before
        restore = run("restore", "postgres", tmp_path, postgres_database=name)
        assert restore.rc == 0, restore.explain()
        assert appdata.postgres_snapshot(name) == before
