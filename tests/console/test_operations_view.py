"""#14 part 6 in the console, through Pilot against a real server: a finished log opens at its end,
actions ask first when they touch every Unit or restore, take extravars, and a Unit has a history."""

from __future__ import annotations

from typing import Any

import pytest

from console.screens.dialogs import ActionScreen, ConfirmScreen
from console.screens.history import HistoryScreen
from console.screens.job import JobScreen
from console.screens.operation import OperationScreen
from console.widgets.log_view import LogLines
from console.widgets.units_table import UnitsTable
from tests.console.test_pilot import app_for, make_job, operations, start
from tests.support.inprocess import InProcessServer
from tests.support.pilot import SIZE, until

pytestmark = pytest.mark.anyio


async def job_screen(app: Any, pilot: Any, rows: int) -> JobScreen:
    screen = await until(
        pilot,
        lambda: isinstance(app.screen, JobScreen) and app.screen.query_one(UnitsTable).row_count == rows and app.screen,
    )
    assert isinstance(screen, JobScreen)
    return screen


@pytest.mark.slow
async def test_a_finished_log_opens_at_its_end(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "long", ["db"])
    response = srv.post(f"jobs/{job_id}/units/db", {"action": "chatty-db.yml", "extravars": {"count": 200}})
    op_id = int(response.json()["id"])
    srv.wait_terminal(op_id)
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        app.open_operation(op_id)
        screen = await until(pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen)
        await until(pilot, lambda: screen.connection.phase == "closed", 60, "stream end")
        lines = screen.query_one(LogLines)
        await until(pilot, lambda: lines.max_scroll_y > 0 and lines.scroll_y == lines.max_scroll_y, 10, "at the end")
        assert lines.store.line(len(lines.store) - 1).startswith("localhost") or "PLAY RECAP" in "".join(
            lines.store.line(i) for i in range(len(lines.store) - 4, len(lines.store))
        )


@pytest.mark.slow
async def test_every_unit_action_asks_first_and_takes_extravars(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "each-vars", ["db", "web"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await job_screen(app, pilot, 2)
        await pilot.press("e")
        dialog = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        assert dialog.choices[0][0] == "backup"
        await pilot.press("tab", *'{"dump_seconds": ', "enter")  # not JSON yet: refused in place
        await until(pilot, lambda: "not JSON" in dialog.error_text)
        assert app.screen is dialog and operations(srv, job_id) == []
        await pilot.press(*"0}", "enter")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "every Unit" in confirm.question and "db, web" in confirm.question
        await pilot.press("y")
        ops = await until(pilot, lambda: len(operations(srv, job_id)) == 2 and operations(srv, job_id))
        assert all(op["extravars"] == {"dump_seconds": 0} for op in ops)

        # The dialog remembers the last extravars of this action.
        await pilot.press("e")
        dialog = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        assert dialog.extravars_text == '{"dump_seconds": 0}'
        await pilot.press("escape")


@pytest.mark.slow
async def test_a_restore_names_the_open_job_and_runs_in_a_job_of_its_own(project_server: InProcessServer) -> None:
    srv = project_server
    backup = make_job(srv, "backup", ["db"])
    srv.wait_terminal(start(srv, backup, "db", "backup-db.yml"))
    app = app_for(srv, job_id=backup)
    async with app.run_test(size=SIZE) as pilot:
        await job_screen(app, pilot, 1)
        await pilot.press("a")
        dialog = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        names = [value for value, _ in dialog.choices]
        await pilot.press(*(["down"] * names.index("restore-db.yml")), "enter")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert f"from the backups of Job {backup} (backup), the Job open here" in confirm.question
        await pilot.press("n")
        await job_screen(app, pilot, 1)
        assert srv.get("jobs?tag=restore").json()["items"] == []

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ActionScreen))
        await pilot.press(*(["down"] * names.index("restore-db.yml")), "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        # The restore runs in a new Job tagged restore, which the console opens; the backup Job is untouched.
        screen = await until(
            pilot, lambda: isinstance(app.screen, JobScreen) and app.screen.job_id != backup and app.screen
        )
        restore = srv.get(f"jobs/{screen.job_id}").json()
        assert (restore["tag"], restore["source_job"]) == ("restore", backup)
        assert [op["action"] for op in operations(srv, screen.job_id)] == ["restore-db.yml"]
        assert len(operations(srv, backup)) == 1
        # The stand-in restore fails: its own Job says so, the backup Job stays as its backup left it.
        assert srv.wait_terminal(operations(srv, screen.job_id)[0]["id"])["status"] == "failed"
        assert srv.get(f"jobs/{backup}").json()["status"] == "successful"

        # Rerunning a restore asks first, saying what it overwrites.
        await until(pilot, lambda: screen.job is not None and screen.units["db"].latest_operation.terminal, 30)
        screen._rerun([screen.units["db"].latest_operation])
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert f"Job {restore['id']} is a restore from Job {backup}" in confirm.question
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, JobScreen))
        assert len(operations(srv, screen.job_id)) == 1


