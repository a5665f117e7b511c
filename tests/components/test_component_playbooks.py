"""The example components' playbooks, run directly with ansible-playbook as RedRunner would run them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS, Run, ansible_playbook, run_module

# each test runs ansible-playbook once or more: several seconds each on a busy machine
pytestmark = pytest.mark.slow

PROJECT = COMPONENTS / "project"
INVENTORY = COMPONENTS / "inventory"
POSTGRES_LIBRARY = PROJECT / "roles" / "postgres" / "library"


def run(
    action: str, component: str, tmp_path: Path, job_id: int = 7, env: dict[str, str] | None = None, **extravars: Any
) -> Run:
    """Run <action>-<component>.yml with the variables the server passes every Operation."""
    redrunner = {
        "redrunner_job_id": job_id,
        "redrunner_job_tag": "backup",
        "redrunner_unit": component,
        "redrunner_operation_id": 40 + job_id,
        "redrunner_action": f"{action}-{component}.yml",
        "backup_root": str(tmp_path / "backups"),
    }
    # Custom stats printed, so the tests see what the Operation's artifacts would hold.
    return ansible_playbook(
        PROJECT / f"{action}-{component}.yml",
        "-i",
        str(INVENTORY),
        cwd=tmp_path,
        extravars={**redrunner, **extravars},
        env={"ANSIBLE_SHOW_CUSTOM_STATS": "1", **(env or {})},
    )


def published(result: Run, key: str = "redrunner_backup") -> dict[str, Any]:
    """What the playbook published with set_stats (redrunner_backup, or a drill's redrunner_verify)."""
    m = re.search(r"CUSTOM STATS:.*?RUN: (\{.*\})", result.stdout, re.S)
    assert m, result.explain()
    return dict(json.loads(m.group(1))[key])


def sealed(tmp_path: Path, component: str) -> list[Path]:
    """The component's sealed backup folders, oldest first."""
    root = tmp_path / "backups" / component
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def staging(tmp_path: Path, component: str) -> list[Path]:
    root = tmp_path / "backups" / component
    return sorted(p for p in root.iterdir() if p.name.startswith(".")) if root.exists() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: digest(p) for p in sorted(folder.iterdir())}


def manifest(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "manifest.json").read_text())
    for entry in data["files"]:  # the manifest tells the truth about every file
        blob = (folder / entry["name"]).read_bytes()
        assert entry["size"] == len(blob)
        assert entry["sha256"] == hashlib.sha256(blob).hexdigest()
    return dict(data)


def backup_files(tmp_path: Path, src: Path, **extravars: Any) -> Run:
    return run("backup", "files", tmp_path, files_path=str(src), **extravars)


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    src = tmp_path / "uploads"
    src.mkdir(mode=0o750)
    appdata.make_files(src)
    return src


