"""backup-each.yml and restore-each.yml end to end: a real server on components/, real data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS, RUNNER_UTILS, Run, ansible_playbook
from tests.support.server import RunningServer

# each run starts three playbooks at once: minutes on a busy 2-core machine, seconds on an idle one
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class App:
    """The demo application's data, and an inventory naming its three components."""

    root: Path
    files: Path
    sqlite: Path
    database: str
    inventory: Path

    @property
    def extravars(self) -> dict[str, str]:
        return {
            "backup_root": str(self.root / "backups"),
            "files_path": str(self.files),
            "sqlite_database": str(self.sqlite),
        }

    def snapshot(self) -> tuple[Any, ...]:
        return (
            appdata.files_snapshot(self.files),
            appdata.sqlite_snapshot(self.sqlite),
            appdata.postgres_snapshot(self.database),
        )

    def change(self) -> None:
        appdata.change_files(self.files)
        appdata.change_sqlite(self.sqlite)
        appdata.change_postgres(self.database)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    files, sqlite = tmp_path / "uploads", tmp_path / "sessions.sqlite3"
    files.mkdir()
    appdata.make_files(files)
    appdata.make_sqlite(sqlite)
    with appdata.postgres_database() as name:
        appdata.fill_postgres(name)
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(
            json.dumps(
                {
                    "components": {
                        "hosts": {
                            "files": None,
                            "postgres": {"redrunner_component_extravars": {"postgres_database": name}},
                            "sqlite": None,
                        }
                    }
                }
            )
        )
        yield App(tmp_path, files, sqlite, name, inventory)


@pytest.fixture
def srv(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory(data_dir=COMPONENTS)


def each(action: str, srv: RunningServer, app: App, *extra: str) -> Run:
    # run from a directory with no ansible.cfg and nothing of ours: "from any directory"
    workdir = app.root / "elsewhere"
    workdir.mkdir(exist_ok=True)
    return ansible_playbook(
        RUNNER_UTILS / f"{action}-each.yml",
        "-i",
        str(app.inventory),
        "-e",
        f"redrunner_url={srv.url}",
        "-e",
        f"redrunner_extravars={json.dumps(app.extravars, separators=(',', ':'))}",
        *extra,
        cwd=workdir,
    )


def job_operations(srv: RunningServer, job_id: int) -> dict[str, list[dict[str, Any]]]:
    """unit -> its Operations, oldest first."""
    ops = srv.get(f"operations?job_id={job_id}&limit=500").json()["items"]
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for op in sorted(ops, key=lambda o: o["id"]):
        by_unit.setdefault(op["unit"], []).append(op)
    return by_unit


def overlap(ops: list[dict[str, Any]]) -> bool:
    """All Operations were running at one same moment."""
    return max(o["started_at"] for o in ops) < min(o["finished_at"] for o in ops)


def test_backup_each_then_restore_each_brings_every_component_back(srv: RunningServer, app: App) -> None:
    before = app.snapshot()
    backup = each("backup", srv, app)
    assert backup.rc == 0, backup.explain()
    assert {h: c["failed"] for h, c in backup.recap().items()} == {
        "localhost": 0,
        "files": 0,
        "postgres": 0,
        "sqlite": 0,
    }

    job = srv.get("jobs/latest?tag=backup").json()
    assert job["status"] == "successful" and sorted(u["name"] for u in job["units"]) == ["files", "postgres", "sqlite"]
    ops = job_operations(srv, job["id"])
    assert {u: [o["action"] for o in v] for u, v in ops.items()} == {
        "files": ["backup-files.yml"],
        "postgres": ["backup-postgres.yml"],
        "sqlite": ["backup-sqlite.yml"],
    }
    assert overlap([v[0] for v in ops.values()]), "the components' backups did not run in parallel"
    assert f"operation {ops['postgres'][0]['id']} backup-postgres.yml in postgres: successful" in backup.stdout
    for unit in ops:
        manifest = json.loads((app.root / "backups" / f"backup-{job['id']}" / unit / "manifest.json").read_text())
        assert manifest["component"] == unit and manifest["job_id"] == job["id"]

    app.change()
    assert app.snapshot() != before
    restore = each("restore", srv, app)
    assert restore.rc == 0, restore.explain()
    assert app.snapshot() == before

    # the restores ran in the backup's own Job, one per Unit, after its backup
    ops = job_operations(srv, job["id"])
    assert {u: [o["action"] for o in v] for u, v in ops.items()} == {
        "files": ["backup-files.yml", "restore-files.yml"],
        "postgres": ["backup-postgres.yml", "restore-postgres.yml"],
        "sqlite": ["backup-sqlite.yml", "restore-sqlite.yml"],
    }
    assert all(v[1]["status"] == "successful" for v in ops.values())


def test_a_failing_component_fails_alone(srv: RunningServer, app: App) -> None:
    inventory = json.loads(app.inventory.read_text())
    inventory["components"]["hosts"]["postgres"]["redrunner_component_extravars"]["postgres_database"] = "rr_no_such_db"
    app.inventory.write_text(json.dumps(inventory))

    run = each("backup", srv, app)
    assert run.rc == 2, run.explain()
    recap = run.recap()
    assert recap["postgres"]["failed"] == 1
    assert recap["files"]["failed"] == 0 and recap["sqlite"]["failed"] == 0

    job = srv.get("jobs/latest?tag=backup").json()
    ops = {u: v[0] for u, v in job_operations(srv, job["id"]).items()}
    assert ops["files"]["status"] == ops["sqlite"]["status"] == "successful"
    assert ops["postgres"]["status"] == "failed"
    assert job["status"] == "failed"
    failure = next(line for line in run.stdout.splitlines() if line.startswith("fatal: [postgres]"))
    where = f"(backup-postgres.yml in unit postgres of job {job['id']})"
    assert f"operation {ops['postgres']['id']} {where} ended failed" in failure
    assert "Dump the database" in failure and "rr_no_such_db" in failure


def test_restore_each_without_a_backup_fails_clearly(srv: RunningServer, app: App) -> None:
    run = each("restore", srv, app, "-e", "redrunner_source_tag=never-backed-up")
    assert run.rc == 2
    assert "no RedRunner Job is tagged never-backed-up" in run.stdout
    assert srv.get("operations").json()["items"] == []


def test_check_mode_dry_runs_every_component_and_changes_nothing(srv: RunningServer, app: App) -> None:
    before = app.snapshot()
    run = each("backup", srv, app, "--check")
    # Whether a component's playbook passes its own dry run is the component's business; that it ran
    # as one, changing nothing, is RedRunner's.
    assert run.recap()["files"]["changed"] >= 1, run.explain()
    # A Job of its own, which no restore takes for a backup, and every component run with --check.
    assert srv.get("jobs?tag=backup").json()["items"] == []
    job = srv.get("jobs/latest?tag=backup-check").json()
    ops = job_operations(srv, job["id"])
    assert sorted(ops) == ["files", "postgres", "sqlite"]
    assert all(len(v) == 1 and v[0]["check"] is True for v in ops.values())
    assert app.snapshot() == before
    assert not (app.root / "backups").exists() or not any((app.root / "backups").rglob("manifest.json"))
