"""The console with a viewer and an operator token: it offers only what the role may do (api.md "Access and
audit"), against a real server with a tokens file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.home import HomeScreen
from console.screens.job import JobScreen
from console.screens.schedules import SchedulesScreen, SchedulesTable
from tests.console.conftest import DATA
from tests.support.pilot import SIZE, until
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.anyio

VIEWER, OPERATOR, ADMIN = "console-viewer-token", "console-operator-token", "console-admin-token-0"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("console-access")
    tokens = tmp / "tokens.yaml"
    tokens.write_text(
        "".join(
            f'- {{name: {n}, role: {r}, sha256: "{hashlib.sha256(t.encode()).hexdigest()}"}}\n'
            for n, r, t in (
                ("dashboard", "viewer", VIEWER),
                ("nightly", "operator", OPERATOR),
                ("on-call", "admin", ADMIN),
            )
        )
    )
    tokens.chmod(0o600)
    server = start_server(tmp, data_dir=DATA, args=["--tokens-file", str(tokens)])
    server.token = ADMIN
    yield server
    server.stop()


def read_only_notes(app: RedRunnerApp) -> list[str]:
    return [n.message for n in app._notifications if n.message.startswith("Read-only")]


def offered(app: RedRunnerApp) -> set[str]:
    """The actions the footer and the palette offer on the current screen."""
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


async def test_a_viewer_gets_a_read_only_console_and_is_told_once(srv: RunningServer) -> None:
    job = srv.post("jobs", {"tag": "watched", "units": ["db"]}).json()
    srv.post(f"jobs/{job['id']}/units/db", {"action": "backup-db.yml"}, token=OPERATOR)
    app = RedRunnerApp(RedRunnerClient(srv.url, VIEWER))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.role == "viewer", what="the role")
        # notify() posts a message: the notice is in the list once the app has handled it.
        await until(pilot, lambda: read_only_notes(app), what="the read-only notice")
        assert len(read_only_notes(app)) == 1
        assert isinstance(app.screen, HomeScreen)
        assert "new_job" not in offered(app) and "reload" in offered(app)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HomeScreen)  # no dialog opened
        app.open_job(job["id"])
        await until(pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.units, what="the Job")
        assert offered(app) & {"start_action", "start_each", "cancel", "add_unit", "rerun"} == set()
        assert {"open_log", "history", "back"} <= offered(app)
        await until(pilot, lambda: "by nightly" in str(app.screen.query_one("#unit-detail").render()), what="by")
        await pilot.press("a")
        await pilot.pause(0.1)
        assert isinstance(app.screen, JobScreen)
        app.action_open_schedules()
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and app.screen.query_one(SchedulesTable))
        assert offered(app) & {"toggle_enabled", "run_now"} == set()
        await pilot.pause(0.2)
        assert len(read_only_notes(app)) == 1  # told once, not again on each screen


async def test_an_operator_runs_but_changes_no_schedule(srv: RunningServer) -> None:
    body = {"name": "console-nightly", "cron": "0 2 * * *", "tag": "n", "units": ["db"], "action": "backup-db.yml"}
    assert srv.post("schedules", body).status == 201
    app = RedRunnerApp(RedRunnerClient(srv.url, OPERATOR))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.role == "operator", what="the role")
        assert "new_job" in offered(app)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and app.screen.query_one(SchedulesTable))
        assert "run_now" in offered(app) and "toggle_enabled" not in offered(app)
        await pilot.press("e")
        await pilot.pause(0.2)
        assert srv.get("schedules/console-nightly").json()["enabled"] is True