@pytest.mark.slow
async def test_a_units_history_newest_first_each_openable(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "history", ["db"])
    first = srv.wait_terminal(start(srv, job_id, "db", "backup-db.yml"))["id"]
    second = srv.wait_terminal(start(srv, job_id, "db", "restore-db.yml"))["id"]
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await job_screen(app, pilot, 1)
        # The task column comes from the stored events, not only from live ones.
        await until(pilot, lambda: str(screen.query_one(UnitsTable).get_cell("db", "task")) != "", 10, "task")
        await pilot.press("h")
        history = await until(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.ids and app.screen)
        assert history.ids == [second, first]
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.op_id == first)


@pytest.mark.slow
async def test_each_is_all_or_nothing_and_r_reruns_failed_units(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "jobactions", ["db", "web"])
    busy = start(srv, job_id, "db", "slow-db.yml")
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await job_screen(app, pilot, 2)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ActionScreen))
        await pilot.press("enter")  # backup, on db and web: db is busy
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: any("nothing started" in n.message for n in app._notifications), what="refusal")
        # One /actions request: web did not start either.
        assert [op["id"] for op in operations(srv, job_id)] == [busy]
        srv.post(f"operations/{busy}/cancel", {})
        srv.wait_terminal(busy)

        await until(pilot, lambda: str(app.screen.query_one(UnitsTable).get_cell("db", "status")) == "canceled", 10)
        await pilot.press("r")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "db" in confirm.question and "web" not in confirm.question
        await pilot.press("y")
        rerun = await until(pilot, lambda: [op for op in operations(srv, job_id) if op["rerun_of"] == busy])
        assert rerun[0]["action"] == "slow-db.yml"
        srv.post(f"operations/{rerun[0]['id']}/cancel", {})


async def test_the_action_dialog_sends_check_mode_and_retries(project_server: InProcessServer) -> None:
    srv = project_server
    job_id = make_job(srv, "dry", ["db"])
    app = app_for(srv, job_id=job_id)
    async with app.run_test(size=SIZE) as pilot:
        await job_screen(app, pilot, 1)
        await pilot.press("a")
        dialog = await until(pilot, lambda: isinstance(app.screen, ActionScreen) and app.screen)
        await pilot.press("tab", "tab", "space", "tab", "ctrl+u", "2", "enter")  # extravars, check, retries
        ops = await until(pilot, lambda: operations(srv, job_id))
        assert dialog.choices[0][0] == ops[0]["action"] == "backup-db.yml"
        assert ops[0]["check"] is True and ops[0]["retries"] == 2


@pytest.mark.slow
async def test_s_saves_the_output_with_its_colours(
    project_server: InProcessServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = project_server
    job_id = make_job(srv, "save", ["db"])
    op_id = start(srv, job_id, "db", "backup-db.yml")
    srv.wait_terminal(op_id)
    monkeypatch.chdir(tmp_path)
    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        app.open_operation(op_id)
        await until(pilot, lambda: isinstance(app.screen, OperationScreen))
        await pilot.press("w")
        saved = tmp_path / f"redrunner-operation-{op_id}.log"
        await until(pilot, saved.exists, 10, "saved file")
        text = saved.read_text()
        assert "\x1b[" in text and "PLAY RECAP" in text  # the console asks for colour
        assert "\x1b[" not in srv.get(f"operations/{op_id}/stdout").body.decode()  # the API's default is plain
