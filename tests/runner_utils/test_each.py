"""backup-each.yml, restore-each.yml and verify-each.yml end to end: a real server on components/, real data."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components import appdata
from tests.runner_utils.playbooks import COMPONENTS, RUNNER_UTILS, Run, ansible_playbook
from tests.support.server import RunningServer, wait_until

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


def sealed_folder(app: App, op: dict[str, Any]) -> Path:
    """The sealed folder a backup Operation published, checked against what is on disk."""
    backup = op["artifacts"]["redrunner_backup"]
    folder = Path(backup["path"])
    assert folder.parent.parent == app.root / "backups" and folder.parent.name == op["unit"]
    assert backup["sha256"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert int(backup["size"]) == sum(p.stat().st_size for p in folder.iterdir())
    return folder


def job_operations(srv: RunningServer, job_id: int) -> dict[str, list[dict[str, Any]]]:
    """unit -> its Operations, oldest first."""
    ops = srv.get(f"operations?job_id={job_id}&limit=500").json()["items"]
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for op in sorted(ops, key=lambda o: o["id"]):
        by_unit.setdefault(op["unit"], []).append(op)
    return by_unit


def overlap(ops: list[dict[str, Any]]) -> bool:
    """All Operations were running at one same moment."""
    return bool(max(o["started_at"] for o in ops) < min(o["finished_at"] for o in ops))


def test_restore_each_without_a_backup_fails_clearly(srv: RunningServer, app: App) -> None:
    run = each("restore", srv, app, "-e", "redrunner_source_tag=never-backed-up")
    assert run.rc == 2
    assert "no RedRunner Job is tagged never-backed-up" in run.stdout, run.explain()
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


def night(app: App, n: int) -> None:
    """The application's data moves on: each night's state differs from every other."""
    (app.files / "README.txt").write_text(f"uploads as of night {n}\n")
    (app.files / f"night-{n}.txt").write_bytes(f"{n}".encode() * 1000)
    with sqlite3.connect(app.sqlite) as db:
        db.execute("INSERT INTO session VALUES (?, ?, ?)", (f"night-{n}", 1000 + n, b"x"))
    db.close()
    appdata.psql(app.database, f"INSERT INTO customer (name, balance) VALUES ('night {n}', {n})")


def backup_night(srv: RunningServer, app: App, *extra: str) -> tuple[Run, dict[str, Any]]:
    run = each("backup", srv, app, *extra)
    return run, srv.get("jobs/latest?tag=backup").json()


def canceled_backup_leaves_nothing_to_restore(srv: RunningServer, app: App) -> None:
    """A postgres backup in a new Job, canceled mid-way: it leaves an unsealed staging folder, nothing else."""
    root = app.root / "backups" / "postgres"
    sealed_before = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    assert sealed_before, "a canceled backup is checked against the sealed backups before it"
    job = srv.post("jobs", {"tag": "backup", "units": ["postgres"]}).json()
    # pg_dump waits for the table another session holds locked: the backup is mid-way when canceled.
    locker = subprocess.Popen(
        ["psql", *appdata.PG, "-X", "-q", "-d", app.database],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PGAPPNAME": "rr-test-locker"},
    )
    assert locker.stdin is not None
    locker.stdin.write("BEGIN; LOCK TABLE customer IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);\n")
    locker.stdin.flush()
    try:
        extravars = {**app.extravars, "postgres_database": app.database}
        op = srv.post(f"jobs/{job['id']}/units/postgres", {"action": "backup", "extravars": extravars}).json()
        wait_until(lambda: any(p.name.startswith(".staging-") for p in root.iterdir()), 240, 0.2, what="staging")
        wait_until(lambda: "Dump the database" in srv.get(f"operations/{op['id']}/stdout").body.decode(), 240, 0.2)
        assert srv.post(f"operations/{op['id']}/cancel").status == 202
        done = srv.wait_terminal(op["id"], 60)
    finally:
        # pg_sleep does not notice its client is gone: end the locking session on the server too.
        locker.kill()
        locker.wait(10)
        appdata.psql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rr-test-locker'",
        )
    assert done["status"] == "canceled" and done["artifacts"] is None
    # Killed before it could clean up, its staging folder stays, unsealed and never published.
    staging = [p for p in root.iterdir() if p.name.startswith(".staging-")]
    assert len(staging) == 1 and not (staging[0] / "manifest.json").exists()
    assert sorted(p for p in root.iterdir() if not p.name.startswith(".")) == sealed_before


# Six each-plays and a canceled backup: the suite's longest test (~140 s of CPU), given more than the rest.
@pytest.mark.timeout(600)
def test_a_failed_night_leaves_the_last_good_backup_restorable(srv: RunningServer, app: App) -> None:
    # Night 1 and night 2 back up well: two sealed backups of each component, side by side.
    first, job1 = backup_night(srv, app)
    assert first.rc == 0, first.explain()
    assert {h: c["failed"] for h, c in first.recap().items()} == {
        "localhost": 0,
        "files": 0,
        "postgres": 0,
        "sqlite": 0,
    }
    assert job1["status"] == "successful"
    assert sorted(u["name"] for u in job1["units"]) == ["files", "postgres", "sqlite"]
    ops = job_operations(srv, job1["id"])
    assert {u: [o["action"] for o in v] for u, v in ops.items()} == {
        "files": ["backup-files.yml"],
        "postgres": ["backup-postgres.yml"],
        "sqlite": ["backup-sqlite.yml"],
    }
    assert overlap([v[0] for v in ops.values()]), "the components' backups did not run in parallel"
    assert f"operation {ops['postgres'][0]['id']} backup-postgres.yml in postgres: successful" in first.stdout
    for unit, (op,) in ops.items():
        manifest = json.loads((sealed_folder(app, op) / "manifest.json").read_text())
        assert manifest["component"] == unit and manifest["job_id"] == job1["id"]
        assert manifest["operation_id"] == op["id"]
    state1 = app.snapshot()
    night(app, 2)
    second, job2 = backup_night(srv, app)
    assert second.rc == 0, second.explain()
    state2 = app.snapshot()
    assert state2 != state1
    sealed1 = {u: sealed_folder(app, v[0]) for u, v in job_operations(srv, job1["id"]).items()}
    sealed2 = {u: sealed_folder(app, v[0]) for u, v in job_operations(srv, job2["id"]).items()}
    assert all(sealed1[u] != sealed2[u] and sealed1[u].exists() for u in sealed1)
    kept = {u: sorted((p.name, p.read_bytes()) for p in f.iterdir()) for u, f in sealed1.items()}

    # A re-backup of files in night 2's Job fails (a typo in files_path): the Job reads failed, yet its
    # successful backups stay sealed and restorable.
    bad = srv.post(
        f"jobs/{job2['id']}/units/files",
        {"action": "backup", "extravars": {**app.extravars, "files_path": str(app.root / "uplaods")}},
    ).json()
    assert srv.wait_terminal(bad["id"], 300)["status"] == "failed"
    assert srv.get(f"jobs/{job2['id']}").json()["status"] == "failed"

    # Night 3 fails for postgres (its database is gone from the inventory's view).
    night(app, 3)
    inventory = json.loads(app.inventory.read_text())
    inventory["components"]["hosts"]["postgres"]["redrunner_component_extravars"]["postgres_database"] = "rr_gone"
    app.inventory.write_text(json.dumps(inventory))
    third, job3 = backup_night(srv, app)
    state3 = app.snapshot()
    assert third.rc == 2 and job3["id"] > job2["id"] and job3["status"] == "failed"
    assert sorted(p.name for p in (app.root / "backups" / "postgres").iterdir() if p.name.startswith(".")) == []
    # The failing component fails alone: the other two back up, and the failure names the Operation and the cause.
    recap = third.recap()
    assert recap["postgres"]["failed"] == 1
    assert recap["files"]["failed"] == 0 and recap["sqlite"]["failed"] == 0
    ops3 = {u: v[0] for u, v in job_operations(srv, job3["id"]).items()}
    assert ops3["files"]["status"] == ops3["sqlite"]["status"] == "successful"
    assert ops3["postgres"]["status"] == "failed"
    failure = next(line for line in third.stdout.splitlines() if line.startswith("fatal: [postgres]"))
    where = f"(backup-postgres.yml in unit postgres of job {job3['id']})"
    assert f"operation {ops3['postgres']['id']} {where} ended failed" in failure
    assert "Dump the database" in failure and "rr_gone" in failure
    inventory["components"]["hosts"]["postgres"]["redrunner_component_extravars"]["postgres_database"] = app.database
    app.inventory.write_text(json.dumps(inventory))

    # Night 4's postgres backup is canceled mid-way: a Job newer still, with nothing a restore would take.
    canceled_backup_leaves_nothing_to_restore(srv, app)

    # The morning after: restore-each takes night 2, the newest Job with every backup good, byte for byte,
    # past night 3's failed Job and night 4's canceled one.
    night(app, 5)
    app.change()
    assert app.snapshot() != state2
    restore = each("restore", srv, app)
    assert restore.rc == 0, restore.explain()
    assert f"Source: RedRunner job {job2['id']} (tag backup), made {job2['created_at']}" in restore.stdout
    assert app.snapshot() == state2
    # (changed with the contract: restores ran in the backup's own Job) The restores run in a new Job
    # tagged restore whose source_job is night 2's; night 2's Job holds its backups alone, as it was.
    rjob = srv.get("jobs/latest?tag=restore").json()
    assert rjob["source_job"] == job2["id"] and f"RedRunner job {rjob['id']} (tag restore, from job {job2['id']})" in (
        restore.stdout
    )
    assert {u: [o["action"] for o in v] for u, v in job_operations(srv, job2["id"]).items()} == {
        "files": ["backup-files.yml", "backup-files.yml"],
        "postgres": ["backup-postgres.yml"],
        "sqlite": ["backup-sqlite.yml"],
    }
    # Each component's backup checked (a dry run) before any restore started, then restored from its folder.
    ops = job_operations(srv, rjob["id"])
    assert {u: [(o["action"], o["check"], o["status"]) for o in v] for u, v in ops.items()} == {
        u: [(f"restore-{u}.yml", True, "successful"), (f"restore-{u}.yml", False, "successful")] for u in sealed2
    }
    assert max(v[0]["finished_at"] for v in ops.values()) < min(v[1]["started_at"] for v in ops.values())
    assert {u: v[1]["extravars"]["backup_path"] for u, v in ops.items()} == {u: str(f) for u, f in sealed2.items()}
    assert {v[1]["extravars"]["redrunner_source_job"] for v in ops.values()} == {job2["id"]}

    # redrunner_source_job picks another Job: night 3's, which has no postgres backup. All or none (changed with
    # the contract: files and sqlite were restored alone): nothing is restored, and no restore Job is made.
    before = app.snapshot()
    refused = each("restore", srv, app, "-e", f"redrunner_source_job={job3['id']}")
    assert refused.rc == 2
    assert (
        refused.recap() == {"localhost": refused.recap()["localhost"]} and refused.recap()["localhost"]["failed"] == 1
    )
    assert f"postgres: no successful backup in job {job3['id']}" in refused.stdout
    assert (
        f"not restoring anything: RedRunner job {job3['id']} has no successful backup of postgres, and restore-each "
        "restores all components or none"
    ) in refused.stdout
    assert app.snapshot() == before and srv.get("jobs/latest?tag=restore").json()["id"] == rjob["id"]
    # With redrunner_restore_partial the others are restored anyway; postgres stays as it was.
    partial = each("restore", srv, app, "-e", f"redrunner_source_job={job3['id']}", "-e", "redrunner_restore_partial=1")
    assert partial.rc == 2
    recap = partial.recap()
    assert recap["postgres"]["failed"] == 1 and recap["files"]["failed"] == 0 and recap["sqlite"]["failed"] == 0
    assert app.snapshot() == (state3[0], state3[1], state2[2])
    # Restores read the sealed backups and never write them: night 1's are as they were sealed.
    assert {u: sorted((p.name, p.read_bytes()) for p in f.iterdir()) for u, f in sealed1.items()} == kept

    # A drill of night 2's backups, in a Job of its own: files' archive is corrupted, so its host fails alone,
    # naming the file; the other two are proven and say so.
    archive = sealed2["files"] / json.loads((sealed2["files"] / "manifest.json").read_text())["files"][0]["name"]
    blob = bytearray(archive.read_bytes())
    blob[-100] ^= 0xFF
    archive.write_bytes(bytes(blob))
    drill = each("verify", srv, app, "-e", f"redrunner_source_job={job2['id']}")
    assert drill.rc == 2
    recap = drill.recap()
    assert recap["files"]["failed"] == 1 and recap["postgres"]["failed"] == 0 and recap["sqlite"]["failed"] == 0
    assert f"backup file {archive} does not match the manifest" in drill.stdout
    djob = srv.get("jobs/latest?tag=backup-verify").json()
    assert djob["source_job"] == job2["id"]
    dops = {u: v[-1] for u, v in job_operations(srv, djob["id"]).items()}
    for unit in ("postgres", "sqlite"):
        assert dops[unit]["status"] == "successful"
        assert dops[unit]["artifacts"]["redrunner_verify"]["backup_path"] == str(sealed2[unit])
    assert dops["files"]["status"] == "failed" and app.snapshot() == (state3[0], state3[1], state2[2])
    # GET /backups: night 2's postgres and sqlite backups are proven, its files backup is not.
    listed = srv.get("backups?tag=backup&limit=100").json()["items"]
    verified = {b["unit"]: b["verified_at"] for b in listed if b["job_id"] == job2["id"]}
    assert verified["postgres"] and verified["sqlite"] and verified["files"] is None, listed

    # Restoring night 2 now: files' backup fails its check, so no component is restored (all or none), and the
    # restore Job, not the backup Job, reads failed.
    before = app.snapshot()
    broken = each("restore", srv, app)
    assert broken.rc == 2 and all(broken.recap()[u]["failed"] == 1 for u in sealed2), broken.explain()
    assert "not restoring files: its backup did not pass the check" in broken.stdout
    assert f"backup file {archive} does not match the manifest" in broken.stdout
    assert "not restoring sqlite: restore-each restores all components or none, and files cannot be" in broken.stdout
    assert app.snapshot() == before
    bjob = srv.get("jobs/latest?tag=restore").json()
    assert bjob["status"] == "failed" and all(o["check"] for v in job_operations(srv, bjob["id"]).values() for o in v)
    assert srv.get(f"jobs/{job2['id']}").json()["status"] == "failed"  # as the typo re-backup left it, no more


def test_two_servers_with_their_own_databases_share_a_backup_root(
    server_factory: Callable[..., RunningServer], app: App
) -> None:
    # One component is enough to show it: the same Job and Operation ids on both servers, one backup root.
    # (sqlite, the cheapest to back up; the three-component runs are the test above.)
    app.inventory.write_text(json.dumps({"components": {"hosts": {"sqlite": None}}}))
    one = server_factory(data_dir=COMPONENTS, name="one")
    two = server_factory(data_dir=COMPONENTS, name="two")
    assert each("backup", one, app).rc == 0
    state = appdata.sqlite_snapshot(app.sqlite)
    night(app, 2)
    assert each("backup", two, app).rc == 0
    jobs = [srv.get("jobs/latest?tag=backup").json() for srv in (one, two)]
    assert jobs[0]["id"] == jobs[1]["id"], "the same ids on both servers: the case that collided"
    ops = [job_operations(srv, jobs[i]["id"])["sqlite"] for i, srv in enumerate((one, two))]
    assert ops[0][0]["id"] == ops[1][0]["id"]
    folders = [sealed_folder(app, unit_ops[0]) for unit_ops in ops]
    assert folders[0] != folders[1]
    assert sorted((app.root / "backups" / "sqlite").iterdir()) == sorted(folders)
    # Server one still restores its own backup, untouched by server two's.
    restore = each("restore", one, app)
    assert restore.rc == 0, restore.explain()
    assert appdata.sqlite_snapshot(app.sqlite) == state


PLAIN_BACKUP = """
- name: Back up the seed's way, publishing nothing
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Copy the data aside
      ansible.builtin.command: cp {{ data }} {{ data }}.bak