@pytest.fixture(scope="module")
def made_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup_root holding one good files backup (job 7, operation 47) of a demo uploads folder, made once:
    the tests that need a sealed backup to stand beside copy it (`good_backup`) instead of each running
    backup-files.yml again (~4 s of CPU a run). Tests that restore it and compare the data make their own."""
    tmp = tmp_path_factory.mktemp("made-backup")
    src = tmp / "uploads"
    src.mkdir(mode=0o750)
    appdata.make_files(src)
    made = backup_files(tmp, src)
    assert made.rc == 0, made.explain()
    assert len(sealed(tmp, "files")) == 1 and staging(tmp, "files") == []
    return tmp / "backups"


def good_backup(tmp_path: Path, made_backup: Path) -> Path:
    """A copy of made_backup's sealed files backup in this test's backup_root; its folder."""
    shutil.copytree(made_backup, tmp_path / "backups", symlinks=True)
    [folder] = sealed(tmp_path, "files")
    return folder


def test_files_backup_is_sealed_published_and_restored_byte_for_byte(tmp_path: Path, uploads: Path) -> None:
    before = appdata.files_snapshot(uploads)
    backup = backup_files(tmp_path, uploads)
    assert backup.rc == 0, backup.explain()
    [folder] = sealed(tmp_path, "files")
    assert staging(tmp_path, "files") == []
    assert re.fullmatch(r"\d{8}T\d{6}Z-backup-job7-op47-[a-z0-9]{10}", folder.name)
    info = manifest(folder)
    assert info["component"] == "files" and info["job_id"] == 7 and info["operation_id"] == 47
    # zstd where there is one, else gzip
    assert [f["name"] for f in info["files"]] in (
        ["files.tar.zst", "files.tree.jsonl"],
        ["files.tar.gz", "files.tree.jsonl"],
    )
    assert info["format"] == 3 and info["source"] == str(uploads)
    stats = published(backup)
    assert stats["path"] == str(folder)
    assert stats["sha256"] == digest(folder / "manifest.json")
    assert int(stats["size"]) == sum(p.stat().st_size for p in folder.iterdir())
    assert stats["created_at"] == info["created_at"]

    appdata.change_files(uploads)
    assert appdata.files_snapshot(uploads) != before
    restore = run("restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder))
    assert restore.rc == 0, restore.explain()
    assert appdata.files_snapshot(uploads) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "uploads"], "staging dirs left behind"


def test_two_backups_with_the_same_ids_give_two_sealed_backups(
    tmp_path: Path, uploads: Path, made_backup: Path
) -> None:
    first = good_backup(tmp_path, made_backup)
    kept = folder_digest(first)
    appdata.change_files(uploads)
    assert backup_files(tmp_path, uploads).rc == 0
    folders = sealed(tmp_path, "files")
    assert len(folders) == 2 and folders[0] == first
    assert folder_digest(first) == kept, "an earlier sealed backup was rewritten"


def test_a_failed_backup_removes_its_own_output_and_nothing_else(tmp_path: Path, made_backup: Path) -> None:
    good = good_backup(tmp_path, made_backup)
    kept = folder_digest(good)
    failed = backup_files(tmp_path, tmp_path / "not-there")
    assert failed.rc == 2, failed.explain()
    assert "is not a directory: nothing to back up" in failed.stdout
    assert "partial output was removed" in failed.stdout
    assert sealed(tmp_path, "files") == [good] and staging(tmp_path, "files") == []
    assert folder_digest(good) == kept
    assert "CUSTOM STATS" not in failed.stdout or "redrunner_backup" not in failed.stdout


def test_a_backup_cannot_be_aimed_at_an_existing_folder(tmp_path: Path, uploads: Path, made_backup: Path) -> None:
    good = good_backup(tmp_path, made_backup)
    kept = folder_digest(good)
    for name in ("backup_dir", "backup_sealed_dir", "backup_folder_name"):
        aimed = backup_files(tmp_path, uploads, **{name: str(good) if name != "backup_folder_name" else good.name})
        assert aimed.rc == 2, aimed.explain()
        assert "chosen by the backup role" in aimed.stdout
    assert sealed(tmp_path, "files") == [good] and folder_digest(good) == kept


def test_staging_folders_of_killed_backups_are_swept_when_stale(tmp_path: Path, uploads: Path) -> None:
    root = tmp_path / "backups" / "files"
    stale, fresh = root / ".staging-killed-long-ago", root / ".staging-maybe-still-running"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "files.tar.gz").write_bytes(b"partial")
    day_ago = stale.stat().st_mtime - 2 * 86400
    os.utime(stale, (day_ago, day_ago))
    assert backup_files(tmp_path, uploads).rc == 0
    assert not stale.exists() and fresh.exists()
    assert len(sealed(tmp_path, "files")) == 1


def test_files_restore_verifies_sha256_before_writing(tmp_path: Path, uploads: Path, made_backup: Path) -> None:
    folder = good_backup(tmp_path, made_backup)
    archive = folder / manifest(folder)["files"][0]["name"]
    blob = bytearray(archive.read_bytes())
    blob[-100] ^= 0xFF  # same size, different content: only the checksum can tell
    archive.write_bytes(bytes(blob))
    appdata.change_files(uploads)
    changed = appdata.files_snapshot(uploads)

    # (made from made_backup's own folder: allowed elsewhere, so the digest check is what refuses)
    restore = run(
        "restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder), restore_to_other_target=True
    )
    assert restore.rc == 2, restore.explain()
    assert "does not match the manifest" in restore.stdout
    assert appdata.files_snapshot(uploads) == changed, "a corrupt backup must not touch the data"


def test_restore_refuses_a_manifest_other_than_the_published_one(
    tmp_path: Path, uploads: Path, made_backup: Path
) -> None:
    folder = good_backup(tmp_path, made_backup)
    appdata.change_files(uploads)
    changed = appdata.files_snapshot(uploads)
    restore = run(
        "restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder), backup_sha256="0" * 64
    )
    assert restore.rc == 2, restore.explain()
    assert "not restoring" in restore.stdout and appdata.files_snapshot(uploads) == changed


def test_restore_refuses_an_unsealed_folder(tmp_path: Path, uploads: Path, made_backup: Path) -> None:
    folder = good_backup(tmp_path, made_backup)
    unsealed = folder.parent / f".staging-{folder.name}"
    folder.rename(unsealed)  # everything there, manifest included, but never sealed
    restore = run("restore", "files", tmp_path, files_path=str(uploads), backup_path=str(unsealed))
    assert restore.rc == 2 and "never finished" in restore.stdout


def test_restore_refuses_a_backup_made_for_another_component(tmp_path: Path, made_backup: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    appdata.make_sqlite(db)
    before = appdata.sqlite_snapshot(db)
    folder = good_backup(tmp_path, made_backup)

    wrong = run("restore", "sqlite", tmp_path, sqlite_database=str(db), backup_path=str(folder))
    assert wrong.rc == 2, wrong.explain()
    assert "was made for component 'files', not 'sqlite'" in wrong.stdout
    assert appdata.sqlite_snapshot(db) == before


def test_restore_without_a_sealed_backup_fails_clearly(tmp_path: Path) -> None:
    missing = run("restore", "files", tmp_path, files_path=str(tmp_path / "x"), backup_path=str(tmp_path / "nothing"))
    assert missing.rc == 2
    assert "no sealed backup of component files" in missing.stdout
    unnamed = run("restore", "files", tmp_path, files_path=str(tmp_path / "x"))
    assert unnamed.rc == 2 and "backup_path names the sealed backup folder" in unnamed.stdout


def test_sqlite_backup_and_restore(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    appdata.make_sqlite(db)
    before = appdata.sqlite_snapshot(db)
    backup = run("backup", "sqlite", tmp_path, sqlite_database=str(db))
    assert backup.rc == 0, backup.explain()
    [folder] = sealed(tmp_path, "sqlite")
    assert manifest(folder)["details"]["database"] == str(db) == manifest(folder)["source"]
    assert published(backup)["path"] == str(folder)

    appdata.change_sqlite(db)
    assert appdata.sqlite_snapshot(db) != before
    restore = run("restore", "sqlite", tmp_path, sqlite_database=str(db), backup_path=str(folder))
    assert restore.rc == 0, restore.explain()
    assert appdata.sqlite_snapshot(db) == before


def test_sqlite_backup_never_creates_a_missing_database(tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.sqlite3"
    failed = run("backup", "sqlite", tmp_path, sqlite_database=str(ghost))
    assert failed.rc == 2, failed.explain()
    assert not ghost.exists()
    assert sealed(tmp_path, "sqlite") == [] and staging(tmp_path, "sqlite") == []


def unzstd(path: Path) -> bytes:
    return subprocess.run(["zstd", "-dcq", str(path)], check=True, capture_output=True).stdout


@pytest.mark.postgres
def test_postgres_backup_and_restore(tmp_path: Path) -> None:
    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        before = appdata.postgres_snapshot(name)
        backup = run("backup", "postgres", tmp_path, postgres_database=name)
        assert backup.rc == 0, backup.explain()
        [folder] = sealed(tmp_path, "postgres")
        info = manifest(folder)
        details = info["details"]
        assert details["database"] == name and details["pg_dump"].startswith("pg_dump (PostgreSQL) ")
        assert info["source"] == f"postgresql://127.0.0.1:5432/{name}"
        if shutil.which("zstd"):
            # pg_dump's custom format, uncompressed (zstd compressed it), and its size recorded for the restore
            assert info["files"][0]["name"] == f"{name}.dump.zst" and details["compression"] == "zstd"
            plain = unzstd(folder / f"{name}.dump.zst")
            assert plain.startswith(b"PGDMP") and len(plain) == details["dump_size"]
        else:
            assert info["files"][0]["name"] == f"{name}.dump" and details["compression"] == "pg_dump"

        appdata.change_postgres(name)
        assert appdata.postgres_snapshot(name) != before
        verbose = {"ANSIBLE_VERBOSITY": "3"}
        restore = run("restore", "postgres", tmp_path, env=verbose, postgres_database=name, backup_path=str(folder))
        assert restore.rc == 0, restore.explain()
        assert appdata.postgres_snapshot(name) == before
        assert staging(tmp_path, "postgres") == [], "the decompressed copy is removed"
        # On a local connection the role modules run in the task's worker: no module is shipped as a new Python.
        assert "AnsiballZ_" not in restore.stdout and "TASK [postgres : Restore the database" in restore.stdout

        failed = run("backup", "postgres", tmp_path, postgres_database="rr_no_such_db")
        assert failed.rc == 2 and sealed(tmp_path, "postgres") == [folder] and staging(tmp_path, "postgres") == []


def old_postgres_backup(tmp_path: Path, database: str) -> Path:
    """A backup as the role sealed it before it recorded its compression (up to 2026-12-07): one file,
    `pg_dump --format=custom` with pg_dump's own compression, and details without `compression`."""
    folder = tmp_path / "backups" / "postgres" / "20261201T010000Z-backup-job3-op43-oldformat0"
    folder.mkdir(parents=True)
    dump = folder / f"{database}.dump"
    pg = [*appdata.PG, "--no-password"]
    subprocess.run(["pg_dump", "--format=custom", *pg, f"--file={dump}", f"--dbname={database}"], check=True)
    version = subprocess.run(["pg_dump", "--version"], check=True, capture_output=True, text=True).stdout.strip()
    old = {
        "format": 3,
        "component": "postgres",
        "source": f"postgresql://127.0.0.1:5432/{database}",
        "folder": folder.name,
        "job_id": 3,
        "job_tag": "backup",
        "operation_id": 43,
        "created_at": "2026-12-01T01:00:00Z",
        "details": {"database": database, "host": "127.0.0.1", "port": 5432, "pg_dump": version},
        "files": [{"name": dump.name, "size": dump.stat().st_size, "sha256": digest(dump)}],
    }
    (folder / "manifest.json").write_text(json.dumps(old, indent=4, sort_keys=True))
    return folder


