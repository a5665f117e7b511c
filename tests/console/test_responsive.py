"""Keys keep being handled promptly while a 5,000-event output pours into the log pane."""

from __future__ import annotations

import time

import pytest

from console.screens.operation import OperationScreen
from console.widgets.log_view import LogLines
from tests.console.test_pilot import SIZE, app_for, make_job, start, until
from tests.support.server import RunningServer

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_typing_while_5000_events_stream_in(project_server: RunningServer) -> None:
    srv = project_server
    job_id = make_job(srv, "flood", ["db"])
    op_id = start(srv, job_id, "db", "chatty-db.yml")
    # Replaying a finished run's stored events is the fastest the server can send them.
    total = srv.wait_terminal(op_id, timeout=110)["event_count"]
    assert total >= 5000

    app = app_for(srv)
    async with app.run_test(size=SIZE) as pilot:
        app.open_operation(op_id)
        screen = await until(pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen)
        await pilot.press("slash")
        latencies: list[float] = []
        seen_at_key: list[int] = []
        for key in "item 4999":
            began = time.perf_counter()
            await pilot.press(key)
            latencies.append(time.perf_counter() - began)
            seen_at_key.append(screen.events_seen)
        await until(pilot, lambda: screen.connection.phase == "closed", 60, "stream end")
        assert screen.events_seen == total
        find = screen.query_one("#find")
        assert getattr(find, "value", None) == "item 4999"
        assert seen_at_key[0] < total, "the keys were not typed while events were arriving"
        assert max(latencies) < 0.25, f"slowest key took {max(latencies):.3f}s: {latencies}"

        await pilot.press("enter")
        lines = screen.query_one(LogLines)
        match = await until(pilot, lambda: lines.match_line, 10, "search result")
        assert "item 4999" in lines.store.line(match)
        assert not lines.follow  # showing a match pauses the tail
