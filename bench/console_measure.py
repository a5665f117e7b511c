"""The console's own measurements (not a test): `python -m bench.console_measure [rate|cpu]`.

rate: how many events per second the log pane absorbs before it lags. A synthetic Source sends
      event frames as JSON text (parsed like the client does) at a target rate while keys are
      pressed; it lags when the achieved rate falls short or a key takes over 100 ms.
cpu:  the console's CPU while it follows a busy real run (a real server, the console headless in
      its own process, following the Job screen and then the Operation log).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from textual.widgets import Input

from console.app import RedRunnerApp
from console.client import ConnectionState, EndFrame, Frame, OperationFrame, StateCallback, parse_frame
from console.screens.operation import OperationScreen
from tests.console.fixed import OPERATION, FixedSource, fixed_now
from tests.console.keys import key_latency

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "console" / "data"


class RateSource(FixedSource):
    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self.seconds = seconds
        self.sent = 0

    async def follow_operation(self, op_id: int, on_state: StateCallback, after: int = 0) -> AsyncIterator[Frame]:
        on_state(ConnectionState("connected"))
        yield OperationFrame(replace(OPERATION, status="running"))
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < self.seconds:
            due = int(elapsed * self.rate)
            if self.sent >= due:
                await asyncio.sleep(0.001)
                continue
            self.sent += 1
            raw = json.dumps(
                {
                    "type": "event",
                    "operation_id": op_id,
                    "seq": self.sent,
                    "data": {
                        "seq": self.sent,
                        "event": "runner_item_on_ok",
                        "operation_id": op_id,
                        "stdout": f'ok: [localhost] => (item={self.sent}) => {{"msg": "item {self.sent}"}}',
                    },
                }
            )
            yield parse_frame(json.loads(raw))  # parsed as the client parses what it receives
        yield EndFrame(OPERATION)
        on_state(ConnectionState("closed"))


async def measure_rate(rate: int, seconds: float = 3.0) -> dict[str, float]:
    source = RateSource(rate, seconds)
    app = RedRunnerApp(source, now=fixed_now)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_operation(341)
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, OperationScreen)
        await pilot.press("slash")
        find = screen.query_one("#find", Input)
        began = time.monotonic()
        while screen.connection.phase != "closed" and time.monotonic() - began < seconds * 4:
            typed = len(find.value) + 1

            def landed(typed: int = typed) -> bool:
                return len(find.value) == typed

            latencies.append(await key_latency(app, "x", landed))
            await asyncio.sleep(0.05)
        wall = time.monotonic() - began
    latencies.sort()
    return {
        "target": rate,
        "achieved": source.sent / max(wall, seconds),
        "key_p50_ms": 1000 * latencies[len(latencies) // 2],
        "key_max_ms": 1000 * latencies[-1],
        "keys": len(latencies),
        "key_p90_ms": 1000 * latencies[int(len(latencies) * 0.9)],
    }


def rate_report() -> None:
    for rate in (0, 1_000, 2_500, 5_000, 10_000, 20_000, 40_000):
        r = asyncio.run(measure_rate(rate))
        lag = r["achieved"] < 0.95 * rate or r["key_max_ms"] > 100
        print(
            f"target {rate:>6}/s  achieved {r['achieved']:>8.0f}/s  key p50 {r['key_p50_ms']:5.1f} ms"
            f"  p90 {r['key_p90_ms']:5.1f} ms  max {r['key_max_ms']:6.1f} ms"
            f"  ({r['keys']} keys){'  LAGS' if lag else ''}",
            flush=True,
        )


FOLLOWER = r"""
import sys, time
from console.app import RedRunnerApp
from console.client import RedRunnerClient
from console.screens.operation import OperationScreen

url, job_id, op_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
app = RedRunnerApp(RedRunnerClient(url), job_id=job_id)

async def drive(pilot):
    await pilot.pause(2)  # the Job screen, following the run
    app.open_operation(op_id)
    while not (isinstance(app.screen, OperationScreen) and app.screen.connection.phase == "closed"):
        await pilot.pause(0.2)
    print("events", app.screen.events_seen, flush=True)
    app.exit()

app.run(headless=True, size=(120, 40), auto_pilot=drive)
"""


def cpu_report() -> None:
    import psutil

    from tests.support.server import start_server

    with tempfile.TemporaryDirectory() as tmp:
        srv = start_server(Path(tmp), data_dir=DATA)
        try:
            job = srv.post("jobs", {"tag": "busy", "units": ["db", "web"]}).json()
            op = srv.post(
                f"jobs/{job['id']}/units/db", {"action": "chatty-db.yml", "extravars": {"count": 1500}}
            ).json()
            srv.post(f"jobs/{job['id']}/units/web", {"action": "backup-web.yml"})
            began = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-c", FOLLOWER, srv.url, str(job["id"]), str(op["id"])],
                cwd=str(REPO),
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdout=subprocess.PIPE,
                text=True,
            )
            ps = psutil.Process(proc.pid)
            samples: list[float] = []
            rss = 0
            ps.cpu_percent(None)
            while proc.poll() is None:
                time.sleep(0.5)
                try:
                    samples.append(ps.cpu_percent(None))
                    cpu = ps.cpu_times()
                    rss = max(rss, ps.memory_info().rss)
                except psutil.NoSuchProcess:
                    break
            out = proc.communicate()[0]
            wall = time.monotonic() - began
            final = srv.get(f"operations/{op['id']}").json()
            print(out.strip())
            print(
                f"run: {final['event_count']} events in {final.get('duration')}s; console wall {wall:.1f}s, "
                f"CPU {cpu.user + cpu.system:.2f}s = {100 * (cpu.user + cpu.system) / wall:.0f}% of one core "
                f"on average, peak sample {max(samples):.0f}%, peak RSS {rss / 2**20:.0f} MiB"
            )
        finally:
            srv.stop()


if __name__ == "__main__":
    which = sys.argv[1:] or ["rate", "cpu"]
    if "rate" in which:
        rate_report()
    if "cpu" in which:
        cpu_report()
