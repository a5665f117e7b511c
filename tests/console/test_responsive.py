"""Keys keep being handled while a 5,000-event output pours into the log pane: every key lands, in
order, while events still arrive, and nothing of the stream is lost. How fast each key is handled is a
timing, which depends on the machine's load: it is printed here, and measured properly in bench/.

The events come over a real WebSocket through the real client (see replay_server for why not
from an ansible run); the log pane, worker and store are the production ones."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from textual.widgets import Input

from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.operation import OperationScreen
from console.widgets.log_view import LogLines
from tests.console.keys import key_latency
from tests.console.replay_server import replay_server
from tests.support.pilot import SIZE, until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def shows(field: Input, text: str) -> bool:
    return field.value == text


async def test_typing_while_5000_events_stream_in() -> None:
    total = 5000
    server = await replay_server(total, rate=2500)  # ~2 s of stream, faster than ansible emits
    port = next(iter(server.sockets)).getsockname()[1]
    app = RedRunnerApp(RedRunnerClient(f"http://127.0.0.1:{port}"))
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_operation(7)
            screen = await until(
                pilot, lambda: isinstance(app.screen, OperationScreen) and app.screen.query("#find") and app.screen
            )
            find = screen.query_one("#find", Input)
            await key_latency(app, "slash", lambda: find.has_focus)
            latencies: list[float] = []
            seen_at_key: list[int] = []
            for key in "item 4999":
                seen_at_key.append(screen.events_seen)
                typed = find.value + key
                latencies.append(await key_latency(app, key, partial(shows, find, typed)))
                await asyncio.sleep(0.01)  # an operator types at most every few tens of ms
            await until(pilot, lambda: screen.connection.phase == "closed", 60, "stream end")
            assert screen.events_seen == total
            assert find.value == "item 4999"
            assert seen_at_key[1] < total, f"keys were not typed while events arrived ({seen_at_key})"
            print(f"\n[measure] slowest key while events streamed in: {max(latencies) * 1000:.0f} ms")

            await pilot.press("enter")
            lines = screen.query_one(LogLines)
            match = await until(pilot, lambda: lines.match_line, 10, "search result")
            assert '"msg": "item 4999"' in lines.store.line(match)
            assert not lines.follow  # showing a match pauses the tail
            assert len(lines.store) == total * 3
    finally:
        server.close()
        await server.wait_closed()