"""

PLAIN_RESTORE = """
- name: Restore the seed's way, finding the data itself
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The restore is told its source Job, and no backup folder
      ansible.builtin.assert:
        that: [redrunner_source_job | int > 0, backup_path is not defined, backup_sha256 is not defined]
    - name: Copy the data back
      ansible.builtin.command: cp {{ data }}.bak {{ data }}
"""


def test_plain_playbooks_that_publish_nothing_back_up_and_restore(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    project = tmp_path / "data" / "project"
    project.mkdir(parents=True)
    (project / "backup-plain.yml").write_text(PLAIN_BACKUP)
    (project / "restore-plain.yml").write_text(PLAIN_RESTORE)
    srv = server_factory(data_dir=tmp_path / "data")
    data = tmp_path / "plain.txt"
    data.write_text("night 1\n")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"components": {"hosts": {"plain": None}}}))

    def play(action: str) -> Run:
        return ansible_playbook(
            RUNNER_UTILS / f"{action}-each.yml",
            *("-i", str(inventory), "-e", f"redrunner_url={srv.url}", "-e", f'redrunner_extravars={{"data":"{data}"}}'),
            cwd=tmp_path,
        )

    assert play("backup").rc == 0
    backup = srv.get("jobs/latest?tag=backup").json()
    data.write_text("lost\n")
    restore = play("restore")
    assert restore.rc == 0, restore.explain()
    assert data.read_text() == "night 1\n"
    [op] = job_operations(srv, backup["id"])["plain"]
    assert f"plain: backup operation {op['id']}, made {op['finished_at']}" in restore.stdout
    assert "(published no backup folder: its restore finds its data)" in restore.stdout
    # No folder to check, so no dry run: the one restore, told its source Job.
    rjob = srv.get("jobs/latest?tag=restore").json()
    [rop] = job_operations(srv, rjob["id"])["plain"]
    assert rjob["source_job"] == backup["id"] and rop["extravars"]["redrunner_source_job"] == backup["id"]
