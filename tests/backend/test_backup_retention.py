"""Backups go with their Job: DELETE /jobs/{id} and retention remove the sealed folders its Operations
published, under --backup-root only, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.backups import published_paths, removable, remove_backup_folders
from tests.support.server import RunningServer, wait_until

from .helpers import make_job, start
from .test_retention import age


def sealed(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    (folder / "data.bin").write_bytes(b"x" * 10)
    return folder


def test_published_paths_reads_each_backup_path_once() -> None:
    texts = ['{"redrunner_backup": {"path": "/b/1"}}', None, "{}", '{"redrunner_backup": {"path": "/b/1"}}', "[1]"]
    assert published_paths([*texts, '{"redrunner_backup": {"path": ""}}', '{"other": 1}']) == ["/b/1"]


def test_only_sealed_folders_strictly_under_the_root_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    inside = sealed(root / "files" / "20260101T000000Z-backup-job1-op1-abc")
    outside = sealed(tmp_path / "elsewhere" / "b1")
    unsealed = root / "files" / ".staging-x"
    unsealed.mkdir(parents=True)
    link = root / "files" / "link"
    link.symlink_to(outside)
    (root / "manifest.json").write_text("{}")  # even a root that looks sealed is never removed
    escape = str(root / "files" / ".." / ".." / "elsewhere" / "b1")
    paths = [str(p) for p in (outside, unsealed, link, root, root / "files", inside)] + [escape, "relative/b"]
    assert [removable(p, root) for p in paths[:-1]] == [None, None, None, None, None, inside, None]
    assert remove_backup_folders(paths, None) == []
    assert remove_backup_folders(paths, root) == [inside]
    assert not inside.exists() and outside.exists() and unsealed.exists() and link.is_symlink()
    assert (root / "files").is_dir()


def publish(srv: RunningServer, job_id: int, unit: str, folder: Path, **extra: object) -> dict[str, Any]:
    op = start(srv, job_id, unit, "fake-backup.yml", extravars={"folder": str(folder), **extra})
    done = srv.wait_terminal(op["id"])
    assert done["status"] == "successful" and done["artifacts"]["redrunner_backup"]["path"] == str(folder)
    return done


@pytest.mark.slow
def test_deleting_a_job_removes_its_backups_under_the_backup_root(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    root = tmp_path / "backups"
    root.mkdir()
    srv = server_factory(args=["--backup-root", str(root)])
    job = make_job(srv, "backup", ["db", "web"])
    other = make_job(srv, "backup", ["db"])
    mine = root / "db" / "b-job1"
    outside = tmp_path / "outside" / "b"
    shared = root / "web" / "shared"
    publish(srv, job["id"], "db", mine)
    publish(srv, job["id"], "web", outside)
    publish(srv, job["id"], "db", shared)
    publish(srv, other["id"], "db", shared)  # a folder two Jobs name stays while one of them does
    kept = publish(srv, other["id"], "db", root / "db" / "b-job2")

    assert srv.delete(f"jobs/{job['id']}").status == 204
    assert not mine.exists()
    assert outside.is_dir() and shared.is_dir() and Path(kept["artifacts"]["redrunner_backup"]["path"]).is_dir()
    assert srv.delete(f"jobs/{other['id']}").status == 204
    assert not shared.exists() and not (root / "db" / "b-job2").exists() and root.is_dir()


@pytest.mark.slow
def test_without_a_backup_root_deleting_a_job_keeps_every_backup(server: RunningServer, tmp_path: Path) -> None:
    job = make_job(server, "backup", ["db"])
    folder = tmp_path / "backups" / "db" / "b"
    publish(server, job["id"], "db", folder)
    assert server.delete(f"jobs/{job['id']}").status == 204
    assert (folder / "manifest.json").is_file()


@pytest.mark.slow
def test_retention_removes_the_backups_of_the_jobs_it_prunes(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    root = tmp_path / "backups"
    root.mkdir()
    first = server_factory(args=["--backup-root", str(root)])
    old, recent = make_job(first, "backup", ["db"]), make_job(first, "backup", ["db"])
    publish(first, old["id"], "db", root / "db" / "old")
    publish(first, recent["id"], "db", root / "db" / "recent")
    assert first.stop() == 0
    age(first, [old["id"]], 3)
    srv = server_factory(
        state_dir=first.state_dir,
        database=first.database,
        name="retain",
        args=["--retain-days", "1", "--backup-root", str(root)],
    )
    wait_until(lambda: srv.get(f"jobs/{old['id']}").status == 404, 60, 0.2, what="retention to prune the job")
    wait_until(lambda: not (root / "db" / "old").exists(), 10, what="the pruned job's backup to go")
    assert (root / "db" / "recent" / "manifest.json").is_file()