@pytest.mark.postgres
def test_postgres_restores_and_drills_a_backup_made_before_compression_was_recorded(tmp_path: Path) -> None:
    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        before = appdata.postgres_snapshot(name)
        old = old_postgres_backup(tmp_path, name)
        appdata.change_postgres(name)
        restore = run("restore", "postgres", tmp_path, postgres_database=name, backup_path=str(old))
        assert restore.rc == 0, restore.explain()
        assert appdata.postgres_snapshot(name) == before
        drill = run("verify", "postgres", tmp_path, postgres_database=name, backup_path=str(old))
        assert drill.rc == 0, drill.explain()
        assert published(drill, "redrunner_verify")["backup_path"] == str(old)

        # On another connection the module is shipped as its own process: the same drill.
        args = {"step": "drill", "dump": str(old / f"{name}.dump"), "scratch_name": f"rr_drill_shipped_{name[-10:]}"}
        shipped = run_module("postgres_dump", args, cwd=tmp_path, action_plugins=False, library=POSTGRES_LIBRARY)
        assert not shipped.get("failed") and shipped["scratch_database"] == args["scratch_name"], shipped
        assert args["scratch_name"] not in appdata.psql("postgres", "SELECT datname FROM pg_database")


@pytest.mark.postgres
def test_postgres_backup_compressed_by_pg_dump_where_there_is_no_zstd(tmp_path: Path) -> None:
    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        before = appdata.postgres_snapshot(name)
        made = run("backup", "postgres", tmp_path, postgres_database=name, postgres_compression="pg_dump")
        assert made.rc == 0, made.explain()
        [folder] = sealed(tmp_path, "postgres")
        info = manifest(folder)
        assert [f["name"] for f in info["files"]] == [f"{name}.dump"] and info["details"]["compression"] == "pg_dump"
        assert (folder / f"{name}.dump").read_bytes().startswith(b"PGDMP") and "dump_size" not in info["details"]
        appdata.change_postgres(name)
        restore = run("restore", "postgres", tmp_path, postgres_database=name, backup_path=str(folder))
        assert restore.rc == 0, restore.explain()
        assert appdata.postgres_snapshot(name) == before


