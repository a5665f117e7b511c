"""The Backups screen: each component's newest good backup, its age and when a drill last verified it;
an old or never-verified one stands out. A snapshot on fixed data, then Pilot against a real server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import RedRunnerApp
from console.backups import Backup, attention, newest_per_component
from console.client import RedRunnerClient
from console.screens.backups import BackupsScreen, BackupsTable, size_text
from console.screens.job import JobScreen
from tests.console.fixed import NOW, FixedSource, fixed_now
from tests.support.backup_project import backup_data_dir
from tests.support.pilot import SIZE, until
from tests.support.server import RunningServer


def iso(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def backup(
    job_id: int, op_id: int, unit: str, made: timedelta, verified: timedelta | None, tag: str = "backup"
) -> Backup:
    return Backup.from_wire(
        {
            "job_id": job_id,
            "operation_id": op_id,
            "tag": tag,
            "unit": unit,
            "path": f"/var/backups/redrunner/{unit}/{op_id}",
            "size": 3 * 1024 * 1024 + op_id,
            "sha256": "ab" * 32,
            "created_at": iso(made),
            "kept": True,
            "verified_at": iso(verified) if verified is not None else None,
        }
    )


FIXED_BACKUPS = [
    backup(120, 361, "files", timedelta(hours=7), timedelta(hours=5)),
    backup(120, 362, "sqlite", timedelta(hours=7), None),
    backup(98, 301, "postgres", timedelta(days=3, hours=2), timedelta(days=3)),
    backup(97, 290, "files", timedelta(days=4), timedelta(days=4)),  # older than files' newest: not shown
    backup(130, 380, "files", timedelta(days=1), timedelta(hours=20), tag="backup-weekly"),
]


class BackupSource(FixedSource):
    async def list_backups(self, tag: str | None = None, unit: str | None = None, limit: int = 50) -> list[Backup]:
        return sorted(FIXED_BACKUPS, key=lambda b: -b.operation_id)


def test_newest_per_component_and_what_stands_out() -> None:
    newest = newest_per_component(sorted(FIXED_BACKUPS, key=lambda b: -b.operation_id))
    assert [(b.tag, b.unit, b.operation_id) for b in newest] == [
        ("backup", "files", 361),
        ("backup", "postgres", 301),
        ("backup", "sqlite", 362),
        ("backup-weekly", "files", 380),
    ]
    assert [attention(b, NOW) for b in newest] == [[], ["old"], ["never verified"], []]
    assert size_text(3 * 1024 * 1024) == "3.0 MiB" and size_text(None) == "—" and size_text(12) == "12 B"


class TestBackupsScreen:
    def test_old_and_never_verified_backups_stand_out(self, snap_compare: Any) -> None:
        app = RedRunnerApp(BackupSource(), now=fixed_now)

        async def run_before(pilot: Pilot[Any]) -> None:
            await pilot.press("b")
            await until(
                pilot,
                lambda: isinstance(app.screen, BackupsScreen) and app.screen.query_one(BackupsTable).row_count == 4,
            )
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.fixture
def backup_server(server_factory: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    return server_factory(data_dir=backup_data_dir(tmp_path))


@pytest.mark.anyio
async def test_backups_screen_against_a_server(backup_server: RunningServer) -> None:
    srv = backup_server
    job = srv.post("jobs", {"tag": "backup", "units": ["db", "web"]}).json()
    ops = {}
    for unit in ("db", "web"):
        op = srv.post(f"jobs/{job['id']}/units/{unit}", {"action": "backup"}).json()
        ops[unit] = srv.wait_terminal(op["id"])
    drill = srv.post("jobs", {"tag": "backup-verify", "units": ["db"]}).json()
    path = ops["db"]["artifacts"]["redrunner_backup"]["path"]
    verify = {"action": "verify.yml", "extravars": {"backup_path": path, "verified_at": ops["db"]["finished_at"]}}
    srv.wait_terminal(srv.post(f"jobs/{drill['id']}/units/db", verify).json()["id"])

    app = RedRunnerApp(RedRunnerClient(srv.url))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Backups")
        await pilot.pause(0.5)
        await pilot.press("enter")
        table = await until(
            pilot,
            lambda: (
                isinstance(app.screen, BackupsScreen)
                and app.screen.query_one(BackupsTable).row_count == 2
                and app.screen.query_one(BackupsTable)
            ),
        )
        assert str(table.get_cell("backup/db", "attention")) == "ok"
        assert str(table.get_cell("backup/web", "attention")) == "never verified"
        assert str(table.get_cell("backup/web", "verified")) == "never"
        assert str(table.get_cell("backup/db", "job")) == str(job["id"])
        await pilot.press("enter")  # db, the first row: the Job that made it
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id == job["id"])