def test_restore_refuses_a_manifest_given_as_extravars(tmp_path: Path, uploads: Path, made_backup: Path) -> None:
    folder = good_backup(tmp_path, made_backup)
    appdata.change_files(uploads)
    changed = appdata.files_snapshot(uploads)
    forged = {"component": "files", "files": [{"name": "../../elsewhere.tar.gz", "size": 1, "sha256": "0" * 64}]}
    restore = run(
        "restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder), backup_manifest=forged
    )
    assert restore.rc == 2, restore.explain()
    assert "backup_manifest is read from the backup folder" in restore.stdout
    assert appdata.files_snapshot(uploads) == changed


def reseal(folder: Path) -> None:
    """Rewrite the manifest's digests to match the files as they are now: a backup corrupted before it was sealed."""
    info = json.loads((folder / "manifest.json").read_text())
    for entry in info["files"]:
        blob = (folder / entry["name"]).read_bytes()
        entry.update(size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(info))


def scratch_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A TMPDIR of the test's own, so it can see the drill leaves nothing in it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return scratch, {"TMPDIR": str(scratch)}


def test_files_drill_proves_a_good_backup_and_names_what_a_corrupted_one_lacks(
    tmp_path: Path, made_backup: Path
) -> None:
    folder = good_backup(tmp_path, made_backup)
    sealed_as = folder_digest(folder)
    scratch, env = scratch_env(tmp_path)
    good = run(
        "verify", "files", tmp_path, env=env, backup_path=str(folder), backup_sha256=digest(folder / "manifest.json")
    )
    assert good.rc == 0, good.explain()
    proven = published(good, "redrunner_verify")
    assert proven["backup_path"] == str(folder)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", proven["verified_at"])
    assert folder_digest(folder) == sealed_as and list(scratch.iterdir()) == [], "a drill writes nothing but scratch"

    archive = folder / manifest(folder)["files"][0]["name"]
    blob = bytearray(archive.read_bytes())
    blob[-100] ^= 0xFF
    archive.write_bytes(bytes(blob))
    bad = run("verify", "files", tmp_path, env=env, backup_path=str(folder))
    assert bad.rc == 2, bad.explain()
    assert f"backup file {archive} does not match the manifest (expected" in bad.stdout
    assert "redrunner_verify" not in bad.stdout

    # Corrupted before it was sealed (digests that agree): the scratch restore itself tells.
    blob[-100] ^= 0xFF
    archive.write_bytes(bytes(blob))
    entries = [json.loads(line) for line in (folder / "files.tree.jsonl").read_text().splitlines()]
    for entry in entries:
        if entry[0] == "README.txt":
            entry[3] += 1
    (folder / "files.tree.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    reseal(folder)
    listed = run("verify", "files", tmp_path, env=env, backup_path=str(folder))
    assert listed.rc == 2, listed.explain()
    assert "does not restore what its backup listed: README.txt: the backup lists a file" in listed.stdout
    assert "26 bytes" in listed.stdout and "its scratch restore has a file" in listed.stdout
    assert list(scratch.iterdir()) == []


def test_a_restore_refuses_a_backup_made_from_another_source(tmp_path: Path, uploads: Path, made_backup: Path) -> None:
    folder = good_backup(tmp_path, made_backup)  # made from made_backup's uploads, not this test's
    source = made_backup.parent / "uploads"
    appdata.change_files(uploads)
    changed = appdata.files_snapshot(uploads)
    planted = run("restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder))
    assert planted.rc == 2, planted.explain()
    assert f"was made from {source}, not {uploads}, where this restore would write" in planted.stdout
    assert appdata.files_snapshot(uploads) == changed
    # Said on purpose, it goes there.
    moved = run(
        "restore", "files", tmp_path, files_path=str(uploads), backup_path=str(folder), restore_to_other_target=True
    )
    assert moved.rc == 0, moved.explain()
    assert appdata.files_snapshot(uploads) == appdata.files_snapshot(source)


def test_sqlite_drill_restores_into_a_scratch_file(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    appdata.make_sqlite(db)
    assert run("backup", "sqlite", tmp_path, sqlite_database=str(db)).rc == 0
    [folder] = sealed(tmp_path, "sqlite")
    scratch, env = scratch_env(tmp_path)
    # No backup_path: the newest sealed backup of the component (how a schedule drills).
    good = run("verify", "sqlite", tmp_path, env=env)
    assert good.rc == 0, good.explain()
    assert published(good, "redrunner_verify")["backup_path"] == str(folder)

    copy = folder / "sessions.sqlite3"
    blob = bytearray(copy.read_bytes())
    page = int.from_bytes(blob[16:18], "big")
    blob[page : page + 8] = b"\xff" * 8  # page 2's b-tree header: only integrity_check can tell
    copy.write_bytes(bytes(blob))
    reseal(folder)
    bad = run("verify", "sqlite", tmp_path, env=env, backup_path=str(folder))
    assert bad.rc == 2, bad.explain()
    assert "Restore it into a temporary file and check its integrity" in bad.stdout
    assert list(scratch.iterdir()) == [] and appdata.sqlite_snapshot(db)


@pytest.mark.postgres
def test_postgres_drill_drops_its_scratch_database_whatever_happens(tmp_path: Path) -> None:
    def scratch_databases() -> str:
        return appdata.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'rr_drill_131_%'")

    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        assert run("backup", "postgres", tmp_path, postgres_database=name).rc == 0
        [folder] = sealed(tmp_path, "postgres")
        before = appdata.postgres_snapshot(name)
        good = run("verify", "postgres", tmp_path, job_id=91, postgres_database=name, backup_path=str(folder))
        assert good.rc == 0, good.explain()
        assert published(good, "redrunner_verify")["backup_path"] == str(folder)
        assert "rr_drill_131_" not in scratch_databases() and appdata.postgres_snapshot(name) == before

        # A bogus dump (compressed as the backup's is) whose digests agree: pg_restore tells, and the scratch
        # database it was given is dropped.
        info = json.loads((folder / "manifest.json").read_text())
        dump = folder / info["files"][0]["name"]
        good = dump.read_bytes()
        bogus = b"PGDMP" + b"\x00" * 500
        zstd = dump.suffix == ".zst"
        if zstd:
            info["details"]["dump_size"] = len(bogus)
            bogus = subprocess.run(["zstd", "-q", "-c"], input=bogus, check=True, capture_output=True).stdout
        dump.write_bytes(bogus)
        (folder / "manifest.json").write_text(json.dumps(info))
        reseal(folder)
        bad = run("verify", "postgres", tmp_path, job_id=91, postgres_database=name, backup_path=str(folder))
        assert bad.rc == 2, bad.explain()
        assert "pg_restore into the scratch database rr_drill_131_" in bad.stdout
        assert "rr_drill_131_" not in scratch_databases() and appdata.postgres_snapshot(name) == before
        assert staging(tmp_path, "postgres") == [], "the decompressed copy is removed whatever happens"
        if not zstd:
            return
        # A zstd frame corrupted before it was sealed: its checksum tells, before any database is made.
        corrupt = bytearray(good)
        corrupt[len(corrupt) // 2] ^= 0xFF
        dump.write_bytes(bytes(corrupt))
        reseal(folder)
        bad = run("verify", "postgres", tmp_path, job_id=91, postgres_database=name, backup_path=str(folder))
        assert bad.rc == 2, bad.explain()
        assert f"decompressing {dump} failed (zstd exited" in bad.stdout
        assert "rr_drill_131_" not in scratch_databases() and staging(tmp_path, "postgres") == []
